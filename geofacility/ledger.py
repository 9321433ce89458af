"""The ledger (台账): ``ledger.csv``, the Attachment-3 workbook ``ledger.xlsx`` and ``coverage.gpkg``.

:func:`write_ledger` writes all three from an :class:`~geofacility.pipeline.Analysis`. The three files are written
to temporary names first and renamed only when all three are complete, so an interrupted run leaves the previous
ledger (or nothing) behind, never a half-written file or a mixed set.

``ledger.xlsx`` follows the layout of 张店区既有社区配套设施整治工作台账 (张政办字〔2020〕13号 附件3):

* row 1: title and the standards / distance / coverage-target note (no run date, so reruns compare cleanly);
* rows 2–3: 序号, 镇办, 社区, 户数\\人口, per category (标准, 现状), 存在问题, 整治方案 (牵头单位, 责任单位, 完成时限),
  备注 — 整治方案 and 备注 are left empty for the planner;
* one row per community from row 4, sorted by town, then community_id;
* sheets 警告 warnings, 采用标准 standards (which standard every number came from) and 明细 data (``ledger.csv``).

Written into a folder with an earlier ``ledger.xlsx``, the planner's entries in it (整治方案, 备注, added columns)
are carried over by community id (:func:`read_planner_entries`); those of communities no longer present go to the
已移除 removed sheet, and the earlier workbook is kept as ``ledger.previous.xlsx``.

Text that comes from input files (names, ids, messages, standards) goes through :func:`safe_cell_text`, so a
community called ``=HYPERLINK(...)`` is shown, never evaluated, in Excel — in the workbook and in ``ledger.csv``
(which is UTF-8 with BOM precisely so that Excel opens it). :func:`read_ledger_csv` undoes that escaping.
"""
from __future__ import annotations

import contextlib
import math
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from .atomic import atomic_path
from .errors import WARNING_COLUMNS, InputError, message_zh
from .per_standard import decode, entry_row
from .standards import CATEGORIES, CATEGORY_LABELS_ZH, CATEGORY_SHORT_ZH, LEVEL_ZH, SCOPE_ZH, Check, share_text, \
    status_zh

__all__ = [
    "BASE_COLUMNS",
    "CATEGORY_FIELDS",
    "ledger_columns",
    "ledger_table",
    "safe_cell_text",
    "unescape_cell_text",
    "households_population_text",
    "standard_text",
    "current_text",
    "problem_text",
    "write_ledger",
    "read_ledger_csv",
]

#: The columns every community has (docs/data-model.md), in ledger order, without ``geometry``.
BASE_COLUMNS: tuple[str, ...] = (
    "community_id",
    "community",
    "town",
    "population",
    "households",
    "approximate",
    "distance_method",
    "n_categories_short",
)

#: The per-category columns, ``<category>_<field>``, in ledger order.
CATEGORY_FIELDS: tuple[str, ...] = (
    "status",
    "standard",
    "radius_m",
    "covered_share",
    "covered_population",
    "uncovered_population",
    "required_count",
    "current_count",
    "count_gap",
    "required_m2",
    "current_m2",
    "gap_m2",
    "served_population",
    "over_capacity_population",
    "out_of_reach_population",
    "problem",
    "below_minimum",
    "problem_stage",
    "not_in_use",
    "by_standard",
)

#: Short Chinese names used in the 存在问题 column (``教育：覆盖率 62%，缺 1 处``); the same ones coverage uses.

#: fields added after the first ledgers were filed (0.1: the capacity split; then the facilities below the
#: minimum, the problem stage and the facilities not in use, geofacility.stages; then each standard's figures,
#: geofacility.per_standard); older ledgers read with them empty
_ADDED_FIELDS = ("served_population", "over_capacity_population", "out_of_reach_population", "below_minimum",
                 "problem_stage", "not_in_use", "by_standard")
_TEXT_FIELDS = ("status", "standard", "below_minimum", "problem", "problem_stage", "not_in_use", "by_standard")
_SHARE_FIELDS = ("covered_share",)
_SHARE_DECIMALS = 4
_OTHER_DECIMALS = 1  # m², metres
_PEOPLE_DECIMALS = 0  # people and households are written whole (4709, not 4709.0)

LEDGER_CSV = "ledger.csv"
LEDGER_XLSX = "ledger.xlsx"
COVERAGE_GPKG = "coverage.gpkg"

# Excel evaluates a cell typed as text that starts with one of these; ' is escaped too so the escape is reversible.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
_ILLEGAL_XML = str.maketrans({c: None for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]})

_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}

_DISTANCE_ZH = {"euclidean": "直线", "network": "步行网络", "walk": "步行网络", "walking": "步行网络"}

_STATUS_FILL = {
    "gap": PatternFill("solid", fgColor="FFC7CE"),
    "ok": PatternFill("solid", fgColor="C6EFCE"),
    "not_surveyed": PatternFill("solid", fgColor="D9D9D9"),
}


# --------------------------------------------------------------------------------------------- columns and table


def ledger_columns() -> list[str]:
    """The ``communities`` columns without ``geometry``, in ledger order (docs/data-model.md)."""
    return [*BASE_COLUMNS, *(f"{c}_{f}" for c in CATEGORIES for f in CATEGORY_FIELDS)]


_TEXT_COLUMNS: tuple[str, ...] = (
    "community_id",
    "community",
    "town",
    "distance_method",
    *(f"{c}_{f}" for c in CATEGORIES for f in _TEXT_FIELDS),
)
_SHARE_COLUMNS = frozenset(f"{c}_{f}" for c in CATEGORIES for f in _SHARE_FIELDS)
#: people (demand spread over polygons gives fractions: rounded to whole people) and households
_PEOPLE_COLUMNS = frozenset(["population", "households", *(f"{c}_{f}" for c in CATEGORIES for f in CATEGORY_FIELDS
                                                             if f.endswith("_population"))])
#: facility counts are whole numbers (nullable: empty where not surveyed)
_COUNT_COLUMNS = frozenset(f"{c}_{f}" for c in CATEGORIES for f in ("required_count", "current_count", "count_gap"))
_FLOAT_COLUMNS: tuple[str, ...] = tuple(
    col for col in ledger_columns()
    if col not in {*_TEXT_COLUMNS, *_COUNT_COLUMNS, "approximate", "n_categories_short"}
)


def _decimals(col: str) -> int:
    if col in _PEOPLE_COLUMNS:
        return _PEOPLE_DECIMALS
    return _SHARE_DECIMALS if col in _SHARE_COLUMNS else _OTHER_DECIMALS


def _with_stages(communities: pd.DataFrame) -> pd.DataFrame:
    """A communities table made without :func:`geofacility.stages.classify` (by hand, or by an older version)
    gets its problem stages from its own figures (no facility known to be planned, building or not handed over)."""
    stage_cols = [f"{c}_problem_stage" for c in CATEGORIES]
    if all(col in communities.columns for col in stage_cols):
        return communities
    from .stages import _stages

    added = {}
    for category in CATEGORIES:
        if f"{category}_problem_stage" not in communities.columns:
            added[f"{category}_problem_stage"] = _stages(communities, category, None)
        if f"{category}_not_in_use" not in communities.columns:
            added[f"{category}_not_in_use"] = ""
    return communities.assign(**added)


