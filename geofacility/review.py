"""Development review (配建审查): what a new residential project must build, and whether it did.

Both source documents require that new residential projects include the community facilities the standards ask
for — written into the planning conditions (规划条件) before land supply and checked again at completion
acceptance (竣工验收): 西政办发〔2011〕10号 (“未建设社区办公和服务用房或者未达到标准的，不得通过验收”) and
张政办字〔2020〕13号 三(二)–(四) (“社区配套设施要与住宅同步建设、同步验收、同步交付”).

For each category the standards of :func:`review_checks` (``--standard`` wins; else those the standards table marks
for review, e.g. 社区养老服务用房 20 m² per 100 households for new areas; else the category's default):

- the project's demand: its population and households (one given, the other from the study's people per
  household);
- **build-in-project standards** (levels ``community`` and ``block``: rooms per 100 households, per 1,000 people,
  minimum sizes) are required in full from the project: nearby rooms belong to other communities;
- **area-serving standards** (levels ``5min``, ``10min``, ``15min``: kindergartens, schools, markets, clinics…)
  first use the **spare capacity of existing facilities within the service radius** of the project — each
  facility's capacity (:mod:`geofacility.capacity`) minus the residents the study already allocates to it — and
  only the remainder must be built: ⌈remainder / population one facility serves⌉ facilities and the standard's
  floor area for the remainder;
- **street-level standards** are provided by the street, not by one project: not required.

Only the standards that apply where the project is are used (the study's ``jurisdiction``: national rows, and a
province's or city's rows there). Where the existing facilities of an area-serving standard were not surveyed — the
category, that standard (kindergartens when only schools were surveyed), or the project's community outside the
category's survey extent — nothing is counted as spare: the row reads 未调查 and the condition asks for full
provision or a survey (周边设施未调查，按标准全额配建或补充调查后核定). The texts are Chinese throughout.

The required figures are compared with the facilities the project plans (``--planned``) or, at completion, has
built (``--as-built``): ``pass`` when as many facilities (each at least the standard's minimum size) and as much
floor area are provided as required, ``fail`` otherwise, ``not required`` when nothing is. The result is a table
with the reasons and the standard applied, and the planning-condition text (规划条件) or the completion-acceptance
opinion (竣工验收意见) ready to paste.

Over the house's ~500 lines (about 580): the review and the acceptance check share their checks, figures and
the Chinese texts of the planning conditions; read together they are one procedure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from .errors import InputError, WarningLog
from .standards import CATEGORIES, CATEGORY_LABELS_ZH, LEVEL_ZH, NATIONAL, Check, applicable_standards, \
    applies_in, check_from_row, chosen_checks, citation_zh, default_check, find_check, label_zh, where_applies

__all__ = ["Project", "read_project", "read_planned", "review_checks", "review_project", "Review",
           "REVIEW_COLUMNS", "conditions_text", "write_review"]

#: levels whose facilities serve an area around them: spare capacity of existing ones within reach counts
AREA_LEVELS = ("5min", "10min", "15min")
#: levels provided by the street/town as a whole, not by one project
STREET_LEVELS = ("street",)

REVIEW_COLUMNS = [
    "category", "category_zh", "subcategory", "name_zh", "standard", "jurisdiction", "citation", "level", "radius_m",
    "population", "households", "survey",
    "required_count_full", "required_m2_full", "spare_capacity", "spare_from", "absorbed_population",
    "remainder_population", "required_count", "required_m2", "provided_count", "provided_m2", "result", "reasons",
]
_HEADER_ZH = {
    "category": "类别代码 category", "category_zh": "设施类别", "subcategory": "子类代码 subcategory",
    "name_zh": "设施名称", "standard": "采用标准 standard", "jurisdiction": "适用地区", "citation": "依据",
    "level": "层级 level",
    "survey": "现有设施调查", "radius_m": "服务半径 m", "population": "项目人口",
    "households": "项目户数", "required_count_full": "按标准应配（处）", "required_m2_full": "按标准应配面积 m²",
    "spare_capacity": "半径内现有设施剩余容量（人）", "spare_from": "剩余容量来自", "absorbed_population": "现有设施可承接人口",
    "remainder_population": "需新配建服务人口", "required_count": "需配建（处）", "required_m2": "需配建面积 m²",
    "provided_count": "拟建/已建（处）", "provided_m2": "拟建/已建面积 m²", "result": "结论 result",
    "reasons": "理由 reasons",
}
#: the columns review.xlsx shows as whole numbers: people and floor areas
_WHOLE_COLUMNS = ("population", "households", "required_m2_full", "spare_capacity", "absorbed_population",
                  "remainder_population", "required_m2", "provided_m2")
RESULT_ZH = {"pass": "符合 pass", "fail": "不符合 fail", "not required": "无需配建 not required"}


@dataclass
class Project:
    """A proposed (or completed) residential project, in the study's metric CRS."""

    name: str
    geometry: object  # shapely Polygon/MultiPolygon/Point
    population: float
    households: float
    notes: list[str] = field(default_factory=list)

    @property
    def point(self):
        return self.geometry if self.geometry.geom_type == "Point" else self.geometry.representative_point()


