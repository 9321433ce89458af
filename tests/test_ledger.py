"""The ledger: ledger.csv, the Attachment-3 workbook and coverage.gpkg, on a three-community world checked by hand.

The world: two towns, three 500 m squares in EPSG:32650.

| id | town     | community                | households | population | education                          |
|----|----------|--------------------------|-----------:|-----------:|------------------------------------|
| c1 | 车站街道 | 华光社区                  | 1720       | 5000       | gap: 3100 of 5000 covered (62%), 0 of 1 primary school |
| c2 | +cmd     | =HYPERLINK("http://x")   | unknown    | 2851       | ok: all covered, 1 of 1            |
| c3 | 车站街道 | 科苑社区                  | 400        | 3200.44    | ok: all covered, 2 of 1            |

Only education is surveyed (primary school, r = 500 m); the six other categories are not surveyed.
Ledger order (town, then community_id): c2 (“+” sorts before CJK), c1, c3.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
from pyproj import CRS
from shapely.geometry import Point, box

from geofacility.ledger import write as ledger_write
from geofacility.ledger import (
    current_text,
    households_population_text,
    ledger_columns,
    ledger_table,
    problem_text,
    read_ledger_csv,
    safe_cell_text,
    standard_text,
    unescape_cell_text,
    write_ledger,
)
from geofacility.errors import InputError
from geofacility.pipeline import Analysis
from geofacility.standards import CATEGORIES, CATEGORY_LABELS_ZH, find_check, load_standards

NAN = math.nan
NOT_SURVEYED_TAIL = "未调查：医疗卫生、社区用房、养老、便民商业、体育、食堂"
EVIL_NAME = '=HYPERLINK("http://x")'


@pytest.fixture(scope="module")
def standards():
    return load_standards()


@pytest.fixture(scope="module")
def primary(standards):
    return find_check(standards, "education", "primary_school")


def _category(status="not_surveyed", **values):
    row = {
        "status": status,
        "standard": "",
        "radius_m": NAN,
        "covered_share": NAN,
        "covered_population": NAN,
        "uncovered_population": NAN,
        "required_count": NAN,
        "current_count": NAN,
        "count_gap": NAN,
        "required_m2": NAN,
        "current_m2": NAN,
        "gap_m2": NAN,
        "served_population": NAN,
        "over_capacity_population": NAN,
        "out_of_reach_population": NAN,
        "problem": "未调查" if status == "not_surveyed" else "",
    }
    row.update(values)
    return row


def _community(cid, name, town, households, population, education, n_short, square):
    row = {
        "community_id": cid,
        "community": name,
        "town": town,
        "population": population,
        "households": households,
        "approximate": False,
        "distance_method": "euclidean",
        "n_categories_short": n_short,
    }
    for category in CATEGORIES:
        values = education if category == "education" else _category()
        row.update({f"{category}_{field}": value for field, value in values.items()})
    row["geometry"] = square
    return row


def _square(x, y):
    return box(500000 + x, 4070000 + y, 500500 + x, 4070500 + y)


@pytest.fixture(scope="module")
def analysis(primary):
    edu = dict(standard=primary.label, radius_m=500.0, required_count=1.0)
    rows = [
        # listed out of ledger order on purpose
        _community("c3", "科苑社区", "车站街道", 400.0, 3200.44,
                   _category("ok", covered_share=1.0, covered_population=3200.44, uncovered_population=0.0,
                             current_count=2.0, count_gap=0.0, **edu), 0, _square(1000, 0)),
        _community("c1", "华光社区", "车站街道", 1720.0, 5000.0,
                   _category("gap", covered_share=0.62, covered_population=3100.0, uncovered_population=1900.0,
                             current_count=0.0, count_gap=1.0, problem="覆盖率 62%，缺 1 处", **edu),
                   1, _square(0, 0)),
        _community("c2", EVIL_NAME, "+cmd", NAN, 2851.0,
                   _category("ok", covered_share=1.0, covered_population=2851.0, uncovered_population=0.0,
                             current_count=1.0, count_gap=0.0, **edu), 0, _square(0, 1000)),
    ]
    crs = CRS.from_epsg(32650)
    communities = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    demand = gpd.GeoDataFrame(
        {
            "demand_id": ["d1", "d2", "d3"],
            "community_id": ["c1", "c1", None],
            "weight": [3100.0, 1900.0, 12.0],
            "dist_education_m": [320.0, 740.0, np.inf],
        },
        geometry=[Point(500100, 4070100), Point(500450, 4070450), Point(499000, 4069000)],
        crs=crs,
    )
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": ["f1"],
            "name": ["华光路小学"],
            "category": ["education"],
            "subcategory": ["primary_school"],
            "floor_area_m2": [NAN],
            "source_file": ["facilities.csv"],
            "source_row": [2],
        },
        geometry=[Point(499800, 4070100)],
        crs=crs,
    )
    warnings = pd.DataFrame(
        [{"file": "communities.csv", "row": "7", "severity": "warning", "message": "户数缺失，已留空"}]
    )
    return Analysis(
        communities=communities,
        demand=demand,
        facilities=facilities,
        towns=None,
        checks=[primary],
        warnings=warnings,
        crs=crs,
        surveyed=["education"],
        settings={"study": "张店区", "distance": "euclidean", "coverage_target": 1.0},
    )


@pytest.fixture(scope="module")
def written(analysis, tmp_path_factory):
    return write_ledger(analysis, tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def ws(written):
    return openpyxl.load_workbook(written["xlsx"])["台账 ledger"]


# ------------------------------------------------------------------------------------------------- columns


def test_ledger_columns_follow_the_data_model():
    columns = ledger_columns()
    assert columns[:8] == [
        "community_id", "community", "town", "population", "households", "approximate", "distance_method",
        "n_categories_short",
    ]
    assert columns[8:28] == [
        "education_status", "education_standard", "education_radius_m", "education_covered_share",
        "education_covered_population", "education_uncovered_population", "education_required_count",
        "education_current_count", "education_count_gap", "education_required_m2", "education_current_m2",
        "education_gap_m2", "education_served_population", "education_over_capacity_population",
        "education_out_of_reach_population", "education_problem", "education_below_minimum", "education_problem_stage",
        "education_not_in_use", "education_by_standard",
    ]
    # below_minimum (the facilities too small to count, in words) was added after the first ledgers, then the
    # problem stage and the facilities not in use, then each standard's figures
    assert columns[24] == "education_below_minimum"
    assert len(columns) == 8 + 20 * 7
    assert columns[-20] == "canteen_status"
    assert "geometry" not in columns


def test_ledger_table_sorted_typed_rounded(analysis):
    table = ledger_table(analysis.communities)
    assert list(table["community_id"]) == ["c2", "c1", "c3"]
    assert table.loc[2, "population"] == 3200  # people are whole in the ledger (4709, not 4709.0 or 3200.4)
    assert table.loc[2, "education_covered_population"] == 3200
    assert table["n_categories_short"].dtype == "int64"
    assert table["approximate"].dtype == bool
    assert table.loc[1, "health_status"] == "not_surveyed"


def test_missing_ledger_column_is_named(analysis):
    with pytest.raises(ValueError, match="education_gap_m2"):
        ledger_table(analysis.communities.drop(columns=["education_gap_m2"]))


# ------------------------------------------------------------------------------------------------- cell texts


@pytest.mark.parametrize(
    "raw, shown",
    [
        (EVIL_NAME, "'" + EVIL_NAME),
        ("+cmd", "'+cmd"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'quoted", "''quoted"),
        ("华光社区", "华光社区"),
        ("a=b", "a=b"),
        ("bell\x07", "bell"),
        (None, ""),
        (NAN, ""),
        (12, "12"),
    ],
)
def test_safe_cell_text(raw, shown):
    assert safe_cell_text(raw) == shown


@pytest.mark.parametrize("raw", [EVIL_NAME, "+cmd", "'quoted", "''x", "'=x", "华光社区", ""])
def test_unescape_undoes_safe_cell_text(raw):
    assert unescape_cell_text(safe_cell_text(raw)) == raw


def test_households_population_text():
    assert households_population_text(1234.0, 2851.0) == "1,234户\\2,851人"
    assert households_population_text(NAN, 2851.0) == "—\\2,851人"


def test_area_standard_and_current(standards):
    rooms = find_check(standards, "community_service", "community_rooms_beijing")
    row = {
        "community_service_status": "gap",
        "community_service_radius_m": NAN,
        "community_service_required_count": 1.0,
        "community_service_required_m2": 350.0,
        "community_service_current_count": 1.0,
        "community_service_current_m2": 120.0,
    }
    assert standard_text(row, "community_service", [rooms]) == "社区办公和服务用房；≥1 处；≥350 m²"
    assert current_text(row, "community_service") == "现有 1 处；面积 120 m²"
    row["community_service_current_m2"] = NAN
    assert current_text(row, "community_service") == "现有 1 处；面积未知"


def test_partial_coverage_is_never_shown_as_100_percent():
    row = {"education_status": "gap", "education_covered_share": 0.996,
           "education_covered_population": 996.0, "education_uncovered_population": 4.0}
    assert current_text(row, "education") == "覆盖 99%（996/1,000 人）"


def test_problem_text_lists_gaps_with_their_stage_and_numbers_and_no_not_surveyed():
    """存在问题 names each gap's stage (规划、建设、移交、使用) and its numbers; 未调查 is said once, under the title."""
    row = {f"{c}_status": "not_surveyed" for c in CATEGORIES}
    row.update(education_status="gap", education_problem="覆盖率 62%，缺 1 处", education_covered_share=0.62,
               education_covered_population=3100.0, education_uncovered_population=1900.0,
               education_current_count=0.0, education_count_gap=1.0,
               community_service_status="gap", community_service_problem="面积缺口 230 m²",
               community_service_current_count=1.0, community_service_count_gap=0.0,
               community_service_required_m2=350.0, community_service_current_m2=120.0,
               community_service_gap_m2=230.0,
               sports_status="ok", sports_problem="")
    assert problem_text(row) == ("教育【规划】缺 1 处，1,900 人未覆盖（覆盖率 62%）；"
                                 "社区用房【使用】面积缺口 230 m²")
    assert problem_text({f"{c}_status": "ok" for c in CATEGORIES}) == ""