def _sorted_communities(communities: pd.DataFrame) -> pd.DataFrame:
    lacking = [f"{c}_{f}" for c in CATEGORIES for f in ("below_minimum", "by_standard")
               if f"{c}_{f}" not in communities.columns]
    if lacking:  # a table made before these columns existed: no facility named below the minimum, no split
        communities = communities.assign(**{col: "" for col in lacking})
    communities = _with_stages(communities)
    missing = [col for col in ledger_columns() if col not in communities.columns]
    if missing:
        raise ValueError(f"communities lacks ledger column(s) {', '.join(missing)} (see docs/data-model.md)")
    return communities.sort_values(["town", "community_id"], kind="stable", na_position="last").reset_index(drop=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The ledger columns with their dtypes; floats rounded (shares 4 decimals, the rest 1) and −0.0 made 0.0."""
    columns = {}
    for col in ledger_columns():
        raw = frame[col]
        if col in _TEXT_COLUMNS:
            values = pd.Series(raw.to_numpy(dtype=object))
            columns[col] = values.where(values.notna(), "").astype(str)
        elif col == "approximate":
            values = pd.Series(raw.to_numpy(dtype=object))
            columns[col] = values.where(values.notna(), False).astype(bool)
        elif col == "n_categories_short":
            columns[col] = pd.Series(raw.to_numpy(dtype="int64"))
        else:
            # numbers stay numbers: no round trip through Python objects (a third of a small ledger's time)
            numbers = raw.to_numpy(dtype="float64", na_value=np.nan) if pd.api.types.is_numeric_dtype(raw) else \
                pd.to_numeric(pd.Series(raw.to_numpy(dtype=object)), errors="raise").to_numpy(dtype="float64")
            if col in _COUNT_COLUMNS:
                columns[col] = pd.array(np.round(numbers), dtype="Int64")
            else:
                columns[col] = pd.Series(np.round(numbers, _decimals(col)) + 0.0)
    # people are written whole: the parts are derived from the rounded whole, so that the identities of
    # docs/data-model.md (covered + not covered = population, served + over capacity = covered) hold in the files
    # exactly, not to within a person
    population = columns["population"].to_numpy(dtype="float64")
    for category in CATEGORIES:
        get = lambda field: columns[f"{category}_{field}"].to_numpy(dtype="float64")  # noqa: E731
        covered, served = get("covered_population"), get("served_population")
        for field, value in (("uncovered_population", population - covered),
                             ("out_of_reach_population", population - covered),
                             ("over_capacity_population", covered - served)):
            old = get(field)
            columns[f"{category}_{field}"] = pd.Series(np.where(np.isnan(old) | np.isnan(value), old, value) + 0.0)
    return pd.DataFrame(columns)


def ledger_table(communities: pd.DataFrame) -> pd.DataFrame:
    """The ledger as a plain DataFrame: the ledger columns, sorted by town then community_id, typed and rounded.

    This is exactly what ``ledger.csv`` holds and what :func:`read_ledger_csv` returns.
    """
    return _typed(_sorted_communities(communities))


# --------------------------------------------------------------------------------------------- cell texts


def safe_cell_text(value) -> str:
    """Text safe for a spreadsheet cell: never evaluated as a formula, no characters XML forbids.

    ``None``/NaN → ``""``. Text starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'`` so Excel
    and LibreOffice show it instead of running it; text starting with ``'`` gets one more, so
    :func:`unescape_cell_text` can always undo the escape. Control characters other than tab/LF/CR are dropped.
    """
    if _isnan(value):
        return ""
    text = str(value).translate(_ILLEGAL_XML)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def unescape_cell_text(text: str) -> str:
    """Undo :func:`safe_cell_text`'s leading ``'`` (control characters it dropped stay dropped)."""
    if text.startswith("'") and text[1:].startswith(_FORMULA_STARTS):
        return text[1:]
    return text


def _isnan(value) -> bool:
    """None, NaN, NA or NaT (any scalar pandas counts as missing)."""
    return value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _num(value: float) -> str:
    """1234 → '1,234'; 1234.5 → '1,234.5'."""
    value = float(value)
    return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


def _people(value: float) -> str:
    """People are shown whole in the workbook (demand spread over polygons gives fractions): 3200.4 → '3,200'."""
    return f"{float(value):,.0f}"


def households_population_text(households, population) -> str:
    """The 户数\\人口 cell: ``1,234户\\2,851人``; an unknown number is ``—``."""
    hh = "—" if _isnan(households) else f"{_people(households)}户"
    pop = "—" if _isnan(population) else f"{_people(population)}人"
    return f"{hh}\\{pop}"


def _target_text(coverage_target: float) -> str:
    return "全覆盖" if coverage_target >= 1 else f"覆盖 ≥{share_text(coverage_target)}"


def standard_text(row: dict, category: str, checks: list[Check], *, coverage_target: float = 1.0) -> str:
    """The 标准 cell: what the standard asks of this community, e.g. ``小学 ≤500 m 全覆盖；≥1 处；≥350 m²``.

    Built from the checks of ``category`` and the row's ``<category>_radius_m``, ``_required_count`` and
    ``_required_m2``; without a check (category not surveyed) the row's ``<category>_standard`` text, or ``—``.
    """
    own = [check for check in checks if check.category == category]
    if not own:
        return safe_cell_text(row.get(f"{category}_standard")) or "—"
    entries = _entries(row, category)
    if entries:  # several standards: what each asks, as 现状 gives each one's figures
        return "；".join(_one_standard_text(e, coverage_target) for e in entries)
    row_radius = row.get(f"{category}_radius_m")
    parts = []
    for check in own:
        radius = check.radius_m
        if len(own) == 1 and not _isnan(row_radius):
            radius = row_radius
        radius_part = f" ≤{_num(radius)} m {_target_text(coverage_target)}" if radius else ""
        parts.append(safe_cell_text(check.name_zh) + radius_part)
    count, area = row.get(f"{category}_required_count"), row.get(f"{category}_required_m2")
    if not _isnan(count):
        parts.append(f"≥{_num(count)} 处")
    if not _isnan(area):
        parts.append(f"≥{_num(area)} m²")
    return "；".join(parts)


def _one_standard_text(entry: dict, coverage_target: float) -> str:
    """What one standard of several asks: ``幼儿园 ≤300 m 全覆盖，≥1 处，≥3,150 m²``."""
    radius = entry["radius_m"]
    parts = [safe_cell_text(entry["name"]) + (f" ≤{_num(radius)} m {_target_text(coverage_target)}" if radius else "")]
    if entry["required_count"] is not None:
        parts.append(f"≥{_num(entry['required_count'])} 处")
    if entry["required_m2"] is not None:
        parts.append(f"≥{_num(entry['required_m2'])} m²")
    return "，".join(parts)


def current_text(row: dict, category: str) -> str:
    """The 现状 cell: ``覆盖 62%（3,100/5,000 人）；容量内 2,900 人、超容量 200 人；现有 1 处；面积 120 m²``;
    ``未调查`` when not surveyed. Facilities below the standard's minimum size are named (they do not count):
    ``现有 0 处达标（1 处 2,800 m² 小于 3,150 m² 下限）``. For a standard without a service radius the covered
    people are those of a community that meets its count and floor-area rule: ``达标人口 0/5,000 人（无服务半径，按
    本社区数量与面积计）`` (docs/data-model.md, "Covered, served, out of reach")."""
    if row.get(f"{category}_status") == "not_surveyed":
        return "未调查"
    entries = _entries(row, category)
    if entries:  # several standards: each standard's own figures, never one standard's share with another's count
        return "；".join(f"{safe_cell_text(e['name'])}：{_current_parts(entry_row(category, e), category, '，')}"
                        for e in entries)
    return _current_parts(row, category, "；")


def _entries(row: dict, category: str) -> list[dict]:
    """The per-standard entries of a category with several standards (:mod:`geofacility.per_standard`); []
    otherwise, and for a ledger written before they were kept."""
    value = row.get(f"{category}_by_standard")
    return decode(unescape_cell_text(value)) if isinstance(value, str) and value else []


def _current_parts(row: dict, category: str, glue: str) -> str:
    get = lambda field: row.get(f"{category}_{field}")  # noqa: E731
    parts = []
    if not _isnan(get("covered_share")):
        covered, uncovered = get("covered_population"), get("uncovered_population")
        if f"{category}_radius_m" in row and _isnan(get("radius_m")):  # no radius: covered = meets the rule
            parts.append(f"达标人口 {_people(covered)}/{_people(covered + uncovered)} 人（无服务半径，按本社区数量与面积计）"
                         if not (_isnan(covered) or _isnan(uncovered)) else "无服务半径，按本社区数量与面积计")
        elif _isnan(covered) or _isnan(uncovered):
            parts.append(f"覆盖 {share_text(get('covered_share'))}")
        else:
            parts.append(f"覆盖 {share_text(get('covered_share'))}（{_people(covered)}/{_people(covered + uncovered)} 人）")
    if not _isnan(get("served_population")) and not (f"{category}_radius_m" in row and _isnan(get("radius_m"))):
        split = f"容量内 {_people(get('served_population'))} 人"
        if get("over_capacity_population") >= 0.5:
            split += f"、超容量 {_people(get('over_capacity_population'))} 人"
        parts.append(split)
    below = safe_cell_text(get("below_minimum")) if isinstance(get("below_minimum"), str) else ""
    if not _isnan(get("current_count")):
        parts.append(f"现有 {_num(get('current_count'))} 处" + (f"达标（{below}）" if below else ""))
    if not _isnan(get("current_m2")):
        parts.append(f"面积 {_num(get('current_m2'))} m²")
    elif not _isnan(get("required_m2")):
        parts.append("面积未知")
    return glue.join(parts) or "—"


def _problem_detail(row: dict, category: str, coverage_target: float) -> str:
    """What is wrong in one category, with the numbers: facilities not in use that bear on it, facilities short,
    people not covered, floor area short, people over capacity (e.g. ``在建 1 处（未计入现状），缺 1 处，1,200 人未覆盖
    （覆盖率 62%）``)."""
    get = lambda field: row.get(f"{category}_{field}")  # noqa: E731
    value = lambda field: None if _isnan(get(field)) or get(field) == "" else float(get(field))  # noqa: E731
    problem = safe_cell_text(get("problem"))
    parts = []
    if isinstance(get("not_in_use"), str) and get("not_in_use"):
        parts.append(safe_cell_text(get("not_in_use")))
    if isinstance(get("below_minimum"), str) and get("below_minimum"):
        parts.append(f"{safe_cell_text(get('below_minimum'))}（不计数）")
    if (value("count_gap") or 0) > 0:
        parts.append(f"缺 {_num(value('count_gap'))} 处")
    share = value("covered_share")
    if share is not None and share < coverage_target - 1e-12:
        uncovered = value("uncovered_population")
        people = f"{_people(uncovered)} 人未覆盖" if uncovered is not None else "未全覆盖"
        parts.append(f"{people}（覆盖率 {share_text(share)}）")
    if (value("gap_m2") or 0) > 0:
        parts.append(f"面积缺口 {_num(round(value('gap_m2')))} m²")
    if (value("over_capacity_population") or 0) >= 0.5:
        parts.append(f"超容量 {_people(value('over_capacity_population'))} 人")
    if value("required_m2") is not None and value("current_m2") is None and (value("current_count") or 0) > 0:
        parts.append("面积未知")
    text = "，".join(parts)
    if problem.startswith("（街道级）"):
        text = "（街道级）" + text
    if "；" in problem:  # a ledger written before each standard's figures were kept: which of them falls short
        text += f"（{problem}）"
    return text or problem or "未达标"


def problem_text(row: dict, *, coverage_target: float = 1.0) -> str:
    """The 存在问题 cell: each category short of standard, its stage (规划、建设、移交、使用; see
    :mod:`geofacility.stages`) and the numbers, ``；``-joined: ``教育【规划】缺 1 处，1,200 人未覆盖（覆盖率 62%）；
    养老【使用】面积缺口 150 m²``. Categories not surveyed are listed once, under the title, not on every row."""
    from .stages import stage_of

    parts = []
    for category in CATEGORIES:
        if row.get(f"{category}_status") != "gap":
            continue
        short = [e for e in _entries(row, category) if e["status"] == "gap"]
        if short:  # several standards: each one short, named, with its own stage and numbers
            for e in short:
                own = entry_row(category, e)
                stage = e["problem_stage"] or stage_of(own, category)
                detail = _problem_detail(own, category, coverage_target)
                parts.append(f"{CATEGORY_SHORT_ZH[category]}【{stage}】{safe_cell_text(e['name'])}"
                             f"{' ' if detail[:1].isdigit() else ''}{detail}")
            continue
        stage = row.get(f"{category}_problem_stage") or stage_of(row, category)
        parts.append(f"{CATEGORY_SHORT_ZH[category]}【{stage}】{_problem_detail(row, category, coverage_target)}")
    return "；".join(parts)


def not_surveyed_text(table: pd.DataFrame) -> str:
    """The note under the title: the categories not surveyed, once per ledger (``未调查类别：医疗卫生、社区食堂（无设施
    数据，不计缺口）``), and those surveyed for only part of the communities; '' when every category was surveyed."""
    if not len(table):
        return ""
    whole, part = [], []
    for category in CATEGORIES:
        col = f"{category}_status"
        if col not in table.columns:
            continue
        missing = int((table[col] == "not_surveyed").sum())
        if missing == len(table):
            whole.append(CATEGORY_SHORT_ZH[category])
        elif missing:
            part.append(f"{CATEGORY_SHORT_ZH[category]} {missing} 个社区")
    lines = []
    if whole:
        lines.append(f"未调查类别：{'、'.join(whole)}（无设施数据，不计缺口）")
    if part:
        lines.append(f"部分社区未调查（在调查范围外，不计缺口）：{'、'.join(part)}")
    return "\n".join(lines)


def _coverage_target(settings: dict) -> float:
    target = settings.get("coverage_target")
    return 1.0 if target is None else float(target)


def _title_text(settings: dict, checks: list[Check], table: pd.DataFrame) -> str:
    """The title cell: title, the standards/distance/target note and the categories not surveyed."""
    return "\n".join(t for t in (_title(settings), _note(settings, checks), not_surveyed_text(table)) if t)


def _title(settings: dict) -> str:
    study = safe_cell_text(settings.get("study") or "")
    return f"{study}社区配套设施排查台账"


def _note(settings: dict, checks: list[Check]) -> str:
    names = list(dict.fromkeys(safe_cell_text(check.name_zh) for check in checks))
    parts = [f"按标准：{'、'.join(names)}（详见“采用标准 standards”表）" if names else "按标准：无（未调查任何类别）"]
    distance = settings.get("distance")
    if distance:
        parts.append(f"距离：{_DISTANCE_ZH.get(str(distance), safe_cell_text(distance))}")
    od = settings.get("cost_matrix")
    if od:
        parts.append(f"{CATEGORY_SHORT_ZH.get(od['category'], od['category'])}按 OD 成本表"
                     f"（{safe_cell_text(Path(od['file']).name)}）计")
    parts.append(f"覆盖目标：{share_text(_coverage_target(settings))}")
    method = settings.get("capacity_method")
    if method and method != "none":
        parts.append(f"容量：{_CAPACITY_ZH.get(str(method), safe_cell_text(method))}（详见“设施负荷 facility load”表）")
    return "；".join(parts)


_CAPACITY_ZH = {"allocate": "按容量就近分配", "2sfca": "两步移动搜索法 2SFCA"}
_SOURCE_ZH = {"data": "数据", "floor area": "按面积折算", "standard": "按标准服务人口", "unknown": "未知"}
_LOAD_HEADER = ["设施编号 facility_id", "名称 name", "类别 category", "子类 subcategory", "所在社区 community_id",
                "容量（人） capacity", "容量来源 capacity source", "半径内需求（人） demand in reach",
                "已分配（人） allocated", "负荷 load", "状态 state"]


def _whole(value):
    """People as whole persons (NaN stays empty, an unlimited capacity reads 不限)."""
    if value is None or _isnan(value):
        return None
    return int(round(float(value))) if math.isfinite(float(value)) else "不限"


def _load_rows(load: pd.DataFrame | None, checks: list[Check] | None = None) -> list[list]:
    """The facility load sheet: one row per facility whose category's capacity split was computed, in Chinese:
    the category's Chinese name, the standard's name (幼儿园) for the subcategory, people as whole persons, the load
    as a percentage of the capacity (the cell holds the share, formatted 0.0%) and the state (有余量/满/超负荷)."""
    if load is None or not len(load):
        return [["", "未计算容量", "", "", "", None, "", None, None, None, ""]]
    names = {(c.category, c.subcategory): c.name_zh for c in checks or []}
    rows = []
    for rec in load.to_dict("records"):
        value = rec["load"]
        state = "" if value is None or _isnan(value) else ("超负荷" if value > 1 + 1e-9 else
                                                           "满" if value >= 1 - 1e-9 else "有余量")
        sub = rec["subcategory"]
        sub_text = "" if sub is None or _isnan(sub) else names.get((rec["category"], sub), safe_cell_text(sub))
        rows.append([safe_cell_text(rec["facility_id"]), safe_cell_text(rec["name"]),
                     CATEGORY_LABELS_ZH.get(rec["category"], safe_cell_text(rec["category"])), sub_text,
                     safe_cell_text(rec["community_id"] or ""), _whole(rec["capacity"]),
                     _SOURCE_ZH.get(rec["capacity_source"], rec["capacity_source"]),
                     _whole(rec["demand_in_reach"]), _whole(rec["allocated"]),
                     _excel_value(None if _isnan(value) else round(float(value), 4)), state])
    return rows


#: the load column of the facility load sheet (1-based), written as a percentage
_LOAD_PERCENT_COLUMN = 10


# --------------------------------------------------------------------------------------------- CSV


def _csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell as its final text: fixed decimals, empty for NaN, formula-safe strings."""
    columns = {}
    for col in table.columns:
        values = table[col]
        if col in _FLOAT_COLUMNS:
            fmt = f"{{:.{_decimals(col)}f}}".format
            columns[col] = ["" if math.isnan(v) else fmt(v) for v in values.to_numpy(dtype=float)]
        elif col in _TEXT_COLUMNS:
            columns[col] = values.map(safe_cell_text)
        elif col in _COUNT_COLUMNS:
            columns[col] = values.astype(object).map(lambda v: "" if pd.isna(v) else str(int(v)))
        else:
            columns[col] = values.astype(str)
    return pd.DataFrame(columns, index=table.index)


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    _csv_frame(table).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")


def read_ledger_csv(path: str | Path) -> pd.DataFrame:
    """Read a ``ledger.csv`` back with the dtypes of :func:`ledger_table` (text unescaped, NaN for empty numbers).

    Columns added by a planner are kept as text after the ledger columns.
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    for col in (f"{c}_{f}" for c in CATEGORIES for f in _ADDED_FIELDS):
        if col not in raw.columns:  # a ledger written before these columns existed: empty, not unreadable
            raw[col] = ""
    missing = [col for col in ledger_columns() if col not in raw.columns]
    if missing:
        raise InputError(f"{path}: not a geofacility ledger.csv; missing column(s) {', '.join(missing)}")
    columns = {}
    for col in ledger_columns():
        values = raw[col].astype(object)
        try:
            if col in _TEXT_COLUMNS:
                columns[col] = values.map(unescape_cell_text).astype(str)
            elif col == "approximate":
                columns[col] = values.str.strip().str.lower().map(_BOOL_TEXT.__getitem__).astype(bool)
            elif col == "n_categories_short":
                columns[col] = values.astype("int64")
            elif col in _COUNT_COLUMNS:
                columns[col] = pd.to_numeric(values.replace("", np.nan), errors="raise").astype("Int64")
            else:
                columns[col] = pd.to_numeric(values.replace("", np.nan), errors="raise").astype(float)
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path}: column {col} has a value that is not valid there ({exc}); "
                             "regenerate the ledger or fix that cell") from None
    extra = {col: raw[col] for col in raw.columns if col not in columns}
    return pd.DataFrame({**columns, **extra}, index=raw.index)


# --------------------------------------------------------------------------------------------- workbook

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")
_CENTER = Alignment(wrap_text=True, horizontal="center", vertical="center")
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

#: rows 2–4: the header (序号 … in row 2, the umbrella 既有社区配套设施排查摸底情况 over the category columns, each
#: category's heading in row 3, 标准/现状 in row 4), as Attachment 3
_HEADER_ROWS = 3
_FIRST_DATA_ROW = 2 + _HEADER_ROWS
_N_LEAD = 4  # 序号, 镇办, 社区, 户数\人口
#: Attachment 3's heading over the per-category (标准、现状) columns
UMBRELLA_HEADING = "既有社区配套设施排查摸底情况"
#: the last column of the 台账 sheet: the community id its row belongs to, by which a re-run puts the planner's entries
#: back on the right community however the rows were sorted or renumbered (geofacility.ledger_workbook)
ID_HEADING = "社区编码"
ID_NOTE = ("社区编码：geofacility 按此编码把整治方案、备注留在对应社区的行上，请勿修改。排序时请选中整行（含本列）。\n"
           "Community id: geofacility keeps your entries on the row of this id when it re-runs; do not edit it, and "
           "sort whole rows (this column included).")
_ID_FONT = Font(color="808080")


def _ledger_layout() -> list[tuple[str, str | None, float]]:
    """The header as (heading, sub-heading or None, column width) per column, in sheet order."""
    columns: list[tuple[str, str | None, float]] = [
        ("序号", None, 6),
        ("镇办", None, 12),
        ("社区", None, 16),
        ("户数\\人口", None, 16),
    ]
    for category in CATEGORIES:
        heading = f"{CATEGORY_LABELS_ZH[category]}（标准、现状）"
        columns += [(heading, "标准", 22), (heading, "现状", 24)]
    columns += [
        ("存在问题（规划、建设、移交、使用）", None, 40),
        ("整治方案", "牵头单位", 12),
        ("整治方案", "责任单位", 12),
        ("整治方案", "完成时限", 10),
        ("备注（需区领导小组解决问题）", None, 20),
        (ID_HEADING, None, 14),
    ]
    return columns


def _write_header(ws, columns) -> None:
    """Rows 1–4 (:data:`_HEADER_ROWS` below the title): a heading without sub-heading spans rows 2–4; the category
    headings sit in row 3 under :data:`UMBRELLA_HEADING` (row 2) with 标准/现状 in row 4; 整治方案 spans rows 2–3
    over its sub-headings."""
    n = len(columns)
    top, bottom = 2, 1 + _HEADER_ROWS
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    categories = [i for i, (_, sub, _) in enumerate(columns) if sub in ("标准", "现状")]
    if categories:
        ws.cell(row=top, column=categories[0] + 1, value=UMBRELLA_HEADING)
        ws.merge_cells(start_row=top, start_column=categories[0] + 1, end_row=top, end_column=categories[-1] + 1)
    i = 0
    while i < n:
        heading, sub, _ = columns[i]
        span = 1
        while i + span < n and sub is not None and columns[i + span][0] == heading:
            span += 1
        if sub is None:
            ws.cell(row=top, column=i + 1, value=heading)
            ws.merge_cells(start_row=top, start_column=i + 1, end_row=bottom, end_column=i + 1)
        else:
            first = top + 1 if i in categories else top
            ws.cell(row=first, column=i + 1, value=heading)
            if span > 1 or first < bottom - 1:
                ws.merge_cells(start_row=first, start_column=i + 1, end_row=bottom - 1, end_column=i + span)
            for j in range(span):
                ws.cell(row=bottom, column=i + j + 1, value=columns[i + j][1])
        i += span
    for col, (_, _, width) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
        for row in range(top, bottom + 1):
            cell = ws.cell(row=row, column=col)
            cell.font, cell.alignment, cell.fill = _BOLD, _CENTER, _HEADER_FILL


def _ledger_row(number: int, row: dict, checks: list[Check], coverage_target: float) -> list:
    values: list = [
        number,
        safe_cell_text(row["town"]),
        safe_cell_text(row["community"]),
        households_population_text(row["households"], row["population"]),
    ]
    for category in CATEGORIES:
        values += [standard_text(row, category, checks, coverage_target=coverage_target), current_text(row, category)]
    values += [problem_text(row, coverage_target=coverage_target), None, None, None, None,
               safe_cell_text(row["community_id"])]
    return values


def _fill_ledger_sheet(ws, table: pd.DataFrame, checks: list[Check], settings: dict) -> None:
    columns = _ledger_layout()
    _write_header(ws, columns)
    title = ws.cell(row=1, column=1, value=_title_text(settings, checks, table))
    title.font, title.alignment = Font(bold=True, size=14), _CENTER
    ws.row_dimensions[1].height = 20 * (title.value.count("\n") + 1) + 8
    coverage_target = _coverage_target(settings)
    status_columns = {c: _N_LEAD + 2 * i + 2 for i, c in enumerate(CATEGORIES)}  # the 现状 column of each
    styles = _named_styles(ws.parent)
    for offset, row in enumerate(table.to_dict("records")):
        r = _FIRST_DATA_ROW + offset
        for col, value in enumerate(_ledger_row(offset + 1, row, checks, coverage_target), start=1):
            ws.cell(row=r, column=col, value=value).style = styles[None]
        for category, col in status_columns.items():
            status = row[f"{category}_status"]
            if status in _STATUS_FILL:
                ws.cell(row=r, column=col).style = styles[status]
    id_col = len(columns)
    for r in range(_FIRST_DATA_ROW, _FIRST_DATA_ROW + len(table)):
        ws.cell(row=r, column=id_col).style = styles["id"]
    _id_header(ws.cell(row=2, column=id_col))
    for cells in ws.iter_rows(min_row=2, max_row=1 + _HEADER_ROWS, max_col=len(columns)):
        for cell in cells:
            cell.border = _BORDER
    ws.freeze_panes = ws.cell(row=_FIRST_DATA_ROW, column=_N_LEAD)  # below the header, right of 社区
    ws.print_title_rows = f"2:{1 + _HEADER_ROWS}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A3
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _named_styles(wb) -> dict:
    """One named style per cell kind (wrap + border, and the status fills), registered once per workbook:
    assigning a named style is one id per cell, where setting font/fill/border/alignment objects cell by cell
    made openpyxl hash styles tens of thousands of times."""
    from openpyxl.styles import NamedStyle

    names = {None: "gf_cell", **{status: f"gf_{status}" for status in _STATUS_FILL}, "id": "gf_id"}
    existing = set(wb.named_styles)
    for status, name in names.items():
        if name not in existing:
            style = NamedStyle(name=name, alignment=_WRAP, border=_BORDER)
            if status in _STATUS_FILL:
                style.fill = _STATUS_FILL[status]
            if status == "id":
                style.font = _ID_FONT
            wb.add_named_style(style)
    return names


def _id_header(cell) -> None:
    """The 社区编码 heading, with a note saying what the column is for."""
    from openpyxl.comments import Comment

    cell.value = ID_HEADING
    comment = Comment(ID_NOTE, "geofacility")
    comment.width, comment.height = 320, 120
    cell.comment = comment


def _excel_value(value):
    """A Python value openpyxl writes safely: text escaped, NaN empty, numpy scalars unwrapped."""
    if _isnan(value):
        return None
    if isinstance(value, str):
        return safe_cell_text(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return safe_cell_text(value)


def _fill_table_sheet(ws, header: list[str], rows, *, widths: list[float] | None = None) -> None:
    ws.append(header)
    for cell in ws[1]:
        cell.font, cell.fill = _BOLD, _HEADER_FILL
    for row in rows:
        ws.append([_excel_value(v) for v in row])
    ws.freeze_panes = "A2"
    for col, width in enumerate(widths or [], start=1):
        ws.column_dimensions[get_column_letter(col)].width = width


#: the severity of a warning as the 警告 sheets write it (the warnings table keeps info/warning)
SEVERITY_ZH = {"info": "提示", "warning": "警告"}
#: what a warning names in place of a file, in Chinese: the standards table, the capacity split
_WARNING_SOURCE_ZH = {"standards": "标准表", "capacity": "容量计算"}


def _warning_rows(warnings: pd.DataFrame) -> list[list]:
    if warnings is None or warnings.empty:
        return [["", "", SEVERITY_ZH["info"], "无警告"]]
    rows = []
    for record in warnings.reindex(columns=WARNING_COLUMNS).to_dict("records"):
        row = "" if _isnan(record["row"]) else str(record["row"])
        severity = "" if _isnan(record["severity"]) else str(record["severity"])
        rows.append([_WARNING_SOURCE_ZH.get(record["file"], record["file"]), int(row) if row.isdigit() else row,
                     SEVERITY_ZH.get(severity, severity), _warning_text(record)])
    return rows


def _warning_text(record: dict) -> str:
    """A warning as the 警告 sheet shows it: Chinese first, then the English (for a bug report), on its own line."""
    zh, en = message_zh(record), "" if _isnan(record.get("message")) else str(record["message"])
    return zh if not en or zh == en else f"{zh}\n{en}"


_STANDARDS_HEADER = [
    "设施类别",
    "名称",
    "适用地区",
    "层级",
    "统计范围",
    "服务半径 m",
    "每千人建筑面积 m²",
    "每百户建筑面积 m²",
    "单处最小建筑面积 m²",
    "单处服务人口上限",
    "来源",
    "状态",
    "备注",
    "类别代码 category",
    "子类代码 subcategory",
]
_STANDARDS_WIDTHS = [18, 24, 12, 14, 12, 10, 12, 12, 12, 12, 60, 60, 50, 18, 28]


def _standards_rows(checks: list[Check], jurisdiction: str | None = None) -> list[list]:
    """The 采用标准 sheet: every standard applied, where it applies, its source and, in Chinese, whether its figures
    were found in the source (已核实（来源…）/ 部分核实 / 未核实：未找到原文); then where the study lies."""
    if not checks:
        rows = [["无（未调查任何类别）"] + [None] * (len(_STANDARDS_HEADER) - 1)]
    else:
        rows = [
            [
                CATEGORY_LABELS_ZH.get(check.category, ""),
                check.name_zh,
                check.jurisdiction or "自定",
                LEVEL_ZH.get(check.level, check.level),
                SCOPE_ZH.get(check.scope, check.scope),
                check.radius_m,
                check.per_1000_building_m2,
                check.per_100hh_building_m2,
                check.min_building_m2,
                check.serves_population,
                check.source,
                status_zh(check),
                check.note,
                check.category,
                check.subcategory,
            ]
            for check in checks
        ]
    where = jurisdiction or "不限（所有标准）"
    rows += [[None] * len(_STANDARDS_HEADER),
             [f"本研究所在地：{where}。国家标准（全国）均适用；省、市标准仅适用于其辖区；同一设施有多级标准时采用最具体的一级。"
              "状态为“未核实”或“部分核实”的指标未找到原文，使用前请核对。"] + [None] * (len(_STANDARDS_HEADER) - 1)]
    return rows


#: the sub-headings (row 3) or headings (row 2) of the columns the planner fills in (Attachment 3's 整治方案, 备注)
PLANNER_FIELDS = ("牵头单位", "责任单位", "完成时限", "备注（需区领导小组解决问题）")
LEDGER_SHEET = "台账 ledger"
REMOVED_SHEET = "已移除 removed"
PREVIOUS_XLSX = "ledger.previous.xlsx"
#: the sheets geofacility writes anew on every run, in workbook order (a planner's notes belong on the 台账 sheet or
#: on sheets of their own, which are kept)
GENERATED_SHEETS = ("警告 warnings", "采用标准 standards", "输入核对 input rows", "设施负荷 facility load", "明细 data",
                    REMOVED_SHEET, "geofacility_written")
#: a very hidden sheet holding what geofacility wrote in each computed cell of the 台账, so that a re-run can tell a
#: cell the planner typed over (their text is then kept in a note on the cell) from one it wrote itself
WRITTEN_SHEET = "geofacility_written"


def computed_columns() -> list[tuple[int, str]]:
    """(layout index, key) of the 台账 columns geofacility computes and rewrites on every run."""
    out = []
    for i, (top, sub, _) in enumerate(_ledger_layout()):
        if (sub or top) in PLANNER_FIELDS or top in ("序号", ID_HEADING):
            continue
        out.append((i, f"{top}|{sub or ''}"))
    return out


def record_written(wb: Workbook, ws, rows: dict[int, str], columns: dict[str, int]) -> None:
    """(Re)write the hidden :data:`WRITTEN_SHEET`: per community id (``rows``: sheet row → id), the value of each
    computed column (``columns``: key → sheet column) as it stands now."""
    if WRITTEN_SHEET in wb.sheetnames:
        wb.remove(wb[WRITTEN_SHEET])
    sheet = wb.create_sheet(WRITTEN_SHEET)
    sheet.sheet_state = "veryHidden"
    keys = list(columns)
    sheet.append(["community_id", *keys])
    for r, cid in sorted(rows.items()):
        sheet.append([safe_cell_text(cid), *[ws.cell(row=r, column=columns[k]).value for k in keys]])


def _generated_sheets(table: pd.DataFrame, checks: list[Check], warnings: pd.DataFrame, settings: dict,
                      facility_load: pd.DataFrame | None, removed: list[list] | None,
                      removed_header: list[str] | None) -> list[tuple[str, list, list, list | None]]:
    """(title, header, rows, widths) of each generated sheet this run has, in :data:`GENERATED_SHEETS` order."""
    sheets = [("警告 warnings", ["文件 file", "行 row", "级别 severity", "说明 message"], _warning_rows(warnings),
               [28, 8, 12, 80]),
              ("采用标准 standards", _STANDARDS_HEADER, _standards_rows(checks, settings.get("jurisdiction")),
               _STANDARDS_WIDTHS)]
    accounting = settings.get("_accounting")
    if accounting is not None and len(accounting):
        sheets.append(("输入核对 input rows", ["文件 file", "读入行 rows read", "采用 used",
                                           "未采用并已说明 reported (see 警告)", "未说明 unaccounted"],
                       [[safe_cell_text(r.file), r.rows_read, r.rows_used, r.rows_reported, r.rows_unaccounted]
                        for r in accounting.itertuples(index=False)], [60, 14, 12, 30, 14]))
    if settings.get("capacity_method") not in (None, "none"):
        sheets.append(("设施负荷 facility load", _LOAD_HEADER, _load_rows(facility_load, checks),
                       [14, 28, 12, 18, 16, 12, 16, 16, 14, 10, 16]))
    sheets.append(("明细 data", list(table.columns), table.itertuples(index=False), None))
    if removed:
        sheets.append((REMOVED_SHEET, removed_header, removed, [16, 12, 16, 10] + [14] * (len(removed_header) - 4)))
    return sheets


def _add_generated_sheets(wb: Workbook, sheets, positions: dict[str, int] | None = None) -> None:
    """Create the generated sheets (at the positions they had in an earlier workbook, else at the end)."""
    for title, header, rows, widths in sheets:
        index = None if positions is None else positions.get(title)
        ws = wb.create_sheet(title, index)
        _fill_table_sheet(ws, header, rows, widths=widths)
        if title == "明细 data":
            ws.auto_filter.ref = ws.dimensions
        if title == "设施负荷 facility load":
            for (cell,) in ws.iter_rows(min_row=2, min_col=_LOAD_PERCENT_COLUMN, max_col=_LOAD_PERCENT_COLUMN):
                cell.number_format = "0.0%"


def _workbook_settings(analysis) -> dict:
    return {**(analysis.settings or {}), "_accounting": getattr(analysis, "accounting", None)}


def _new_workbook(analysis, table: pd.DataFrame) -> Workbook:
    """The ledger workbook of a folder that has none yet."""
    settings = _workbook_settings(analysis)
    wb = Workbook()
    ledger = wb.active
    ledger.title = LEDGER_SHEET
    _fill_ledger_sheet(ledger, table, list(analysis.checks), settings)
    _add_generated_sheets(wb, _generated_sheets(table, list(analysis.checks), analysis.warnings, settings,
                                                getattr(analysis, "facility_load", None), None, None))
    record_written(wb, ledger, {_FIRST_DATA_ROW + i: cid for i, cid in enumerate(table["community_id"])},
                   {key: i + 1 for i, key in computed_columns()})
    return wb


def read_planner_entries(path: str | Path):
    """The planner's entries in an earlier ``ledger.xlsx``, by community id (see
    :func:`geofacility.ledger_workbook.read_planner_entries`)."""
    from .ledger_workbook import read_planner_entries as read

    return read(path)


# --------------------------------------------------------------------------------------------- GeoPackage


def _write_layer(frame: gpd.GeoDataFrame, path: Path, layer: str, geometry_type: str | None = None) -> None:
    kwargs = {"geometry_type": geometry_type} if frame.empty and geometry_type else {}
    frame.to_file(path, driver="GPKG", layer=layer, **kwargs)


def _write_gpkg(analysis, table: pd.DataFrame, geometry, path: Path) -> None:
    communities = gpd.GeoDataFrame(table, geometry=geometry, crs=analysis.crs)
    _write_layer(communities, path, "communities")
    _write_layer(analysis.demand, path, "demand", "Point")
    from .capacity import facilities_with_load

    # each facility's capacity (residents), where it came from, and its load
    _write_layer(facilities_with_load(analysis.facilities, getattr(analysis, "facility_load", None)), path,
                 "facilities", "Point")
    areas = getattr(analysis, "service_areas", None)
    if areas is not None:
        _write_layer(areas, path, "service_areas", "MultiPolygon")


# --------------------------------------------------------------------------------------------- entry point


def write_ledger(analysis, out_dir: str | Path, *, gpkg: bool = True) -> dict[str, Path]:
    """Write ``ledger.csv``, ``ledger.xlsx`` and (unless ``gpkg=False``) ``coverage.gpkg`` into ``out_dir``;
    return their paths by kind (``csv``, ``xlsx``, ``gpkg``).

    With an earlier ``ledger.xlsx`` in ``out_dir``, the new figures are written into that workbook, so everything
    the planner typed or set there stays (see :mod:`geofacility.ledger_workbook`); the earlier file is kept as
    ``ledger.previous.xlsx``. The files (and those of the rest of the run, inside an open
    :func:`~geofacility.outputs.output_set`) replace the earlier ones together or not at all.
    """
    from .outputs import output_set

    out_dir = Path(out_dir)
    paths = {"csv": out_dir / LEDGER_CSV, "xlsx": out_dir / LEDGER_XLSX, "gpkg": out_dir / COVERAGE_GPKG}
    if not gpkg:
        del paths["gpkg"]
    with output_set(out_dir, expected=[p.name for p in paths.values()]) as outputs:
        outputs.note_settings(getattr(analysis, "settings", None))
        outputs.note_settings({"standards_applied": [
            f"{c.category}/{c.subcategory}" + (f" r={c.radius_m:g} m" if c.radius_m else "") for c in analysis.checks]})
        ordered = _sorted_communities(analysis.communities)
        table = _typed(ordered)
        if paths["xlsx"].exists():  # an earlier ledger: what the planner typed and set there is never lost
            from .ledger_workbook import update_ledger_workbook

            workbook = update_ledger_workbook(paths["xlsx"], analysis, table)
            with atomic_path(out_dir / PREVIOUS_XLSX) as tmp:
                shutil.copyfile(paths["xlsx"], tmp)
        else:
            workbook = _new_workbook(analysis, table)
        with atomic_path(paths["csv"]) as tmp:
            _write_csv(table, tmp)
        with atomic_path(paths["xlsx"]) as tmp:
            workbook.save(tmp)
        if gpkg:
            with atomic_path(paths["gpkg"]) as tmp:
                _write_gpkg(analysis, table, ordered.geometry.to_numpy(), tmp)
    return paths


# --------------------------------------------------------------------------------------------- candidate sites

SITES_CSV = "sites.csv"
SITES_XLSX = "sites.xlsx"
SELECTION_JSON = "selection.json"

SITE_COLUMNS = [
    "rank", "candidate_id", "name", "floor_area_m2", "categories", "acquisition", "reviewed", "floor", "cost",
    "community_id", "town", "hosts_category", "area_rule", "area_note", "ground_floor_note", "review_note",
    "newly_covered_population", "communities_served", "gap_closed_m2", "selectable", "selectable_reason", "selected",
    "lon", "lat",
]
_SITE_HEADER_ZH = {
    "rank": "排序", "candidate_id": "房源编号", "name": "名称", "floor_area_m2": "建筑面积 m²", "categories": "可用类别",
    "acquisition": "取得方式", "reviewed": "安全预审", "floor": "楼层", "cost": "成本", "community_id": "所在社区编号",
    "town": "街道/镇", "hosts_category": "可设本类设施", "area_rule": "面积规则", "area_note": "面积说明",
    "ground_floor_note": "楼层说明", "review_note": "预审说明", "newly_covered_population": "新增覆盖人口",
    "communities_served": "服务社区", "gap_closed_m2": "弥补本社区面积缺口 m²", "selectable": "可选", "selectable_reason": "可否选用及原因",
    "selected": "选中",
    "lon": "经度 WGS84", "lat": "纬度 WGS84",
}


#: the area rule of a room, as sites.xlsx writes it (sites.csv keeps the keys)
AREA_RULE_ZH = {"meets": "达标", "too_small": "面积不足", "combine": "须与本社区房源合并", "n/a": "无面积要求"}
#: the yes/no columns of sites.csv (True/False there), written 是/否 in sites.xlsx
SITE_FLAG_COLUMNS = ("hosts_category", "selectable", "selected")


def _categories_text(cands) -> list[str]:
    """Each room's 可用类别 as the planner wrote it (``养老;社区用房``); where the file gave none for the room (or for a
    combined set of rooms), the Chinese names of its category keys (``养老、社区用房``; '' = any category)."""
    typed = cands["categories_text"] if "categories_text" in cands.columns else pd.Series(None, index=cands.index)
    return [text.strip() if isinstance(text, str) and text.strip() else
            "、".join(CATEGORY_SHORT_ZH.get(c, c) for c in cats)
            for text, cats in zip(typed, cands["categories"])]


def sites_table(study, selection) -> pd.DataFrame:
    """One row per candidate, best rank first: the evaluation and whether it was selected. 可用类别, 预审 and 取得方式
    as the planner wrote them; ``hosts_category``/``selectable``/``selected`` True/False and ``area_rule`` its key
    (sites.xlsx writes them 是/否 and in Chinese: :func:`sites_sheet_rows`)."""
    cands = study.candidates
    pts = cands.geometry.to_crs(4326)
    table = pd.DataFrame({
        **{c: cands[c] for c in SITE_COLUMNS if c in cands.columns},
        "categories": _categories_text(cands),
        # pre-review and acquisition as the planner wrote them (是/否, 租赁/置换/共享/购买); the normalised values
        # (True/False, lease/swap/…) stay in the study for the selection
        **{c: cands[f"{c}_text"].where(cands[f"{c}_text"].notna(), cands[c]) if f"{c}_text" in cands.columns
           else cands[c] for c in ("reviewed", "acquisition")},
        "selected": np.isin(np.arange(len(cands)), selection.selected if selection is not None else []),
        "lon": pts.x.round(7).to_numpy(), "lat": pts.y.round(7).to_numpy(),
    })
    table["newly_covered_population"] = table["newly_covered_population"].round(1)
    table["gap_closed_m2"] = table["gap_closed_m2"].round(1)
    return table[SITE_COLUMNS].sort_values("rank", kind="stable").reset_index(drop=True)


def sites_sheet_rows(table: pd.DataFrame):
    """The rows of sites.xlsx's 房源 sheet: :func:`sites_table` with its yes/no columns 是/否 and the area rule in
    Chinese (达标/面积不足/须与本社区房源合并/无面积要求)."""
    shown = table.copy()
    for col in SITE_FLAG_COLUMNS:
        shown[col] = shown[col].map(lambda v: "是" if v is True or v == True else "否")  # noqa: E712
    shown["area_rule"] = shown["area_rule"].map(lambda v: AREA_RULE_ZH.get(v, v))
    return shown.itertuples(index=False)


#: the selection methods as sites.xlsx names them
METHOD_ZH = {"mclp": "最大覆盖模型（MCLP）", "lscp": "集合覆盖模型（LSCP）", "pmedian": "P 中位模型（PMP）",
             "mclp-lp": "最大覆盖模型（MCLP，线性松弛）", "greedy": "贪心算法（最大覆盖近似）"}


def shortage_note(study, k) -> str | None:
    """``只有 3 处房源可选，少于 k=5`` when fewer rooms can be taken than were asked for (else None)."""
    n = int(len(study.eligible))
    if k is None or n >= int(k):
        return None
    rest = len(study.candidates) - n
    return f"只有 {n} 处房源可选，少于 k={int(k)}" + (f"；其余 {rest} 处不可选的原因见“可否选用及原因”列" if rest else "")


def selection_summary(study, selection, settings: dict) -> dict:
    """What selection.json holds: method, k/budget, radius, objective, populations, selected ids, solver."""
    ids = study.candidates["candidate_id"].to_numpy()
    already = float(study.weights[~study.uncovered].sum())
    od = settings.get("cost_matrix")  # the OD table measuring this category: file, columns, hash
    od = od if od and od.get("category") == study.check.category else None
    return {
        "category": study.check.category,
        "standard": study.check.label,
        "radius_m": study.check.radius_m,
        "distance": "cost-matrix" if od else settings.get("distance"),
        "cost_matrix": od,
        "method": selection.method,
        "k": settings.get("k"),
        "budget": settings.get("budget"),
        "objective": round(float(selection.objective), 6),
        "newly_covered_population": round(float(selection.covered_weight), 3),
        "uncovered_population_before": round(float(selection.total_weight), 3),
        "already_covered_population": round(already, 3),
        "total_population": round(float(study.weights.sum()), 3),
        "uncoverable_population": round(float(selection.uncoverable_weight), 3),
        "selected": [str(i) for i in ids[selection.selected]],
        "solver_status": selection.status,
        "optimality_gap": None if selection.gap is None or math.isnan(selection.gap) else round(selection.gap, 6),
        "bound": None if selection.bound is None else round(float(selection.bound), 6),
        "candidates": int(len(ids)),
        "selectable": int(len(study.eligible)),
        "note": shortage_note(study, settings.get("k")),
    }


def write_sites(study, selection, out_dir: str | Path, settings: dict | None = None,
                warnings: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``sites.csv``, ``sites.xlsx`` (with a 警告 warnings sheet: the study's and the rooms' input
    warnings) and (when a selection was made) ``selection.json``, atomically."""
    import json

    out_dir = Path(out_dir)
    table = sites_table(study, selection)
    paths = {"sites_csv": out_dir / SITES_CSV, "sites_xlsx": out_dir / SITES_XLSX}
    if selection is not None:
        paths["selection"] = out_dir / SELECTION_JSON
    with contextlib.ExitStack() as stack:
        tmp = {kind: stack.enter_context(atomic_path(path)) for kind, path in paths.items()}
        csv_frame = table.copy()
        for col in ("candidate_id", "name", "community_id", "town", "area_note", "communities_served", "categories",
                    "reviewed", "acquisition", "selectable_reason"):
            csv_frame[col] = csv_frame[col].map(safe_cell_text)
        csv_frame.to_csv(tmp["sites_csv"], index=False, encoding="utf-8-sig", lineterminator="\n")
        wb = Workbook()
        ws = wb.active
        ws.title = "房源 sites"
        _fill_table_sheet(ws, [f"{_SITE_HEADER_ZH[c]}\n{c}" for c in SITE_COLUMNS], sites_sheet_rows(table))
        ws.freeze_panes = "C2"
        ws.auto_filter.ref = ws.dimensions
        if selection is not None:
            note = shortage_note(study, (settings or {}).get("k"))
            rows = [["候选房源 candidates", len(table)], ["可选房源 selectable", int(len(study.eligible))],
                    ["方法 method", METHOD_ZH.get(selection.method, selection.method)],
                    ["选址数量 k", (settings or {}).get("k")],
                    ["选中 selected", int(len(selection.selected))],
                    ["新增覆盖人口 newly covered", round(float(selection.covered_weight), 1)]]
            if note:
                rows.insert(0, ["说明 note", note])
            _fill_table_sheet(wb.create_sheet("选址说明 selection"), ["项目 item", "值 value"], rows, widths=[28, 70])
        if warnings is not None:
            _fill_table_sheet(wb.create_sheet("警告 warnings"), ["文件 file", "行 row", "级别 severity", "说明 message"],
                              _warning_rows(warnings), widths=[28, 8, 12, 80])
        wb.save(tmp["sites_xlsx"])
        if selection is not None:
            summary = selection_summary(study, selection, settings or {})
            tmp["selection"].write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return paths