def _number(value, what: str, where: str) -> float | None:
    """One number as a planner typed it, read as every input number is (geofacility.read.parse_numbers): ``1,234``
    read, ``12,34`` and ``inf`` refused; None when empty."""
    from .read.numbers import NUMBER_FIX, number_problem, parse_numbers

    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() in ("", "nan"):
        return None
    parsed = parse_numbers(pd.Series([value if isinstance(value, (str, int, float)) else str(value)]))
    problem = None if parsed.problem is None else parsed.problem[0]
    if problem is not None:
        raise InputError(f"{where}: {what} {number_problem(value, problem)}; {NUMBER_FIX[problem]}")
    return float(parsed.values[0])


def _positive(value, what: str, label: str) -> float | None:
    number = _number(value, what, label)
    if number is not None and not number > 0:
        raise InputError(f"{label}: {what} {value!r} must be a number > 0")
    return number


def read_project(path, *, crs, population: float | None = None, households: float | None = None,
                 name: str | None = None, people_per_household: float | None = None, coords=None,
                 encoding: str | None = None, aliases=None, log: WarningLog | None = None) -> Project:
    """The project from a polygon or point file (one feature, or several parts of one project: they are
    merged), with households (户数) and/or population (人口) from its attributes or the arguments (which win)."""
    from .read.columns import ALIASES, _rename_columns
    from .read.files import read_layer

    label = str(path)
    gdf = read_layer(path, coords=coords, encoding=encoding, log=log)
    gdf = _rename_columns(gdf, ["name", "population", "households"], aliases or ALIASES)
    gdf = gdf.loc[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty:
        raise InputError(f"{label}: no project geometry; give the project's site as a polygon or a point")
    kinds = set(gdf.geom_type)
    if not kinds <= {"Polygon", "MultiPolygon", "Point"}:
        raise InputError(f"{label}: the project must be a polygon (its site) or a point, found "
                         f"{', '.join(sorted(kinds))}")
    geometry = shapely.union_all(np.asarray(gdf.to_crs(crs).geometry.values))
    notes = []
    if len(gdf) > 1:
        notes.append(f"项目用地由 {len(gdf)} 个图形合并")

    def attribute(column):
        if column not in gdf.columns:
            return None
        values = [_positive(v, column, f"{label}, row {r}") for v, r in zip(gdf[column], gdf["source_row"])
                  if v is not None and str(v).strip() != "" and not (isinstance(v, float) and math.isnan(v))]
        return float(sum(values)) if values else None

    pop = _positive(population, "--population", "review") if population is not None else attribute("population")
    hh = _positive(households, "--households", "review") if households is not None else attribute("households")
    pph = people_per_household if people_per_household and people_per_household > 0 else 2.5
    if pop is None and hh is None:
        raise InputError(f"{label}: the project's households and population are unknown; add a column 户数 "
                         "(households) or 人口 (population), or give --households N / --population N")
    if pop is None:
        pop = hh * pph
        notes.append(f"人口按 {hh:,.0f} 户 × {pph:.2f} 人/户（本研究平均户规模）估算为 {pop:,.0f} 人")
    if hh is None:
        hh = pop / pph
        notes.append(f"户数按 {pop:,.0f} 人 ÷ {pph:.2f} 人/户（本研究平均户规模）估算为 {hh:,.0f} 户")
    title = name or (str(gdf["name"].iloc[0]) if "name" in gdf.columns and pd.notna(gdf["name"].iloc[0])
                     else Path(path).stem)
    return Project(name=title, geometry=geometry, population=pop, households=hh, notes=notes)


def read_planned(path, *, encoding: str | None = None, aliases=None, label_what: str = "planned") -> pd.DataFrame:
    """The facilities a project plans (or has built): a table with category (类别), optional subcategory (子类),
    floor area (建筑面积) and name; coordinates are not needed. Unknown categories stop the review with the row."""
    from .read.columns import ALIASES, _key, _rename_columns, _subcategory_lookup, normalise_category
    from .read.encodings import _read_csv
    from .read.files import read_layer
    from .read.numbers import NUMBER_FIX, number_problem, parse_numbers

    path = Path(path)
    label = str(path)
    if not path.exists():
        raise InputError(f"{label}: file not found; check the path")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{label}: the file is empty; list the {label_what} facilities with 类别 (category) and "
                         "建筑面积 (floor area), one per row")
    if path.suffix.lower() in (".xlsx", ".xls"):
        frame = pd.read_excel(path, dtype=str)
    elif path.suffix.lower() in (".csv", ".txt", ".tsv"):
        frame = _read_csv(path, encoding)
    else:
        frame = pd.DataFrame(read_layer(path, encoding=encoding).drop(columns="geometry"))
    frame = frame.drop(columns=[c for c in ("source_file", "source_row") if c in frame.columns])
    frame = _rename_columns(frame, ["name", "category", "subcategory", "floor_area_m2", "capacity"],
                            aliases or ALIASES)
    if "category" not in frame.columns and "subcategory" not in frame.columns:
        raise InputError(f"{label}: no category column; add 类别 (category) to the list of {label_what} facilities")
    lookup = _subcategory_lookup()
    area_col = frame["floor_area_m2"] if "floor_area_m2" in frame else pd.Series(np.nan, index=frame.index)
    areas = parse_numbers(area_col)  # the whole column at once, as every input number is read
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        where = f"{label}, row {i + 2}"
        raw_cat = rec.get("category")
        raw_sub = rec.get("subcategory")
        cat = normalise_category(pd.Series([raw_cat])).iloc[0] if isinstance(raw_cat, str) else None
        sub_match = lookup.get(_key(raw_sub)) if isinstance(raw_sub, str) and raw_sub.strip() else None
        if cat is None and isinstance(raw_cat, str):
            as_sub = lookup.get(_key(raw_cat))
            if as_sub is not None:
                cat, sub_match = as_sub[0], sub_match or as_sub
        if cat is None and sub_match is not None:
            cat = sub_match[0]
        if cat is None:
            raise InputError(f"{where}: unknown category {raw_cat!r}; use one of {', '.join(CATEGORIES)} or their "
                             "Chinese names (教育, 养老…)")
        problem = None if areas.problem is None else areas.problem[i]
        if problem is not None:
            raise InputError(f"{where}: floor area (m²) {number_problem(area_col.iloc[i], problem)}; "
                             f"{NUMBER_FIX[problem]}")
        area = None if np.isnan(areas.values[i]) else float(areas.values[i])
        if area is not None and area < 0:
            raise InputError(f"{where}: floor area {rec.get('floor_area_m2')!r} must be a number ≥ 0")
        rows.append({"name": str(rec.get("name") or f"{label_what} {i + 1}"), "category": cat,
                     "subcategory": sub_match[1] if sub_match and sub_match[0] == cat else None,
                     "floor_area_m2": area if area is not None else np.nan})
    return pd.DataFrame(rows, columns=["name", "category", "subcategory", "floor_area_m2"])


