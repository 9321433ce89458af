"""The provision standards, kept as data.

The default table (``geofacility/data/standards.csv``) is derived from ``standards-reference.md`` §3: one row per
category/subcategory with its service radius, area indicators, minimum size, population served, source and
confirmation status, where it applies (``jurisdiction``: 全国, a province or a city) and, in Chinese, which of its
figures were found in the source (``verification``; docs/standards-sources.md). A planner's file with the same
columns overrides rows with the same (category, subcategory, jurisdiction) — or, without a jurisdiction, every row
of that standard — and adds new ones, so a district's own rules (e.g. Beijing Xicheng's 350 m² community rooms) sit
beside the national ones. A study uses the rows that apply where it lies (:func:`applicable_standards`).

A :class:`Check` is one standard applied to one category in an analysis.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS_ZH",
    "CATEGORY_SHORT_ZH",
    "Check",
    "find_check",
    "chosen_checks",
    "share_text",
    "load_standards",
    "check_from_row",
    "default_check",
    "LEVEL_SCOPE",
    "NATIONAL",
    "jurisdiction_levels",
    "applies_in",
    "applicable_standards",
    "status_zh",
    "status_short_zh",
    "label_zh",
    "citation_zh",
    "where_applies",
    "LEVEL_ZH",
    "SCOPE_ZH",
]

#: The seven categories, in the column order of the Zhangdian ledger (附件3).
CATEGORIES: tuple[str, ...] = (
    "education",
    "health",
    "community_service",
    "elderly_care",
    "commerce",
    "sports",
    "canteen",
)

CATEGORY_LABELS_ZH: dict[str, str] = {
    "education": "社区教育设施",
    "health": "医疗卫生服务设施",
    "community_service": "社区管理服务设施",
    "elderly_care": "社区养老服务设施",
    "commerce": "社区便民商业设施",
    "sports": "社区体育场地",
    "canteen": "社区食堂",
}

#: Short Chinese names, for problem texts, layer names and tooltips.
CATEGORY_SHORT_ZH: dict[str, str] = {
    "education": "教育",
    "health": "医疗卫生",
    "community_service": "社区用房",
    "elderly_care": "养老",
    "commerce": "便民商业",
    "sports": "体育",
    "canteen": "食堂",
}


def share_text(share: float) -> str:
    """0.62 → '62%'; a partial coverage never rounds up to 100% or down to 0%, so the text agrees with the
    status (0.996 is a gap and reads 99%)."""
    if share >= 1:
        return "100%"
    if share <= 0:
        return "0%"
    return f"{min(99, max(1, round(share * 100)))}%"


#: Where facilities are counted for a level. Community-level and 5-minute facilities belong to the
#: community (counted inside its boundary); 10- and 15-minute facilities serve several communities (counted
#: within the service radius of the community); street-level ones are counted per street/town.
LEVEL_SCOPE: dict[str, str] = {
    "block": "community",
    "5min": "community",
    "community": "community",
    "10min": "reach",
    "15min": "reach",
    "street": "town",
}

#: the levels and scopes in Chinese (the 采用标准 sheet)
LEVEL_ZH: dict[str, str] = {"block": "居住街坊", "5min": "五分钟生活圈", "10min": "十分钟生活圈", "15min": "十五分钟生活圈",
                            "community": "社区", "street": "街道"}
SCOPE_ZH: dict[str, str] = {"community": "社区内计", "reach": "服务半径内计", "town": "街道内计"}

REQUIRED_COLUMNS = ("category", "subcategory", "level")
NUMERIC_COLUMNS = (
    "radius_m",
    "per_1000_building_m2",
    "per_100hh_building_m2",
    "min_building_m2",
    "part_min_m2",
    "per_1000_land_m2",
    "min_land_m2",
)


@dataclass(frozen=True)
class Check:
    """One standard applied to one category: a row of the standards table.

    Units: ``radius_m`` is the service radius in metres (None: the standard has none); ``per_1000_building_m2``
    and ``per_100hh_building_m2`` are floor area in m² per 1,000 residents and per 100 households;
    ``min_building_m2`` and ``part_min_m2`` are floor areas in m²; ``serves_population`` is residents.
    """

    category: str
    subcategory: str
    name_zh: str
    level: str
    scope: str
    radius_m: float | None
    per_1000_building_m2: float | None
    per_100hh_building_m2: float | None
    min_building_m2: float | None
    serves_population: float | None
    source: str
    status: str
    note: str
    is_default: bool = False
    #: where the standard applies: 全国 (national), a province (山东省) or a city (北京市, 哈尔滨市); "" for a
    #: planner's own row without one (applies to every study, as the most local rule)
    jurisdiction: str = "全国"
    #: what of the row was checked against its source, in Chinese (built-in rows; see docs/standards-sources.md)
    verification: str = ""
    #: when rooms may be combined to reach ``min_building_m2``: the least one room must have (e.g. Beijing's
    #: 350 m² of community rooms, of which the one-stop station ≥ 50 m² in one room)
    part_min_m2: float | None = None

    @property
    def label(self) -> str:
        radius = f"r={self.radius_m:g} m" if self.radius_m else "no radius"
        return f"{self.name_zh} {self.subcategory} {radius} ({self.source}; {self.status})"

    @property
    def has_area_rule(self) -> bool:
        return bool(self.per_1000_building_m2 or self.per_100hh_building_m2 or self.min_building_m2)

    def required_count(self, population):
        """max(1, ⌈population / upper bound of the population served⌉), 1 when the standard names none, 0 where
        nobody lives. Works on numbers and numpy arrays."""
        population = np.asarray(population, dtype="float64")
        per = np.maximum(1.0, np.ceil(population / self.serves_population)) if self.serves_population else 1.0
        return np.where(population > 0, per, 0.0)

    def required_area(self, population, households):
        """The larger of the per-1000-people figure, the per-100-households figure and the minimum size × count
        (standards-reference.md §4.2); NaN when the standard sets no floor area, or when it needs households
        that are unknown. Works on numbers and numpy arrays."""
        population = np.asarray(population, dtype="float64")
        households = np.asarray(households, dtype="float64")
        if not self.has_area_rule:
            return np.full(population.shape, np.nan)
        area = np.zeros(population.shape)
        if self.per_1000_building_m2:
            area = np.maximum(area, population / 1000.0 * self.per_1000_building_m2)
        if self.per_100hh_building_m2:
            area = np.maximum(area, households / 100.0 * self.per_100hh_building_m2)  # NaN stays NaN
        if self.min_building_m2:
            area = np.maximum(area, self.min_building_m2 * self.required_count(population))
        return np.where(population > 0, area, 0.0)


def _upper_bound(value) -> float | None:
    """'5000-12000' → 12000.0; '' → None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return float(text.replace("–", "-").split("-")[-1])


