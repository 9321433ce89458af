"""Ledger stage, the cell texts: what the 台账 sheet writes in each category's 标准 and 现状 cells, in 存在问题 and
in the title row (standards, distance, coverage target, categories not surveyed). Areas in m², distances in metres.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..per_standard import decode, entry_row
from ..standards import CATEGORIES, CATEGORY_SHORT_ZH, Check, share_text
from .table import _isnan, safe_cell_text, unescape_cell_text


_DISTANCE_ZH = {"euclidean": "直线", "network": "步行网络", "walk": "步行网络", "walking": "步行网络"}


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
    from ..stages import stage_of

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