def review_checks(table: pd.DataFrame, *, choices: dict[str, list[str]] | None = None,
                  surveyed: list[Check] | None = None, jurisdiction: str | None = None) -> list[Check]:
    """The standards a new project is reviewed against, per category: the ``--standard`` choices; else the rows
    the standards table marks ``review`` (built in: kindergarten and primary school; community rooms 30 m² per
    100 households; elderly rooms for new areas 20 m² per 100 households; vegetable market; indoor fitness 0.1 m²
    per resident; health station; canteen), else the category's default — plus the standards the study applied
    to its existing facilities (``surveyed``), whose spare capacity is then counted. Only the standards that apply in
    the study's ``jurisdiction`` (see :func:`geofacility.standards.applicable_standards`; the same as the study's
    checks) are used; a ``--standard`` of another jurisdiction is refused."""
    full = table
    table = applicable_standards(table, jurisdiction)
    for category, subs in (choices or {}).items():
        for sub in subs:
            elsewhere = where_applies(full, category, sub)
            if find_check(table, category, sub) is None and elsewhere:
                raise InputError(f"--standard {category}={sub}: a standard of {'、'.join(elsewhere)}, which does not "
                                 f"apply where this study lies ({jurisdiction or NATIONAL}); give --jurisdiction "
                                 f"{elsewhere[0]} if the project is there, or choose a standard that applies")
    checks: list[Check] = []
    marked = table["review"].fillna("").astype(str).str.strip() != "" if "review" in table.columns else \
        pd.Series(False, index=table.index)
    for category in CATEGORIES:
        if choices and category in choices:
            checks.extend(chosen_checks(table, category, choices[category]))
            continue
        rows = table[(table["category"] == category) & marked]
        own = [check_from_row(r) for _, r in rows.iterrows()] if len(rows) else [default_check(table, category)]
        subs = {c.subcategory for c in own}
        own += [c for c in (surveyed or []) if c.category == category and c.subcategory not in subs]
        checks.extend(own)
    return checks