def _num(value) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None  # 'inf' or 'nan' typed in a cell: not a number


def _read_table(path: Path | str, *, label: str) -> pd.DataFrame:
    table = None
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in Chinese saves CSV as GBK unless told "CSV UTF-8"
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
            break
        except FileNotFoundError:
            raise InputError(f"{label}: file not found; give the path of a standards CSV") from None
        except pd.errors.EmptyDataError:
            raise InputError(f"{label}: the file is empty; start from `geofacility standards --csv`") from None
        except pd.errors.ParserError as exc:
            raise InputError(f"{label}: not a readable CSV ({str(exc).splitlines()[0]}); check the delimiter and "
                             "quoting") from None
        except UnicodeDecodeError as exc:
            last = exc
    if table is None:
        raise InputError(f"{label}: text is neither UTF-8 nor GBK ({last}); save it as CSV UTF-8") from None
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            f"{label}: missing column(s) {', '.join(missing)}; a standards file needs at least "
            f"{', '.join(REQUIRED_COLUMNS)} (see geofacility/data/standards.csv for all columns)"
        )
    for i, row in table.iterrows():
        where = f"{label}, row {i + 2}"
        if row["category"] not in CATEGORIES:
            raise InputError(
                f"{where}: unknown category {row['category']!r}; use one of {', '.join(CATEGORIES)}"
            )
        level = row["level"]
        scope = row.get("scope", "") or LEVEL_SCOPE.get(level)
        if scope not in ("community", "reach", "town"):
            raise InputError(
                f"{where}: unknown level {level!r}; use one of {', '.join(LEVEL_SCOPE)} "
                "(or give a scope column: community, reach or town)"
            )
        for col in NUMERIC_COLUMNS:
            if col in table.columns and row[col].strip():
                value = _num(row[col])
                if value is None or value < 0:
                    raise InputError(f"{where}: {col} = {row[col]!r} is not a number ≥ 0; fix or empty the cell")
        if "radius_m" in table.columns and row["radius_m"].strip() and _num(row["radius_m"]) == 0:
            raise InputError(f"{where}: radius_m must be > 0 (leave it empty when the standard has no radius)")
    return table


