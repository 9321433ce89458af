"""An OD cost table measures its category all the way through (issue 18, part 2): who the existing facilities
already cover, which rooms would cover whom, the ledger as if the rooms were built, selection.json — and what the
table does not mention is reported, never measured in a straight line.

The 3×3 grid (500 m blocks, C<col><row> with 1000 × its reading-order number people, one home at each block's
centre) and elderly care within 600: the existing day-care centre E1 stands in C11, the rooms R1 in C33 and R2 in
C31. The table's costs differ from the straight line on purpose: a river makes E1 → H21 900 (500 straight), a
short cut makes E1 → H12 400; R1 → H23 is 700 (500 straight), R1 → H32 550; R2 → H21 300. By hand:

* covered before, by the table: H11 (0) and H12 (400): 1,000 + 4,000 = 5,000 (the straight line would add H21);
* R1 newly covers H33 and H32: 9,000 + 6,000 = 15,000; R2 only H31 and H21: 3,000 + 2,000 = 5,000; with k = 1, R1;
* after R1, by the table: 5,000 + 15,000 = 20,000 covered of 45,000 (straight lines would say 30,000).
"""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import centre
from geofacility.costs import read_cost_table
from geofacility.errors import InputError
from geofacility.ledger import read_ledger_csv
from geofacility.outputs import file_sha256
from geofacility.pipeline import analyze
from geofacility.siting import evaluate_candidates, select_sites, with_sites

COSTS = [("H11", "E1", 0), ("H21", "E1", 900), ("H12", "E1", 400), ("H13", "E1", 1000),
         ("H33", "R1", 0), ("H32", "R1", 550), ("H23", "R1", 700), ("H13", "R1", 1500),
         ("H31", "R2", 0), ("H21", "R2", 300), ("H32", "R2", 1000),
         ("H11", "R3", 0)]
POPULATION = {f"H{c}{r}": 1000.0 * ((r - 1) * 3 + c) for r in (1, 2, 3) for c in (1, 2, 3)}


def _lonlat(col: int, row: int):
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:32650", 4326, always_xy=True).transform(*centre(col, row))


@pytest.fixture
def files(tmp_path, grid_communities):
    comm = tmp_path / "communities.geojson"
    grid_communities.to_crs(4326).to_file(comm, driver="GeoJSON")
    homes = []
    for hid, people in POPULATION.items():
        lon, lat = _lonlat(int(hid[1]), int(hid[2]))
        homes.append({"demand_id": hid, "population": people, "lon": lon, "lat": lat})
    pd.DataFrame(homes).to_csv(tmp_path / "homes.csv", index=False)
    lon, lat = _lonlat(1, 1)
    lon2, lat2 = _lonlat(2, 2)
    pd.DataFrame({"facility_id": ["E1", "E2"], "name": ["日照中心1", "日照中心2"], "category": "elderly_care",
                  "subcategory": "day_care_center", "floor_area_m2": [400, 400],
                  "lon": [lon, lon2], "lat": [lat, lat2]}).to_csv(tmp_path / "elderly.csv", index=False)
    rooms = []
    for rid, (col, row) in {"R1": (3, 3), "R2": (3, 1), "R3": (1, 3)}.items():
        lon, lat = _lonlat(col, row)
        rooms.append({"candidate_id": rid, "name": f"房源{rid}", "floor_area_m2": 400, "categories": "养老",
                      "reviewed": "是", "lon": lon, "lat": lat})
    pd.DataFrame(rooms).to_csv(tmp_path / "rooms.csv", index=False)
    table = pd.DataFrame(COSTS, columns=["小区", "设施", "步行米"])
    table = table[table["设施"] != "R3"]  # R3 is not in the table (nor E2, nor the home H22)
    table[table["小区"] != "H22"].to_csv(tmp_path / "od.csv", index=False)
    return tmp_path


def _analysis(files, od=True):
    cost = {"category": "elderly_care", "path": files / "od.csv", "origin": "小区", "destination": "设施",
            "value": "步行米"} if od else None
    return analyze(communities=files / "communities.geojson", facilities=[files / "elderly.csv"],
                   demand=files / "homes.csv", radius={"elderly_care": 600}, capacity_method="none",
                   cost_matrix=cost)