@dataclass
class Review:
    """One development review (or, with ``as_built``, acceptance) of ``project``: ``table`` holds one row per
    category standard (REVIEW_COLUMNS: required and planned floor areas in m², counts, pass/fail and the
    reasons); ``settings`` what it was run with. :func:`write_review` writes it, :func:`conditions_text` gives the
    规划条件 text."""

    project: Project
    table: pd.DataFrame  # REVIEW_COLUMNS, one row per category standard
    as_built: bool
    settings: dict


def _spare_capacity(analysis, check: Check, siblings: list[Check], project: Project
                    ) -> tuple[float, list[str], int]:
    """Residents the existing facilities of ``check`` within its radius of the project can still take: capacity
    minus what the study's allocation already gives them (nearest first; see geofacility.capacity), the parts
    (facility, spare, capacity, allocated, distance) and how many facilities in use are within reach at all (full
    ones too). Facilities count for ``check`` among its ``siblings`` (the category's standards) as in coverage: by
    subcategory."""
    from dataclasses import replace

    from .capacity import capacity_split, reach_pairs
    from .network import WalkingDistance

    if analysis is None or check.category not in set(analysis.surveyed):
        return 0.0, [], 0
    view = replace(analysis, checks=siblings)
    result = capacity_split(view, check.category, method="allocate", check=check)
    if result is None:
        return 0.0, [], 0
    loads = result.facilities  # the check's facilities, in the order the allocation took them (facility_id)
    geoms = analysis.facilities.set_index("facility_id").geometry.loc[loads["facility_id"]].values
    walking = isinstance(analysis.measure, WalkingDistance)
    # on foot from the site's point; in a straight line from the site itself (any facility within r of its edge)
    origin = np.array([project.point if walking else project.geometry])
    _, f_idx, dist = reach_pairs(analysis.measure, origin, geoms, check.radius_m)
    loads = loads.iloc[f_idx]
    spare = np.maximum(loads["capacity"].to_numpy() - loads["allocated"].to_numpy(), 0.0)
    order = np.argsort(dist, kind="stable")
    parts = [f"{loads['name'].iloc[i]} {spare[i]:,.0f}（容量 {loads['capacity'].iloc[i]:,.0f} − 已分配 "
             f"{loads['allocated'].iloc[i]:,.0f}，距 {dist[i]:,.0f} 米）" for i in order if spare[i] >= 0.5]
    return float(spare.sum()), parts, int(len(np.unique(f_idx)))


