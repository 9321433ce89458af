"""Figures, stage outputs: writing the figures of an analysis to PNG and PDF (:func:`write_figures`).

Holds the files: ``{category}_map`` per surveyed category and ``town_uncovered``, written atomically
(:mod:`geofacility.atomic`) with the date-free metadata of :data:`~geofacility.figures.FORMATS`, so the same
analysis gives byte-identical files.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..atomic import atomic_path
from .category_map import category_figure
from .style import FORMATS, _check_category, _surveyed
from .towns import town_bar_figure

# ---------------------------------------------------------------------------------------------- writing


def _save(fig: Figure, stem: Path, formats, dpi: float, title: str) -> dict[str, Path]:
    written = {}
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        metadata = dict(FORMATS[fmt])
        if fmt == "pdf":
            metadata["Title"] = title
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
        written[path.name] = path
    return written


def _title_of(fig: Figure) -> str:
    return next((text.get_text() for text in fig.texts if text.get_gid() == "title"), "")


def write_figures(analysis, out_dir, *, category: str | None = None, formats=("png", "pdf"), dpi: float = 200,
                  sites=None) -> dict[str, Path]:
    """Write ``{category}_map.{png,pdf}`` for ``category`` (every surveyed category when None) and
    ``town_uncovered.{png,pdf}`` into ``out_dir``, atomically and deterministically (no dates or software stamp:
    the same analysis gives byte-identical files). ``sites``: ``(study, selection)`` added to the map of its
    category. Returns the paths by file name."""
    formats = (formats,) if isinstance(formats, str) else tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"figure formats {', '.join(unknown) or '(none)'}: use {', '.join(FORMATS)}")
    out = Path(out_dir)
    if category is not None:
        _check_category(analysis, category)
    categories = [category] if category is not None else _surveyed(analysis)
    written: dict[str, Path] = {}
    for c in categories:
        mine = sites if sites is not None and sites[0].check.category == c else None
        fig = category_figure(analysis, c, sites=mine)
        written.update(_save(fig, out / f"{c}_map", formats, dpi, _title_of(fig)))
    fig = town_bar_figure(analysis)
    written.update(_save(fig, out / "town_uncovered", formats, dpi, _title_of(fig)))
    return written