def test_existing_coverage_siting_and_the_ledger_after_use_the_table(files):
    from geofacility.read import read_candidates

    analysis = _analysis(files)
    dist = analysis.demand.set_index("demand_id")["dist_elderly_care_m"]
    assert dist["H11"] == 0 and dist["H12"] == 400 and dist["H21"] == 900  # not 500: the river
    assert dist["H22"] == float("inf")  # not in the table: reached by nobody, never a straight line
    covered = analysis.communities["elderly_care_covered_population"].sum()
    assert covered == pytest.approx(5_000)
    study = evaluate_candidates(analysis, read_candidates(files / "rooms.csv"), "elderly_care")
    newly = study.candidates.set_index("candidate_id")["newly_covered_population"]
    assert newly.to_dict() == pytest.approx({"R1": 15_000, "R2": 5_000, "R3": 0})
    selection = select_sites(study, method="mclp", k=1)
    assert list(study.candidates["candidate_id"].iloc[selection.selected]) == ["R1"]
    assert selection.covered_weight == pytest.approx(15_000)
    after = with_sites(analysis, study, selection)
    assert after.communities["elderly_care_covered_population"].sum() == pytest.approx(20_000)
    # the straight line says otherwise (E1 and E2, which the table does not reach, within 600 m of six homes): a
    # silent fallback to it would show
    plain = _analysis(files, od=False)
    assert plain.communities["elderly_care_covered_population"].sum() == pytest.approx(
        1_000 + 2_000 + 4_000 + 5_000 + 6_000 + 8_000)


def test_what_the_table_does_not_mention_is_reported(files):
    analysis = _analysis(files)
    messages = analysis.warnings["message"].tolist()
    assert any("elderly_care facility E2 is not in the cost table od.csv: it reaches nobody" in m for m in messages)
    assert any("1 demand points are not origins of the cost table" in m for m in messages)
    assert analysis.settings["cost_matrix"]["sha256"] == file_sha256(files / "od.csv")


def test_a_table_without_the_existing_facilities_is_refused(files):
    table = pd.read_csv(files / "od.csv")
    table[table["设施"].str.startswith("R")].to_csv(files / "od.csv", index=False)
    with pytest.raises(InputError, match="none of the 2 existing elderly_care facilities .* is a destination"):
        _analysis(files)


@pytest.mark.parametrize("cell,text", [("12,5", "ambiguous"), ("inf", "not a number"), ("-3", "not a number ≥ 0")])
def test_bad_costs_are_refused(files, cell, text):
    table = pd.read_csv(files / "od.csv", dtype=str)
    table.loc[2, "步行米"] = cell
    table.to_csv(files / "od.csv", index=False)
    with pytest.raises(InputError, match=f"row 4: .*{text}"):
        read_cost_table(files / "od.csv", origin="小区", destination="设施", value="步行米")


def test_sites_select_on_the_command_line_records_the_table(files):
    out = files / "sites"
    result = subprocess.run(
        [sys.executable, "-m", "geofacility.cli", "sites", "select", "--communities", str(files / "communities.geojson"),
         "--facilities", str(files / "elderly.csv"), "--demand", str(files / "homes.csv"), "--radius",
         "elderly_care=600", "--capacity-method", "none", "--candidates", str(files / "rooms.csv"), "--category",
         "elderly_care", "--k", "1", "--cost-matrix", str(files / "od.csv"), "--cost-origin", "小区",
         "--cost-destination", "设施", "--cost-value", "步行米", "--out", str(out)],
        capture_output=True, text=True, cwd=files, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "selection.json").read_text(encoding="utf-8"))
    assert summary["distance"] == "cost-matrix" and summary["selected"] == ["R1"]
    assert summary["cost_matrix"]["file"] == str(files / "od.csv")
    assert summary["cost_matrix"]["sha256"] == file_sha256(files / "od.csv")
    assert summary["cost_matrix"]["columns"] == {"origin": "小区", "destination": "设施", "value": "步行米"}
    assert summary["already_covered_population"] == pytest.approx(5_000)
    assert summary["newly_covered_population"] == pytest.approx(15_000)
    after = read_ledger_csv(out / "ledger_after" / "ledger.csv")
    assert after["elderly_care_covered_population"].sum() == pytest.approx(20_000)
    warnings = pd.read_excel(out / "sites.xlsx", sheet_name="警告 warnings")
    assert warnings["说明 message"].str.contains("candidate R3 is not a destination of the cost table").any()
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert any(i["role"] == "cost_matrix" and i["sha256"] == file_sha256(files / "od.csv") for i in run["inputs"])


def test_a_table_whose_origins_are_not_the_demand_ids_is_refused(files):
    table = pd.read_csv(files / "od.csv")
    table["小区"] = "小区" + table["小区"].str[1:]  # the planner's own compound names, not the demand ids
    table.to_csv(files / "od.csv", index=False)
    with pytest.raises(InputError, match="none of the 9 demand ids of this study is an origin of the cost table"):
        _analysis(files)