def load_standards(path: str | Path | None = None) -> pd.DataFrame:
    """The default standards table, with ``path``'s rows overriding or extending it."""
    with resources.as_file(resources.files("geofacility") / "data" / "standards.csv") as default_path:
        table = _read_table(default_path, label="built-in standards.csv")
    if path is not None:
        user = _read_table(path, label=str(path))
        for col in table.columns:
            if col not in user.columns:
                user[col] = ""
        for col in user.columns:
            if col not in table.columns:
                table[col] = ""
        user["jurisdiction"] = user["jurisdiction"].str.strip()
        # a user default replaces the built-in default of its category
        user_default_cats = set(user.loc[user["default"].str.strip() != "", "category"])
        table.loc[table["category"].isin(user_default_cats), "default"] = ""
        # a planner's row without a jurisdiction is their own rule: it replaces the built-in rows of that standard
        # wherever they apply; a row with one replaces the built-in row of the same jurisdiction only
        own = user.loc[user["jurisdiction"] == "", ["category", "subcategory"]].apply(tuple, axis=1)
        replaced = table[["category", "subcategory"]].apply(tuple, axis=1).isin(set(own))
        merged = pd.concat([table.loc[~replaced], user], ignore_index=True)
        table = merged.drop_duplicates(subset=["category", "subcategory", "jurisdiction"],
                                       keep="last").reset_index(drop=True)
    return table


#: where a standard applies to every study
NATIONAL = "全国"
_ADMIN_UNIT = re.compile(r".+?(?:特别行政区|自治区|自治州|自治县|自治旗|省|市|地区|盟|区|县|旗)")


def jurisdiction_levels(text: str | None) -> tuple[str, ...]:
    """The administrative units a study's jurisdiction names, largest first: '山东省淄博市张店区' → ('山东省',
    '淄博市', '张店区'); '北京市' → ('北京市',); '全国', '' or None → () (national standards only). Units may also
    be separated by '/', '、', spaces or commas. Refuses text that is not a Chinese administrative name."""
    if text is None or not str(text).strip() or str(text).strip() == NATIONAL:
        return ()
    levels: list[str] = []
    for part in re.split(r"[/、,，\s]+", str(text).strip()):
        if not part:
            continue
        found = _ADMIN_UNIT.findall(part)
        if "".join(found) != part:
            raise InputError(
                f"--jurisdiction {text!r}: write the place where the study lies as Chinese administrative names "
                "ending in 省/自治区/市/区/县, largest first, e.g. 北京市, 山东省淄博市, 黑龙江省哈尔滨市 (a "
                "province's rows apply only when the province is named); 全国 for national standards only")
        levels.extend(found)
    return tuple(levels)


