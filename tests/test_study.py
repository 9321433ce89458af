"""prepare()'s steps (geofacility.study), each run alone on the 3×3 grid of 500 m blocks (conftest.py).

The grid: communities C<col><row> with 1000 × k people (k = 1..9 in reading order, south row first), columns 1–2
in 东街道 (k = 1, 2, 4, 5, 7, 8: 27,000 people), column 3 in 西街道 (k = 3, 6, 9: 18,000); school A at the centre
of C22, B at the centre of C33. Without demand points each block's people are spread over 25 points of a 100 m
grid: 225 points, 45,000 people.
"""
from __future__ import annotations

import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

from conftest import write_grid_files
from geofacility.errors import InputError, WarningLog
from geofacility.study import (Inputs, Placed, Standards, build_walking_network, check_options, choose_standards,
                               cost_tables, facilities_in_use, input_accounting, metric_crs, place_demand, prepare,
                               read_inputs, study_settings)


@pytest.fixture
def grid_files(tmp_path, grid_communities, grid_facilities):
    return write_grid_files(tmp_path, grid_communities, grid_facilities)


def _by_hand(communities, facilities, *, radius=None, none_exist=()):
    """prepare()'s steps called one by one, as a workbench would."""
    options = check_options(communities=communities, radius=radius)
    log = WarningLog()
    inputs = read_inputs(communities=communities, facilities=[facilities], aliases=options.aliases, log=log)
    metric = metric_crs(inputs)
    placed = place_demand(inputs, metric, log=log)
    chosen = choose_standards(placed.facilities, options.standards, metric, declared=inputs.declared, radius=radius,
                              none_exist=none_exist, label=str(communities), log=log)
    fac, not_in_use = facilities_in_use(placed.facilities, placed.communities, chosen.checks, log=log)
    settings = study_settings(inputs, placed.communities, metric, distance=options.distance)
    costs = cost_tables(None, placed.demand, fac, log=log)
    accounting = input_accounting(log, {**placed.used_rows, **chosen.used_rows})
    return options, inputs, metric, placed, chosen, fac, not_in_use, settings, costs, accounting, log


def test_the_steps_one_by_one_give_what_prepare_gives(grid_files):
    communities, facilities = grid_files
    (options, inputs, metric, placed, chosen, fac, not_in_use, settings, costs, accounting,
     log) = _by_hand(communities, facilities, radius={"education": 520})
    assert isinstance(inputs, Inputs) and isinstance(placed, Placed) and isinstance(chosen, Standards)
    assert options.distance == "euclidean"
    assert metric.to_epsg() == 32650
    assert inputs.communities.crs.to_epsg() == 4326  # as read; placing did not change it
    assert len(placed.demand) == 225 and placed.demand["weight"].sum() == pytest.approx(45_000)
    towns = placed.towns.set_index("town")["population"]
    assert towns.to_dict() == {"东街道": pytest.approx(27_000), "西街道": pytest.approx(18_000)}
    assert chosen.surveyed == ["education"]
    assert chosen.checks and all(c.radius_m == 520 for c in chosen.checks)
    assert list(fac["facility_id"]) == ["A", "B"] and not len(not_in_use)
    assert costs.measures == {} and costs.settings is None
    rows = accounting.set_index("file")
    assert rows.loc[str(communities), ["rows_read", "rows_used", "rows_unaccounted"]].tolist() == [9, 9, 0]
    assert rows.loc[str(facilities), ["rows_read", "rows_used", "rows_unaccounted"]].tolist() == [2, 2, 0]

    study = prepare(communities=communities, facilities=[facilities], radius={"education": 520})
    assert_geodataframe_equal(study.communities, placed.communities)
    assert_geodataframe_equal(study.demand, placed.demand)
    assert_geodataframe_equal(study.facilities, fac)
    assert_geodataframe_equal(study.towns, placed.towns)
    assert study.checks == chosen.checks and study.surveyed == chosen.surveyed
    assert study.settings == settings and study.crs == metric
    pd.testing.assert_frame_equal(study.log.to_frame(), log.to_frame())
    pd.testing.assert_frame_equal(study.accounting, accounting)