def _not_in_use_near(analysis, check: Check, siblings: list[Check], project: Project) -> str:
    """The facilities of ``check`` that are not in use (状态 规划/在建/未移交: :attr:`Analysis.not_in_use`) within its
    radius of the project, measured as the spare capacity is: ``在建 1 处`` (``、``-joined; '' when none). They are
    not counted as spare capacity."""
    from .capacity import reach_pairs
    from .coverage import facility_checks
    from .network import WalkingDistance
    from .stages import _STATUS_TEXT, STATUSES

    others = getattr(analysis, "not_in_use", None) if analysis is not None else None
    if others is None or not len(others) or not check.radius_m:
        return ""
    mask = facility_checks(others, siblings).get(check)
    if mask is None or not mask.any():
        return ""
    fac = others.loc[mask]
    walking = isinstance(analysis.measure, WalkingDistance)
    origin = np.array([project.point if walking else project.geometry])
    _, f_idx, _ = reach_pairs(analysis.measure, origin, fac.geometry.values, check.radius_m)
    status = fac["status"].to_numpy(dtype=object)[np.unique(f_idx)]
    return "、".join(f"{_STATUS_TEXT[s]} {int((status == s).sum())} 处" for s in STATUSES[:3] if (status == s).any())


def _provided(planned: pd.DataFrame, check: Check, siblings: list[Check]) -> tuple[int, float, int, list[str]]:
    """Facilities of ``planned`` that count for ``check``: count (each at least the minimum size), floor area,
    how many are too small, and their names."""
    same = planned.loc[planned["category"] == check.category]
    if len(siblings) > 1:
        same = same.loc[(same["subcategory"] == check.subcategory) | same["subcategory"].isna()]
    area = same["floor_area_m2"].to_numpy(dtype="float64")
    small = (~np.isnan(area)) & (area < (check.min_building_m2 or 0.0))
    return int((~small).sum()), float(np.nansum(area)), int(small.sum()), same["name"].tolist()


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


def _surveyed_here(analysis, check: Check, project: Project) -> bool:
    """Whether the study surveyed the existing facilities ``check`` counts where the project lies: its category was
    surveyed, the study applied this standard to the facilities found (a category surveyed for primary schools
    says nothing of kindergartens), and the project's community is not outside the category's survey extent."""
    if analysis is None or check.category not in set(analysis.surveyed):
        return False
    if check.subcategory not in {c.subcategory for c in analysis.checks if c.category == check.category}:
        return False
    status = f"{check.category}_status"
    comm = analysis.communities
    if status in comm.columns and len(comm):
        import geopandas as gpd

        from .coverage import containing_community

        where = containing_community(comm, gpd.GeoDataFrame(geometry=[project.point], crs=comm.crs))[0]
        if where >= 0 and comm[status].iloc[where] == "not_surveyed":
            return False
    return True


#: the local rules that refuse acceptance of a project without its facilities, by where they apply
ACCEPTANCE_RULES = (
    ("北京市", "西政办发〔2011〕10号“未建设……或者未达到标准的，不得通过验收”"),
    ("山东省", "张政办字〔2020〕13号“社区配套设施要与住宅同步建设、同步验收、同步交付”"),
)


def _acceptance_basis(jurisdiction: str | None) -> str:
    """The closing line of an acceptance opinion: the local rules that apply where the project is (every one when
    no jurisdiction was chosen), else the planning conditions themselves."""
    rules = [text for where, text in ACCEPTANCE_RULES if jurisdiction is None or applies_in(where, jurisdiction)]
    if rules:
        return f"（依据：{'；'.join(rules)}。）"
    return "（依据：本项目规划条件，配套设施未按要求建设或未达到标准的，不得通过验收。）"