def _rank(row_jurisdiction: str, levels: tuple[str, ...]) -> int | None:
    """How local a row is for a study in ``levels``: 0 national, 1… the depth of the unit, len+1 a planner's own
    row without a jurisdiction; None when it does not apply there."""
    j = (row_jurisdiction or "").strip()
    if j == NATIONAL:
        return 0
    if j == "":
        return len(levels) + 1
    return levels.index(j) + 1 if j in levels else None


def applies_in(check_or_jurisdiction, jurisdiction: str | None) -> bool:
    """Whether a standard (a :class:`Check` or its jurisdiction text) applies in the study's ``jurisdiction``."""
    j = getattr(check_or_jurisdiction, "jurisdiction", check_or_jurisdiction)
    return _rank(j, jurisdiction_levels(jurisdiction)) is not None


def applicable_standards(table: pd.DataFrame, jurisdiction: str | None) -> pd.DataFrame:
    """The rows of ``table`` that apply in ``jurisdiction``, one per (category, subcategory): national rows always,
    a province's or a city's only where the study lies in it (see :func:`jurisdiction_levels`); where several
    apply, the most local one wins (a city's over its province's over the national one). ``None``: no
    jurisdiction chosen (the Python API's default): every row applies, the most local one of each standard
    winning."""
    if "jurisdiction" not in table.columns:
        return table
    jur = table["jurisdiction"].fillna("").astype(str).str.strip()
    if jurisdiction is None:
        rank = np.where(jur == NATIONAL, 0, 1)
    else:
        levels = jurisdiction_levels(jurisdiction)
        rank = np.array([-1 if (r := _rank(j, levels)) is None else r for j in jur])
    keep = table.assign(_rank=rank, _order=np.arange(len(table))).loc[rank >= 0]
    keep = keep.sort_values(["_rank", "_order"], ascending=[False, True], kind="stable")
    keep = keep.drop_duplicates(subset=["category", "subcategory"], keep="first").sort_values("_order")
    return keep.drop(columns=["_rank", "_order"]).reset_index(drop=True)


def where_applies(table: pd.DataFrame, category: str, subcategory: str) -> list[str]:
    """The jurisdictions of the rows of a standard (to say why it does not apply to a study)."""
    rows = table[(table["category"] == category) & (table["subcategory"] == subcategory)]
    return [] if "jurisdiction" not in rows.columns else [j or "自定" for j in rows["jurisdiction"]]


def status_zh(check: Check) -> str:
    """What of the standard was checked against its source, in Chinese: 已核实（来源：…）, 部分核实：…, or
    未核实：未找到原文 (a planner's own row says so from its ``status``)."""
    if check.verification:
        return check.verification
    status = (check.status or "").strip().lower()
    source = (check.source or "").strip()
    if status.startswith("confirmed"):
        return f"已核实（来源：{source}）" if source else "已核实"
    if status == "mixed":
        return f"部分核实（来源：{source}），其余指标未找到原文" if source else "部分核实，其余指标未找到原文"
    return "未核实：未找到原文"


def status_short_zh(check: Check) -> str:
    """The standard's status in a few Chinese words, for legends, captions and the terminal: 已核实 (with
    （1993年版） or （地方标准） for ``confirmed(1993 ed.)`` / ``confirmed(local)``), 部分核实 (``mixed``) or 未核实
    (anything else, a planner's own row without a status too)."""
    status = (check.status or "").strip().lower()
    if status.startswith("confirmed"):
        if "1993" in status:
            return "已核实（1993年版）"
        if "local" in status:
            return "已核实（地方标准）"
        return "已核实"
    return "部分核实" if status == "mixed" else "未核实"


