"""Figures, stage outputs: the Chinese font of the printed figures and the text it can draw.

Holds the CJK font installed with geofacility (Noto Sans CJK SC from the PyPI package ``mpl-font``) and its
registration with matplotlib's font manager at run time (:func:`cjk_font`), the fallback search among installed
fonts (:data:`CJK_FONT_FAMILIES`, checked glyph by glyph), and :class:`_Text`: the fonts of one figure and its
labels, bilingual (``教育 education``) with a CJK font, English only without. To test the figures without a CJK
font, patch ``geofacility.figures.fonts.cjk_font`` (``_Text`` reads it here).
"""
from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import pandas as pd
from matplotlib import font_manager
from matplotlib.font_manager import FontProperties

#: CJK-capable families tried first, in order (Simplified Chinese faces before the others)
CJK_FONT_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "Source Han Sans",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "SimHei",
    "Heiti SC", "STHeiti", "Sarasa Gothic SC", "Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Serif CJK SC",
    "Source Han Serif SC", "SimSun", "AR PL UMing CN", "AR PL UKai CN", "Droid Sans Fallback",
)
_CJK_NAME_HINTS = ("CJK", "Han Sans", "Han Serif", "WenQuanYi", "YaHei", "PingFang", "Hei", "Song", "Kai", "Ming",
                   "Fang", "Gothic", "Mincho", "Sarasa", "Fallback")
#: characters a font must have to be used for the Chinese labels
_CJK_PROBE = "北京市西城区街道社区教育养老医疗卫生体育食堂未覆盖人口达标缺口调查服务半径图例比例尺单位米人（）、："
_LATIN_FAMILY = "DejaVu Sans"  # ships with matplotlib


# ---------------------------------------------------------------------------------------------- fonts


def _font_file(family: str):
    """The font file matplotlib uses for ``family`` (None when it has no such font)."""
    try:
        return font_manager.fontManager.findfont(FontProperties(family=family), fallback_to_default=False,
                                                 rebuild_if_missing=False)
    except (ValueError, RuntimeError):
        return None


@functools.lru_cache(maxsize=None)
def _charmap(family: str) -> frozenset[int]:
    path = _font_file(family)
    if path is None:
        return frozenset()
    try:
        return frozenset(font_manager.get_font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


#: the Chinese font that comes with geofacility's install: Noto Sans CJK SC (SIL Open Font License 1.1), Regular and
#: Bold, as the PyPI package ``mpl-font`` ships them (57 MB; mplfonts, 85 MB, also bundles the proprietary SimHei;
#: notojp-matplotlib, 14 MB, draws Japanese glyph forms: 户, 说, 骨, 直 look wrong in a Chinese plan)
PACKAGED_CJK_FAMILY = "Noto Sans CJK SC"
_PACKAGED_FONT_PACKAGE = "mpl_font"
_PACKAGED_FONT_FILES = ("fonts/noto/NotoSansCJKsc-Regular.otf", "fonts/noto/NotoSansCJKsc-Bold.otf")


def packaged_cjk_fonts() -> list[Path]:
    """The font files of :data:`PACKAGED_CJK_FAMILY` installed with geofacility (found without importing the
    package, whose import would change matplotlib's global rcParams); empty when they are missing."""
    import importlib.util

    spec = importlib.util.find_spec(_PACKAGED_FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return [root / name for name in _PACKAGED_FONT_FILES if (root / name).is_file()]


def _register_packaged_fonts() -> bool:
    """Add the packaged font files to matplotlib's font manager, ahead of any system font of the same family name,
    so figures look the same (and are byte-identical) on every machine, whatever fonts it has or had cached."""
    files = packaged_cjk_fonts()
    if not files:
        return False
    manager = font_manager.fontManager
    known = {entry.fname for entry in manager.ttflist}
    for path in files:
        if str(path) not in known:
            manager.addfont(str(path))
    ours = [entry for entry in manager.ttflist if entry.fname in {str(p) for p in files}]
    manager.ttflist[:] = ours + [entry for entry in manager.ttflist if entry not in ours]
    getattr(manager._findfont_cached, "cache_clear", lambda: None)()  # earlier lookups must not stick
    return any(entry.name == PACKAGED_CJK_FAMILY for entry in ours)


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of the font used for Chinese text: the packaged :data:`PACKAGED_CJK_FAMILY`, registered
    with matplotlib's font manager on first use; if that package is missing, an installed font with the characters
    the figures use (:data:`CJK_FONT_FAMILIES` first, then any family whose name suggests CJK); None when there is
    none (the figures are then English only)."""
    if _register_packaged_fonts():
        getattr(_charmap, "cache_clear", lambda: None)()
        charmap = _charmap(PACKAGED_CJK_FAMILY)
        if charmap and all(ord(ch) in charmap for ch in _CJK_PROBE):
            return PACKAGED_CJK_FAMILY
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    preferred = [name for name in CJK_FONT_FAMILIES if name in names]
    others = sorted(name for name in names - set(CJK_FONT_FAMILIES)
                    if any(hint in name for hint in _CJK_NAME_HINTS) and "Mono" not in name)
    for name in preferred + others:
        charmap = _charmap(name)
        if charmap and all(ord(ch) in charmap for ch in _CJK_PROBE):
            return name
    return None


class _Text:
    """The fonts of one figure, and its text: bilingual with a CJK font, English only without."""

    def __init__(self):
        self.cjk_family = cjk_font()
        self.cjk = self.cjk_family is not None
        self.families = [self.cjk_family, _LATIN_FAMILY] if self.cjk else [_LATIN_FAMILY]
        glyphs = set(_charmap(_LATIN_FAMILY))
        if self.cjk:
            glyphs |= _charmap(self.cjk_family)
        self.glyphs = frozenset(glyphs)

    def font(self, size: float, weight: str = "normal") -> FontProperties:
        return FontProperties(family=self.families, size=size, weight=weight)

    def bi(self, zh: str, en: str) -> str:
        """``zh en`` with a CJK font, ``en`` without."""
        return f"{zh} {en}".strip() if self.cjk else en

    def data(self, value) -> str:
        """Text from the input data, without the characters the fonts lack (all Chinese without a CJK font)."""
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return ""
        text = "".join(ch for ch in str(value) if ord(ch) in self.glyphs or ch in "\n ")
        text = re.sub(r"\s+", " ", text).strip()
        return text if any(ch.isalnum() for ch in text) else ""