#: what a planning condition says of an area-serving facility whose existing ones were not surveyed
NOT_SURVEYED_ZH = "周边设施未调查，按标准全额配建或补充调查后核定"


def review_project(project: Project, checks: list[Check], *, analysis=None, planned: pd.DataFrame | None = None,
                   as_built: bool = False) -> Review:
    """The review table of ``project`` against ``checks`` (one row each): see the module docstring. Where the
    existing facilities of an area-serving standard were not surveyed, nothing is taken as spare capacity and the
    row says 未调查 (``survey``): the whole demand must be provided, or the facilities surveyed first."""
    planned = planned if planned is not None else pd.DataFrame(columns=["name", "category", "subcategory",
                                                                        "floor_area_m2"])
    rows = []
    pop, hh = project.population, project.households
    verb = "已建" if as_built else "拟建"
    for check in checks:
        siblings = [c for c in checks if c.category == check.category]
        reasons = []
        full_count = float(check.required_count(pop))
        full_m2 = float(check.required_area(pop, hh))
        spare, spare_from, absorbed, survey = np.nan, "", 0.0, ""
        if check.level in STREET_LEVELS:
            req_count, req_m2, remainder = 0.0, 0.0, 0.0
            reasons.append("街道级设施，由街道统筹配置，不由单个项目配建")
        elif check.level in AREA_LEVELS and check.radius_m:
            surveyed = _surveyed_here(analysis, check, project)
            survey = "已调查" if surveyed else "未调查"
            spare, parts, n_reach = (_spare_capacity(analysis, check, siblings, project) if surveyed
                                     else (0.0, [], 0))
            spare_from = "；".join(parts)
            absorbed = min(pop, spare)
            remainder = pop - absorbed
            within = f"服务半径 {check.radius_m:g} 米内"
            pending = _not_in_use_near(analysis, check, siblings, project) if surveyed else ""
            if not surveyed:
                spare = np.nan
                reasons.append(f"{within}现有{check.name_zh}未调查，未计剩余容量，按标准全额配建或补充调查后核定")
            elif absorbed > 0:
                reasons.append(f"{within}现有设施剩余容量 {_fmt(spare)} 人，可承接 {_fmt(absorbed)} 人（{spare_from}）"
                               + (f"；另有{pending}，未计入" if pending else ""))
            elif n_reach == 0:  # nothing in use within reach: not "no spare capacity", there is no facility
                reasons.append(f"{within}无在用的{check.name_zh}" + (f"（{pending}，未计入）" if pending else ""))
            else:  # facilities in use within reach, all full
                reasons.append(f"{within}现有{check.name_zh} {n_reach} 处，均已满，无剩余容量"
                               + (f"；另有{pending}，未计入" if pending else ""))
            if remainder <= 0.5:
                req_count, req_m2, remainder = 0.0, 0.0, 0.0
            else:
                req_count = float(check.required_count(remainder))
                req_m2 = float(check.required_area(remainder, remainder / pop * hh))
                reasons.append(f"其余 {_fmt(remainder)} 人需新配建")
        else:
            req_count, req_m2, remainder = full_count, full_m2, pop
            reasons.append("项目内配建指标，按项目户数、人口全额配建")
        n, area, too_small, names = _provided(planned, check, siblings)
        area_rule = check.has_area_rule and not math.isnan(req_m2)
        if req_count <= 0 and (not area_rule or req_m2 <= 0):
            result = "not required"
        else:
            short = []
            if n < req_count:
                short.append(f"{verb} {n} 处，少于需配建 {req_count:.0f} 处")
            if area_rule and area + 1e-9 < req_m2:
                short.append(f"{verb}面积 {_fmt(area)} m²，少于需配建 {_fmt(req_m2)} m²")
            if too_small:
                short.append(f"{too_small} 处小于单处最小面积 {check.min_building_m2:g} m²，不计入处数")
            result = "fail" if short else "pass"
            reasons.extend(short)
            if not short:
                reasons.append(f"{verb} {n} 处、{_fmt(area)} m²，满足要求")
        rows.append({
            "category": check.category, "category_zh": CATEGORY_LABELS_ZH[check.category],
            "subcategory": check.subcategory, "name_zh": check.name_zh, "standard": label_zh(check),
            "jurisdiction": check.jurisdiction or "自定", "citation": citation_zh(check), "level": check.level,
            "radius_m": check.radius_m if check.radius_m else np.nan, "population": pop, "households": hh,
            "survey": survey,
            "required_count_full": full_count, "required_m2_full": full_m2, "spare_capacity": spare,
            "spare_from": spare_from, "absorbed_population": absorbed, "remainder_population": remainder,
            "required_count": req_count, "required_m2": req_m2 if area_rule else np.nan, "provided_count": n,
            "provided_m2": area, "result": result, "reasons": "；".join(reasons),
        })
    table = pd.DataFrame(rows, columns=REVIEW_COLUMNS)
    settings = {} if analysis is None else dict(analysis.settings or {})
    return Review(project=project, table=table, as_built=as_built, settings=settings)