def label_zh(check: Check, *, key: bool = False) -> str:
    """:attr:`Check.label` as a planner reads it, in Chinese: ``小学 服务半径 500 m（《…》GB 50180-93…；已核实（1993年版））``
    — the name, the radius (or 无服务半径), the source and the Chinese status (:func:`status_short_zh`). With
    ``key`` (the bilingual map legend, the terminal) the standard's key follows the name as its translation:
    ``小学 primary_school r=500 m（…）``. ``Check.label`` keeps the English status for the machine tables (明细,
    ledger.csv, selection.json)."""
    if key:
        head = f"{check.name_zh} {check.subcategory} " + (f"r={check.radius_m:g} m" if check.radius_m else "无服务半径")
    else:
        head = f"{check.name_zh} " + (f"服务半径 {check.radius_m:g} m" if check.radius_m else "无服务半径")
    source = (check.source or "").strip()
    return f"{head}（{source + '；' if source else ''}{status_short_zh(check)}）"


def citation_zh(check: Check) -> str:
    """The standard as a planning condition cites it, in Chinese: its source, where it applies, and a warning when
    a figure was not found in the source."""
    where = f"{check.jurisdiction}标准" if check.jurisdiction else "自定标准"
    text = f"{check.source or '自定标准'}（{where}）"
    status = (check.status or "").strip().lower()
    if not status.startswith("confirmed"):
        text += "（部分指标未找到原文核实，请核对）" if status == "mixed" else "（指标未找到原文核实，请核对）"
    return text


def check_from_row(row: pd.Series) -> Check:
    """The :class:`Check` of one row of the standards table (radii in metres, floor areas in m²)."""
    scope = (row.get("scope") or "").strip() or LEVEL_SCOPE[row["level"]]
    return Check(
        category=row["category"],
        subcategory=row["subcategory"],
        name_zh=row.get("name_zh") or row["subcategory"],
        level=row["level"],
        scope=scope,
        radius_m=_num(row.get("radius_m")),
        per_1000_building_m2=_num(row.get("per_1000_building_m2")),
        per_100hh_building_m2=_num(row.get("per_100hh_building_m2")),
        min_building_m2=_num(row.get("min_building_m2")),
        serves_population=_upper_bound(row.get("serves_population")),
        source=row.get("source", ""),
        status=row.get("status", ""),
        note=row.get("note", ""),
        is_default=bool(str(row.get("default", "")).strip()),
        part_min_m2=_num(row.get("part_min_m2")),
        jurisdiction=str(row.get("jurisdiction", NATIONAL) or "").strip(),
        verification=str(row.get("verification", "") or "").strip(),
    )


def find_check(table: pd.DataFrame, category: str, subcategory: str) -> Check | None:
    """The standard for ``category``/``subcategory`` in ``table`` (the most local row where several apply), or
    None when the table has none."""
    rows = table[(table["category"] == category) & (table["subcategory"] == subcategory)]
    if len(rows) > 1:  # a table not narrowed to a jurisdiction: the most local row, as applicable_standards(None)
        rows = applicable_standards(rows, None)
    return None if rows.empty else check_from_row(rows.iloc[0])


def chosen_checks(table: pd.DataFrame, category: str, subcategories: list[str]) -> list[Check]:
    """The standards a planner chose for a category (``--standard CATEGORY=SUBCATEGORY``), in their order."""
    checks = []
    for sub in subcategories:
        check = find_check(table, category, sub)
        if check is None:
            known = ", ".join(table.loc[table["category"] == category, "subcategory"])
            raise InputError(f"--standard {category}={sub}: no such standard; use one of {known}")
        checks.append(check)
    return checks


def default_check(table: pd.DataFrame, category: str) -> Check:
    """The standard applied to ``category`` when the planner chose none: the row marked ``default`` (else the
    category's first), the most local where several apply. Raises InputError when the table has no row for it."""
    rows = table[(table["category"] == category) & (table["default"].str.strip() != "")]
    if rows.empty:
        rows = table[table["category"] == category]
    if rows.empty:
        raise InputError(f"standards: no standard for category {category!r}; add a row for it to --standards")
    first = rows[(rows["subcategory"] == rows["subcategory"].iloc[0])]
    return check_from_row(applicable_standards(first, None).iloc[0] if len(first) > 1 else rows.iloc[0])