# ------------------------------------------------------------------------------------------------- workbook


def test_workbook_title_has_standards_note_and_no_date(ws):
    title = ws["A1"].value
    assert title == ("张店区社区配套设施排查台账\n按标准：小学（详见“采用标准 standards”表）；距离：直线；覆盖目标：100%\n"
                     "未调查类别：医疗卫生、社区用房、养老、便民商业、体育、食堂（无设施数据，不计缺口）")
    assert "A1:X1" in {str(r) for r in ws.merged_cells.ranges}  # 23 columns and 社区编码


def test_workbook_three_row_header_as_attachment_3(ws):
    """Rows 2–4: 序号 … spanning all three; 既有社区配套设施排查摸底情况 over the category columns (row 2), each
    category (row 3), 标准/现状 (row 4); 整治方案 over its three sub-headings."""
    merged = {str(r) for r in ws.merged_cells.ranges}
    for ref, text in [("A2", "序号"), ("B2", "镇办"), ("C2", "社区"), ("D2", "户数\\人口")]:
        assert ws[ref].value == text
        assert f"{ref}:{ref[0]}4" in merged
    assert ws["E2"].value == "既有社区配套设施排查摸底情况" and "E2:R2" in merged
    headings = [ws.cell(row=3, column=5 + 2 * i).value for i in range(len(CATEGORIES))]
    assert headings == [f"{CATEGORY_LABELS_ZH[c]}（标准、现状）" for c in CATEGORIES]
    assert headings[0] == "社区教育设施（标准、现状）"
    assert "E3:F3" in merged and "Q3:R3" in merged
    assert [ws.cell(row=4, column=c).value for c in range(5, 19)] == ["标准", "现状"] * 7
    assert ws["S2"].value == "存在问题（规划、建设、移交、使用）" and "S2:S4" in merged
    assert ws["T2"].value == "整治方案" and "T2:V3" in merged
    assert [ws["T4"].value, ws["U4"].value, ws["V4"].value] == ["牵头单位", "责任单位", "完成时限"]
    assert ws["W2"].value == "备注（需区领导小组解决问题）" and "W2:W4" in merged
    # the community id each row belongs to, by which a re-run finds the planner's entries (with a note on it)
    assert ws["X2"].value == "社区编码" and "X2:X4" in merged and "请勿修改" in ws["X2"].comment.text
    assert [ws.cell(row=r, column=24).value for r in (5, 6, 7)] == [
        ws.parent["明细 data"].cell(row=r - 3, column=1).value for r in (5, 6, 7)]
    assert ws.max_column == 24