def _facility_zh(rec: dict) -> str:
    """社区教育设施（幼儿园）; 社区食堂 when the standard is named as its category."""
    return rec["category_zh"] if rec["name_zh"] == rec["category_zh"] else f"{rec['category_zh']}（{rec['name_zh']}）"


def conditions_text(review: Review) -> str:
    """规划条件 (planning conditions) or 竣工验收意见 (completion-acceptance opinion), ready to paste: in Chinese
    throughout (facility names, the standards' Chinese citations and where they apply), citing only the standards
    the review applied (those of the study's jurisdiction)."""
    p = review.project
    t = review.table
    head = f"{p.name}（规划居住 {_fmt(p.households)} 户、约 {_fmt(p.population)} 人）"
    lines = []
    if not review.as_built:
        lines.append(f"{head}社区配套设施规划条件：")
        lines.append("一、本项目应配套建设下列社区公共服务设施，与住宅同步规划、同步建设、同步验收、同步交付，"
                     "建设内容、产权归属和移交要求纳入供地条件：")
        k = 0
        for rec in t.to_dict("records"):
            if rec["result"] == "not required":
                continue
            k += 1
            parts = []
            if rec["required_count"] > 0:
                parts.append(f"{rec['required_count']:.0f} 处")
            if not pd.isna(rec["required_m2"]) and rec["required_m2"] > 0:
                parts.append(f"建筑面积合计不少于 {_fmt(rec['required_m2'])} m²")
            if rec["survey"] == "未调查":
                parts.append(f"{NOT_SURVEYED_ZH}")
            lines.append(f"{k}. {_facility_zh(rec)}：{'，'.join(parts)}；依据：{rec['citation']}。")
        if k == 0:
            lines.append("（经核算，现有设施剩余容量可满足本项目需求，无需另行配建。）")
        served = t.loc[(t["result"] == "not required") & (t["absorbed_population"] > 0)]
        if len(served):
            lines.append("二、下列设施由周边现有设施剩余容量承接，不另行配建：" + "；".join(
                f"{r['category_zh']}（{r['name_zh']}：{r['spare_from']}）" for r in served.to_dict("records")) + "。")
        lines.append(f"{'三' if len(served) else '二'}、配套设施未按上述要求建设或未达到标准的，不得通过竣工验收。")
    else:
        failed = t.loc[t["result"] == "fail"]
        lines.append(f"{head}社区配套设施竣工验收意见：")
        if failed.empty:
            lines.append("经核查，本项目已按规划条件和标准配建社区配套设施，同意通过社区配套设施专项验收。")
        else:
            lines.append("经核查，本项目下列社区配套设施未按要求配建，暂不通过验收，整改完成后重新申请：")
            for k, rec in enumerate(failed.to_dict("records"), 1):
                lines.append(f"{k}. {_facility_zh(rec)}：{rec['reasons']}；依据：{rec['citation']}。")
            lines.append(_acceptance_basis(review.settings.get("jurisdiction")))
    for note in p.notes:
        lines.append(f"注：{note}")
    return "\n".join(lines) + "\n"