def test_a_step_run_again_gives_the_same_and_changes_nothing(grid_files):
    communities, facilities = grid_files
    log = WarningLog()
    inputs = read_inputs(communities=communities, facilities=[facilities], aliases={}, log=log)
    metric = metric_crs(inputs)
    first = place_demand(inputs, metric, cell_m=250.0, log=log)
    again = place_demand(inputs, metric, cell_m=250.0, log=WarningLog())
    assert_geodataframe_equal(first.communities, again.communities)
    assert_geodataframe_equal(first.demand, again.demand)
    assert len(first.demand) == 9 * 4  # a 250 m grid: 4 points per 500 m block
    assert inputs.communities["town"].notna().all() and inputs.communities.crs.to_epsg() == 4326


def test_choose_standards_alone_surveys_a_category_none_exist(grid_files):
    communities, facilities = grid_files
    log = WarningLog()
    options = check_options(communities=communities)
    inputs = read_inputs(communities=communities, facilities=[facilities], aliases=options.aliases, log=log)
    metric = metric_crs(inputs)
    placed = place_demand(inputs, metric, log=log)
    chosen = choose_standards(placed.facilities, options.standards, metric, declared=inputs.declared,
                              none_exist=["health"], label="communities.geojson", log=log)
    assert chosen.surveyed == ["education", "health"]
    assert {c.category for c in chosen.checks} == {"education", "health"}
    assert inputs.declared == set()  # the inputs' declared categories are not changed
    said = log.to_frame()
    assert said.loc[said["file"] == "communities.geojson", "message"].str.contains("no existing health").any()


def test_check_options_stops_before_any_file_is_read(tmp_path):
    with pytest.raises(InputError, match="--radius education=0"):
        check_options(communities=tmp_path / "missing.geojson", radius={"education": 0})
    with pytest.raises(InputError, match="--distance network needs a walking network"):
        check_options(communities=tmp_path / "missing.geojson", distance="network")
    assert check_options(demand=tmp_path / "x.csv", network=tmp_path / "n.osm").distance == "network"


def test_metric_crs_of_a_study_of_demand_points_alone(tmp_path):
    homes = tmp_path / "homes.csv"
    homes.write_text("demand_id,lon,lat,population\nh1,116.37,39.91,100\nh2,116.38,39.92,50\n")
    log = WarningLog()
    inputs = read_inputs(demand=homes, aliases={}, log=log)
    metric = metric_crs(inputs)
    assert metric.to_epsg() == 32650  # Beijing: UTM 50N
    placed = place_demand(inputs, metric, study="样例", log=log)
    assert placed.communities["community_id"].tolist() == ["研究范围"]
    assert placed.communities["population"].iloc[0] == pytest.approx(150)
    assert placed.towns["town"].tolist() == ["样例"]


def test_build_walking_network_alone_refuses_a_network_elsewhere(tmp_path, grid_files):
    import geopandas as gpd
    import shapely

    communities, facilities = grid_files
    log = WarningLog()
    inputs = read_inputs(communities=communities, facilities=[facilities], aliases={}, log=log)
    metric = metric_crs(inputs)
    placed = place_demand(inputs, metric, log=log)
    far = tmp_path / "streets.geojson"  # a street 0.1° (about 11 km) north of the grid
    x0, y0, x1, _ = gpd.GeoSeries(inputs.communities.geometry).total_bounds
    gpd.GeoDataFrame({"highway": ["footway"]}, geometry=[shapely.LineString([(x0, y0 + 0.1), (x1, y0 + 0.1)])],
                     crs=4326).to_file(far, driver="GeoJSON")
    with pytest.raises(InputError, match="none of the 225 demand points is within 150 m"):
        build_walking_network(far, metric, placed.demand, placed.facilities, max_snap_m=150.0, log=log)
