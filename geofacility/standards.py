"""The provision standards, kept as data.

The default table (``geofacility/data/standards.csv``) is derived from ``standards-reference.md`` §3: one row per
category/subcategory with its service radius, area indicators, minimum size, population served, source and
confirmation status. A planner's file with the same columns overrides rows with the same
(category, subcategory) and adds new ones, so a district's own rules (e.g. Beijing Xicheng's 350 m² community
rooms) sit beside the national ones.

A :class:`Check` is one standard applied to one category in an analysis.
"""
from __future__ import annotations

import math
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
    """One standard applied to one category."""

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
        key = ["category", "subcategory"]
        # a user default replaces the built-in default of its category
        user_default_cats = set(user.loc[user["default"].str.strip() != "", "category"])
        table.loc[table["category"].isin(user_default_cats), "default"] = ""
        merged = pd.concat([table, user], ignore_index=True)
        table = merged.drop_duplicates(subset=key, keep="last").reset_index(drop=True)
    return table


def check_from_row(row: pd.Series) -> Check:
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
    )


def find_check(table: pd.DataFrame, category: str, subcategory: str) -> Check | None:
    rows = table[(table["category"] == category) & (table["subcategory"] == subcategory)]
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
    rows = table[(table["category"] == category) & (table["default"].str.strip() != "")]
    if rows.empty:
        rows = table[table["category"] == category]
    if rows.empty:
        raise InputError(f"standards: no standard for category {category!r}; add a row for it to --standards")
    return check_from_row(rows.iloc[0])