def _sheet_text(column: str, value: str) -> str:
    """A text cell of review.xlsx in Chinese (review.csv keeps the keys): the result 符合/不符合/无需配建, the level
    十分钟生活圈…, the standard with its Chinese status (:func:`geofacility.standards.label_zh`)."""
    if column == "result":
        return RESULT_ZH.get(value, value).split(" ")[0]
    if column == "level":
        return LEVEL_ZH.get(value, value)
    return value


def write_review(review: Review, out_dir) -> dict[str, Path]:
    """``review.csv`` (the table), ``review.xlsx`` (table and text) and ``conditions.md`` (the text, and the table
    in Markdown), written atomically."""
    import contextlib

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    from .atomic import atomic_path
    from .ledger import safe_cell_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "acceptance" if review.as_built else "review"
    paths = {"csv": out_dir / f"{stem}.csv", "xlsx": out_dir / f"{stem}.xlsx", "md": out_dir / f"{stem}.md"}
    table = review.table
    text = conditions_text(review)
    shown = table.copy()
    for col in ("required_count_full", "required_count", "provided_count"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    for col in ("population", "households", "required_m2_full", "spare_capacity", "absorbed_population",
                "remainder_population", "required_m2", "provided_m2", "radius_m"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    with contextlib.ExitStack() as stack:
        tmp = {k: stack.enter_context(atomic_path(p)) for k, p in paths.items()}
        shown.assign(**{c: shown[c].map(safe_cell_text) for c in ("standard", "citation", "spare_from",
                                                                  "reasons")}).to_csv(
            tmp["csv"], index=False, encoding="utf-8-sig")
        wb = Workbook()
        ws = wb.active
        ws.title = "验收 acceptance" if review.as_built else "审查 review"
        ws.append([safe_cell_text(f"{review.project.name} — {'竣工验收核查' if review.as_built else '配建审查'}")])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append([_HEADER_ZH[c] for c in REVIEW_COLUMNS])
        for rec in table.to_dict("records"):
            ws.append([None if (not isinstance(rec[c], str) and pd.isna(rec[c])) else
                       (safe_cell_text(_sheet_text(c, rec[c])) if isinstance(rec[c], str) else rec[c])
                       for c in REVIEW_COLUMNS])
        for cell in ws[2]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        # people as whole persons and floor areas in whole m² on screen (the cells keep the computed values)
        for i, c in enumerate(REVIEW_COLUMNS, start=1):
            if c in _WHOLE_COLUMNS:
                for (cell,) in ws.iter_rows(min_row=3, min_col=i, max_col=i):
                    cell.number_format = "#,##0"
        cond = wb.create_sheet("验收意见 opinion" if review.as_built else "规划条件 conditions")
        for line in text.splitlines():
            cond.append([safe_cell_text(line)])
        cond.column_dimensions["A"].width = 120
        wb.save(tmp["xlsx"])
        md = [f"# {review.project.name} — {'竣工验收核查' if review.as_built else '配建审查'}",
              "", "| 类别 | 标准 | 需配建 | 需配建面积 m² | " + ("已建" if review.as_built else "拟建")
              + " | 面积 m² | 结论 | 理由 |", "|---|---|---|---|---|---|---|---|"]
        for rec in table.to_dict("records"):
            cells = [rec["category_zh"], rec["name_zh"], f"{rec['required_count']:.0f}",
                     "" if pd.isna(rec["required_m2"]) else _fmt(rec["required_m2"]), str(rec["provided_count"]),
                     _fmt(rec["provided_m2"]), RESULT_ZH[rec["result"]].split(" ")[0], rec["reasons"]]
            md.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        md += ["", "```text", text.rstrip(), "```", ""]
        tmp["md"].write_text("\n".join(md), encoding="utf-8")
    return paths