def test_workbook_one_row_per_community(ws):
    assert ws.max_row == 7
    assert [ws.cell(row=r, column=1).value for r in (5, 6, 7)] == [1, 2, 3]
    assert ws["C6"].value == "华光社区" and ws["B6"].value == "车站街道"
    assert ws["C7"].value == "科苑社区"
    assert ws["D5"].value == "—\\2,851人"
    assert ws["D6"].value == "1,720户\\5,000人"
    assert ws["D7"].value == "400户\\3,200人"  # whole people in the workbook and in ledger.csv


def test_workbook_cells_of_the_gap_community(ws):
    assert ws["E6"].value == "小学 ≤500 m 全覆盖；≥1 处"
    assert ws["F6"].value == "覆盖 62%（3,100/5,000 人）；现有 0 处"
    assert ws["F7"].value == "覆盖 100%（3,200/3,200 人）；现有 2 处"
    # no school in or near it, none planned: a planning problem (规划), with the numbers
    assert ws["S6"].value == "教育【规划】缺 1 处，1,900 人未覆盖（覆盖率 62%）"
    assert ws["S5"].value is None  # nothing short; the categories not surveyed are said once, under the title
    # 整治方案 and 备注 are the planner's
    assert all(ws.cell(row=r, column=c).value is None for r in (5, 6, 7) for c in range(20, 24))


