"""Write notebooks/xicheng_walkthrough.ipynb (unexecuted; tests/test_notebook.py runs it with nbclient).

    python scripts/make_notebook.py
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    ("md", """# Xicheng walkthrough: coverage, ledger, candidate rooms, a category map

A planner's tour of geofacility's Python API on the bundled Beijing Xicheng (西城区) sample: 264 (approximate)
communities in 15 streets, WorldPop population placed at Lianjia compounds, and the district's primary schools.
Every step is one function over GeoDataFrames; the command line (`geofacility analyze`, `sites`, `map`, `batch`)
calls the same functions."""),
    ("md", "## 1. Load the inputs and compute coverage and gaps"),
    ("code", """from pathlib import Path
import pandas as pd
from geofacility.pipeline import analyze
from geofacility.study import sample_inputs, sample_dir

inputs = sample_inputs()          # the sample's files: communities, streets, compounds (demand), schools
analysis = analyze(**inputs)      # read → place demand → distances → coverage and gaps
comm = analysis.communities
print(f"{len(comm)} communities, {comm['town'].nunique()} streets, population {comm['population'].sum():,.0f}")
print("surveyed:", analysis.surveyed)"""),
    ("code", """edu = comm[["town", "community", "population", "education_covered_share", "education_uncovered_population",
            "education_status", "education_problem"]]
covered = comm["education_covered_population"].sum() / comm["population"].sum()
print(f"people within 500 m of a primary school: {covered:.1%}; communities short: "
      f"{(comm['education_status'] == 'gap').sum()} of {len(comm)}")
edu.sort_values("education_uncovered_population", ascending=False).head(8)"""),
    ("md", "Per street (街道), the people not covered and the communities short — the roll-up a district reports upward:"),
    ("code", """by_street = comm.groupby("town").agg(
    communities=("community_id", "size"),
    short=("education_status", lambda s: int((s == "gap").sum())),
    population=("population", "sum"),
    not_covered=("education_uncovered_population", "sum"),
).sort_values("not_covered", ascending=False)
by_street.round(0).head(15)"""),
    ("md", """### Capacity: served, over capacity, out of reach

A school within 500 m that is full does not serve a family. Each school's capacity here is the population one
primary school serves by the standard (25,000 residents, GB 50180) — give a `capacity` column for real figures —
and residents are allocated to the schools within reach, nearest first, as many as capacities allow:"""),
    ("code", """split = comm[["education_served_population", "education_over_capacity_population",
              "education_out_of_reach_population"]].sum()
print(split.round(0))
analysis.facility_load.sort_values("demand_in_reach", ascending=False)[
    ["name", "capacity", "capacity_source", "demand_in_reach", "allocated", "load"]].head(8)"""),
    ("md", "## 2. The ledger (台账) a district office files"),
    ("code", """import tempfile
from geofacility.ledger import write_ledger

out = Path(tempfile.mkdtemp(prefix="xicheng-"))
paths = write_ledger(analysis, out)          # ledger.xlsx (Attachment-3 layout), ledger.csv, coverage.gpkg
{k: p.name for k, p in paths.items()}"""),
    ("md", """## 3. Candidate rooms (房源) for community service rooms

Which of the candidate rooms would close the most gaps against Beijing's community-room standard (≥ 350 m², a
≥ 50 m² one-stop station), and the best 20 by an exact maximal-covering model:"""),
    ("code", """from geofacility.read import read_candidates
from geofacility.siting import evaluate_candidates, select_sites, with_sites

d = sample_dir()
rooms_analysis = analyze(**{**inputs, "facilities": [*inputs["facilities"],
                                                      (d / "community_rooms_existing.csv", "community_service")]},
                         standard_choices={"community_service": ["community_rooms_beijing"]})
study = evaluate_candidates(rooms_analysis, read_candidates(d / "candidate_rooms.csv"), "community_service")
study.candidates.sort_values("rank")[["rank", "name", "floor_area_m2", "area_note",
                                      "newly_covered_population"]].head(8)"""),
    ("code", """selection = select_sites(study, method="mclp", k=20)
after = with_sites(rooms_analysis, study, selection)
before_short = int((rooms_analysis.communities["community_service_status"] == "gap").sum())
after_short = int((after.communities["community_service_status"] == "gap").sum())
print(f"{selection.status}: {len(selection.selected)} rooms; communities short of rooms {before_short} → {after_short}")"""),
    ("md", """## 4. The education special-plan map (专项规划)

Communities by their primary-school status, the schools and their 500 m radius, the people left out (drawn as
grid cells where there are many), the standard applied and the worst-served communities in the side panel.
`basemap="amap"` would draw it on Amap's GCJ-02 tiles with every overlay shifted to match; `offline=True`
inlines Leaflet for machines without internet."""),
    ("code", """from geofacility.maps import build_map

m = build_map(analysis, category="education")
m"""),
    ("md", "The printable figure of the same map, and people not covered per street:"),
    ("code", """from geofacility.figures import category_figure, town_bar_figure

category_figure(analysis, "education")"""),
    ("code", """town_bar_figure(analysis)"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    path = Path(__file__).resolve().parents[1] / "notebooks" / "xicheng_walkthrough.ipynb"
    nbformat.write(build(), path)
    print(path)


if __name__ == "__main__":
    main()