def test_not_surveyed_is_never_zero_facilities(ws):
    for row in (5, 6, 7):
        for i in range(1, len(CATEGORIES)):  # every category but education
            current = ws.cell(row=row, column=6 + 2 * i)
            assert current.value == "未调查"
            assert current.fill.fgColor.rgb.endswith("D9D9D9")
            assert ws.cell(row=row, column=5 + 2 * i).value == "—"


def test_status_fills(ws):
    assert ws["F6"].fill.fgColor.rgb.endswith("FFC7CE")  # gap
    assert ws["F5"].fill.fgColor.rgb.endswith("C6EFCE")  # ok


def test_formula_like_names_are_neutralised(ws, written):
    for ref, raw in [("C5", EVIL_NAME), ("B5", "+cmd")]:
        cell = ws[ref]
        assert cell.value == "'" + raw
        assert cell.data_type == "s"
    data = openpyxl.load_workbook(written["xlsx"])["明细 data"]
    columns = [c.value for c in data[1]]
    evil = data.cell(row=2, column=columns.index("community") + 1)
    assert not evil.value.startswith("=") and evil.data_type == "s"
    with open(written["csv"], encoding="utf-8-sig") as f:
        text = f.read()
    assert "\n=" not in text and ",=" not in text and ",+cmd" not in text


def test_freeze_print_and_layout(ws):
    assert ws.freeze_panes == "D5"
    assert ws.print_title_rows in ("2:4", "$2:$4")
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth == 1
    assert ws["S6"].alignment.wrap_text
    assert ws["S6"].border.left.style == "thin"
    assert ws.column_dimensions["S"].width == 40


def test_warnings_sheet(written):
    sheet = openpyxl.load_workbook(written["xlsx"])["警告 warnings"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows == [("文件 file", "行 row", "级别 severity", "说明 message"),
                    ("communities.csv", 7, "警告", "户数缺失，已留空")]  # issue 14: the severity in Chinese (提示/警告)


def test_empty_warnings_say_so(analysis, tmp_path):
    quiet = Analysis(**{**analysis.__dict__, "warnings": pd.DataFrame(columns=["file", "row", "severity", "message"])})
    sheet = openpyxl.load_workbook(write_ledger(quiet, tmp_path)["xlsx"])["警告 warnings"]
    assert [c.value for c in sheet[2]] == [None, None, "提示", "无警告"]  # issue 14: in Chinese


def test_standards_sheet_lists_the_checks(written, primary):
    sheet = openpyxl.load_workbook(written["xlsx"])["采用标准 standards"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    # the sheet is in Chinese (issue 14): codes only in the last two columns, status as 已核实/部分核实/未核实 text
    assert header[:5] == ("设施类别", "名称", "适用地区", "层级", "统计范围")
    assert len(rows) == 4  # one standard, a blank row, the note on where the study lies
    record = dict(zip(header, rows[1]))
    assert record["子类代码 subcategory"] == "primary_school" and record["名称"] == "小学"
    assert record["服务半径 m"] == 500 and record["单处服务人口上限"] == 25000
    assert record["统计范围"] == "服务半径内计" and record["层级"] == "十分钟生活圈"
    assert record["适用地区"] == "全国"
    assert record["来源"] == primary.source
    assert record["状态"].startswith("已核实：服务半径≤500米") and "（来源：GB 50180-93（2016年版）表A.0.3）" in record["状态"]
    assert rows[3][0].startswith("本研究所在地：")


def test_data_sheet_is_the_csv_table(written, analysis):
    sheet = openpyxl.load_workbook(written["xlsx"])["明细 data"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == ledger_columns()
    assert len(rows) == 4
    record = dict(zip(rows[0], rows[2]))
    assert record["community_id"] == "c1" and record["education_covered_share"] == 0.62
    assert record["households"] == 1720 and record["health_covered_share"] is None
    assert record["education_problem_stage"] == "规划" and record["health_problem_stage"] in (None, "")


# ------------------------------------------------------------------------------------------------- CSV


def test_csv_columns_rows_and_bom(written):
    raw = written["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").split("\n")
    assert lines[0].split(",") == ledger_columns()
    assert lines[-1] == "" and len(lines) == 5  # header + 3 rows + final newline
    # people and counts are whole numbers (5000, not 5000.0); the gap's stage follows its problem
    assert lines[2].startswith("c1,华光社区,车站街道,5000,1720,False,euclidean,1,gap,")
    assert ",500.0,0.6200,3100,1900,1,0,1,,,,,,,覆盖率 62%，缺 1 处,,规划," in lines[2]
    assert lines[1].startswith("c2,\"'=HYPERLINK(\"\"http://x\"\")\",'+cmd,2851,,False,euclidean,0,ok,")


def test_csv_is_byte_identical_across_runs(analysis, written, tmp_path):
    again = write_ledger(analysis, tmp_path)
    assert again["csv"].read_bytes() == written["csv"].read_bytes()
    shuffled = Analysis(**{**analysis.__dict__, "communities": analysis.communities.iloc[::-1]})
    assert write_ledger(shuffled, tmp_path / "b")["csv"].read_bytes() == written["csv"].read_bytes()


def test_read_ledger_csv_round_trip(written, analysis):
    back = read_ledger_csv(written["csv"])
    pd.testing.assert_frame_equal(back, ledger_table(analysis.communities))
    assert back.loc[0, "community"] == EVIL_NAME and back.loc[0, "town"] == "+cmd"
    assert math.isnan(back.loc[0, "households"])


def test_read_ledger_csv_names_a_bad_column(written, tmp_path):
    text = written["csv"].read_text(encoding="utf-8-sig").replace(",0.6200,", ",lots,")
    (tmp_path / "bad.csv").write_text(text, encoding="utf-8-sig")
    with pytest.raises(InputError, match="education_covered_share"):
        read_ledger_csv(tmp_path / "bad.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a geofacility ledger.csv"):
        read_ledger_csv(tmp_path / "other.csv")


def test_a_ledger_from_before_the_capacity_columns_still_reads(written, tmp_path):
    """October's ledger, filed before the capacity split existed, must still diff against November's."""
    old = pd.read_csv(written["csv"], dtype=str, keep_default_na=False, encoding="utf-8-sig")
    old = old.drop(columns=[c for c in old.columns if c.endswith(("_served_population", "_over_capacity_population",
                                                                   "_out_of_reach_population"))])
    old.to_csv(tmp_path / "old.csv", index=False, encoding="utf-8-sig")
    table = read_ledger_csv(tmp_path / "old.csv")
    assert list(table.columns) == ledger_columns()
    assert table["education_served_population"].isna().all()
    assert table["education_status"].tolist() == read_ledger_csv(written["csv"])["education_status"].tolist()


# ------------------------------------------------------------------------------------------------- GeoPackage


def test_gpkg_layers(written):
    layers = dict(pyogrio.list_layers(written["gpkg"]))
    assert set(layers) == {"communities", "demand", "facilities"}
    communities = gpd.read_file(written["gpkg"], layer="communities")
    assert list(communities.columns) == [*ledger_columns(), "geometry"]
    assert list(communities["community_id"]) == ["c2", "c1", "c3"]
    assert communities.crs.to_epsg() == 32650
    assert communities.geometry.iloc[1].equals(_square(0, 0))
    demand = gpd.read_file(written["gpkg"], layer="demand")
    assert len(demand) == 3 and np.isinf(demand["dist_education_m"].iloc[2])
    assert len(gpd.read_file(written["gpkg"], layer="facilities")) == 1


# ------------------------------------------------------------------------------------------------- atomicity


def _failing_second_layer(monkeypatch):
    real = gpd.GeoDataFrame.to_file
    calls = []

    def to_file(self, *args, **kwargs):
        calls.append(kwargs.get("layer"))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", to_file)
    return calls


def test_interrupted_write_leaves_nothing(analysis, tmp_path, monkeypatch):
    calls = _failing_second_layer(monkeypatch)
    with pytest.raises(InputError, match="no space left on the disk while writing coverage.gpkg.*nothing was replaced"):
        write_ledger(analysis, tmp_path)
    assert calls == ["communities", "demand"]  # failed midway through the GeoPackage
    assert os.listdir(tmp_path) == []  # no final file, no temp file


def test_interrupted_xlsx_leaves_nothing(analysis, tmp_path, monkeypatch):
    class HalfWritten:
        def save(self, path):
            Path(path).write_bytes(b"PK\x03\x04 half")
            raise OSError("killed")

    monkeypatch.setattr(ledger_write, "_new_workbook", lambda analysis, table: HalfWritten())
    with pytest.raises(OSError, match="killed"):
        write_ledger(analysis, tmp_path)
    assert os.listdir(tmp_path) == []


def test_interrupted_rerun_keeps_the_previous_ledger(analysis, tmp_path, monkeypatch):
    first = write_ledger(analysis, tmp_path)
    before = {kind: path.read_bytes() for kind, path in first.items()}
    _failing_second_layer(monkeypatch)
    with pytest.raises(InputError, match="no space left"):
        write_ledger(analysis, tmp_path)
    # the earlier set is untouched: no file replaced, none added (not even the copy of the earlier ledger)
    assert sorted(os.listdir(tmp_path)) == ["coverage.gpkg", "ledger.csv", "ledger.xlsx", "run.json"]
    assert {kind: path.read_bytes() for kind, path in first.items()} == before


# ------------------------------------------------------------------------------------------------- problem stages


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """Six 500 m communities 1 km apart (3,000 people each, no demand points: spread over a 100 m grid), one
    kindergarten standard (幼儿园: r = 300 m, ≥ 3,150 m² to count, one serves up to 12,000), and per community:

    | id | kindergarten at its centre          | expected                                   |
    |----|-------------------------------------|--------------------------------------------|
    | K1 | none                                | 规划: 缺 1 处, 3,000 people not covered, 3,150 m² short |
    | K2 | 3,500 m², status 规划 (planned)      | 建设                                       |
    | K3 | 3,500 m², status 在建                | 建设                                       |
    | K4 | 3,500 m², status 已建未移交           | 移交                                       |
    | K5 | 3,500 m², status 运转良好 (unknown)   | in use (warned): ok, no problem            |
    | K6 | 2,000 m², status in_use             | 使用: below 3,150 m², does not count, 缺 1 处 |
    """
    from conftest import CRS, block, centre, write_grid_files
    from geofacility.pipeline import analyze

    tmp = tmp_path_factory.mktemp("stages")
    cols = {f"K{i}": 2 * i - 1 for i in range(1, 7)}
    communities = gpd.GeoDataFrame(
        {"community_id": list(cols), "community": [f"社区{k}" for k in cols], "town": "张店街道",
         "population": 3000.0, "households": 1000.0},
        geometry=[block(c, 1) for c in cols.values()], crs=CRS)
    placed = {"K2": ("规划", 3500.0), "K3": ("在建", 3500.0), "K4": ("已建未移交", 3500.0),
              "K5": ("运转良好", 3500.0), "K6": ("in_use", 2000.0)}
    facilities = gpd.GeoDataFrame(
        {"facility_id": [f"F{k}" for k in placed], "name": [f"幼儿园{k}" for k in placed],
         "subcategory": "幼儿园", "floor_area_m2": [a for _, a in placed.values()],
         "建设状态": [s for s, _ in placed.values()]},
        geometry=[Point(centre(cols[k], 1)) for k in placed], crs=CRS)
    comm_path, fac_path = write_grid_files(tmp, communities, facilities)
    analysis = analyze(communities=comm_path, facilities=[(fac_path, "education")], capacity_method="none")
    return analysis, write_ledger(analysis, tmp / "out")


def test_facilities_not_in_use_are_not_provision(staged):
    analysis, _ = staged
    comm = analysis.communities.set_index("community_id")
    assert sorted(analysis.facilities["facility_id"]) == ["FK5", "FK6"]  # in use: the only provision
    assert sorted(analysis.not_in_use["facility_id"]) == ["FK2", "FK3", "FK4"]
    assert analysis.not_in_use.set_index("facility_id")["status"].to_dict() == {"FK2": "规划", "FK3": "在建",
                                                                                "FK4": "未移交"}
    for cid in ("K1", "K2", "K3", "K4"):  # nobody is served by a facility that is not in use
        assert comm.loc[cid, "education_covered_population"] == 0
        assert comm.loc[cid, "education_current_count"] == 0 and comm.loc[cid, "education_count_gap"] == 1
    assert comm.loc["K5", "education_status"] == "ok" and comm.loc["K5", "education_current_count"] == 1
    assert comm.loc["K6", "education_covered_population"] == pytest.approx(3000)
    assert comm.loc["K6", "education_current_count"] == 0  # 2,000 m² < 3,150 m²: not a kindergarten by the standard


def test_problem_stages_follow_the_facility_status(staged):
    analysis, _ = staged
    comm = analysis.communities.set_index("community_id")
    assert comm["education_problem_stage"].to_dict() == {"K1": "规划", "K2": "建设", "K3": "建设", "K4": "移交",
                                                         "K5": "", "K6": "使用"}
    assert comm["education_not_in_use"].to_dict() == {
        "K1": "", "K2": "已规划未建 1 处（未计入现状）", "K3": "在建 1 处（未计入现状）",
        "K4": "已建未移交 1 处（未计入现状）", "K5": "", "K6": ""}  # in use: named by below_minimum, not here
    assert comm.loc["K6", "education_below_minimum"] == "1 处 2,000 m² 小于 3,150 m² 下限"
    assert (comm["health_problem_stage"] == "").all()  # not surveyed: no problem, no stage


def test_unknown_status_is_warned_with_its_row_and_read_as_in_use(staged):
    analysis, _ = staged
    w = analysis.warnings
    hit = w[w["message"].str.contains("运转良好")]
    assert hit["row"].tolist() == ["5"]  # the CSV's 5th line: FK5
    assert "按“在用”计" in hit["message_zh"].iloc[0]
    accounting = analysis.accounting.set_index("file")
    assert (accounting["rows_unaccounted"] == 0).all()
    fac_file = next(f for f in accounting.index if f.endswith("facilities.csv"))
    assert accounting.loc[fac_file, "rows_used"] == 5  # every facility row is used: in use, or naming a stage


def test_ledger_problem_column_says_stage_and_numbers(staged):
    _, written = staged
    table = read_ledger_csv(written["csv"]).set_index("community_id")
    assert table["education_problem_stage"].to_dict() == {"K1": "规划", "K2": "建设", "K3": "建设", "K4": "移交",
                                                          "K5": "", "K6": "使用"}
    ws = openpyxl.load_workbook(written["xlsx"])["台账 ledger"]
    problem = {ws.cell(row=r, column=24).value: ws.cell(row=r, column=19).value for r in range(5, ws.max_row + 1)}
    assert problem == {
        "K1": "教育【规划】缺 1 处，3,000 人未覆盖（覆盖率 0%），面积缺口 3,150 m²",
        "K2": "教育【建设】已规划未建 1 处（未计入现状），缺 1 处，3,000 人未覆盖（覆盖率 0%），面积缺口 3,150 m²",
        "K3": "教育【建设】在建 1 处（未计入现状），缺 1 处，3,000 人未覆盖（覆盖率 0%），面积缺口 3,150 m²",
        "K4": "教育【移交】已建未移交 1 处（未计入现状），缺 1 处，3,000 人未覆盖（覆盖率 0%），面积缺口 3,150 m²",
        "K5": None,
        # the facility too small to count, in the words of below_minimum (issue 14: one fact, one wording)
        "K6": "教育【使用】1 处 2,000 m² 小于 3,150 m² 下限（不计数），缺 1 处，面积缺口 1,150 m²",  # 3,150 − 2,000
    }
    title = ws["A1"].value
    assert title.count("未调查类别：医疗卫生、社区用房、养老、便民商业、体育、食堂（无设施数据，不计缺口）") == 1
    assert not any("未调查" in str(v) for v in problem.values())
    text = written["csv"].read_text(encoding="utf-8-sig")
    assert ",3000,1000,False," in text and "3000.0" not in text  # people and households whole


# ------------------------------------------------------------------------------------------------- 警告 in Chinese

_DATA = Path(__file__).resolve().parent.parent / "data"


def _bundled(name: str) -> dict:
    from geofacility.study import sample_inputs

    if name == "xicheng":
        return sample_inputs()
    if name == "helsinki-on-foot":
        d = _DATA / "helsinki"
        return {"communities": d / "blocks.geojson", "facilities": [d / "facilities.csv"],
                "demand": d / "buildings.csv", "network": d / "helsinki.osm.pbf"}
    d = _DATA / "beijing"  # the README's city-wide batch, as one run (its input warnings are the batch's)
    return {"communities": d / "beijing_subdistricts_worldpop.gpkg", "towns": d / "beijing_subdistricts_worldpop.gpkg",
            "aliases": d / "aliases.csv", "facilities": [(_DATA / "xicheng" / "primary_schools.csv", "education")],
            "survey_extent": {"education": _DATA / "xicheng" / "streets.geojson"}}


@pytest.mark.parametrize("study", ["xicheng", "helsinki-on-foot", "beijing"])
def test_warnings_of_the_bundled_studies_are_in_chinese(study, tmp_path):
    """Every warning of the bundled studies has a Chinese text, and the ledger's 警告 sheet shows it first (the
    English after it, on its own line)."""
    from conftest import assert_warnings_in_chinese
    from geofacility.pipeline import analyze

    analysis = analyze(**_bundled(study))
    assert len(analysis.warnings)  # each of them has some (repairs, info rows)
    assert_warnings_in_chinese(analysis.warnings)
    if study == "xicheng":
        sheet = openpyxl.load_workbook(write_ledger(analysis, tmp_path, gpkg=False)["xlsx"])["警告 warnings"]
        shown = [r[3] for r in sheet.iter_rows(min_row=2, values_only=True)]
        for text, record in zip(shown, analysis.warnings.to_dict("records")):
            assert text.split("\n")[0] == record["message_zh"] and text.split("\n")[1] == record["message"]
