"""Illustrative candidate rooms (房源) for the Xicheng sample — deterministic.

No list of candidate rooms is public. To exercise `geofacility sites`, this script places about 170 candidate rooms at
real residential-compound positions of the sample (every compound whose number is divisible by 9, plus the
most populous compound of each street) and gives them ILLUSTRATIVE attributes drawn from a seeded random
generator: floor area (30–900 m², skewed small), the categories each could host, acquisition mode
(租赁/置换/共享/购买), safety pre-review (预审, 80 % passed), floor and cost. The positions are real; nothing
else about these rooms is. The coordinates are the compounds' GCJ-02 ones, as scraped.

Run from the repository root: python scripts/prepare_xicheng_candidates.py [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CATEGORY_CHOICES = ["社区用房", "养老", "医疗", "食堂", "社区用房;养老", "养老;食堂", "社区用房;医疗;养老", ""]
ACQUISITION = ["租赁", "置换", "共享", "购买"]


def build(compounds: pd.DataFrame, seed: int = 2011) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    number = compounds["compound_id"].str[2:].astype(int)
    top = compounds.sort_values(["population", "compound_id"], ascending=[False, True]).groupby("town").head(1)
    picked = compounds[(number % 9 == 0) | compounds["compound_id"].isin(top["compound_id"])]
    picked = picked.sort_values("compound_id").reset_index(drop=True)
    n = len(picked)
    area = np.round(np.exp(rng.normal(np.log(180), 0.8, n)).clip(30, 900), -1)
    floor = rng.choice([1, 1, 1, 2, 3, -1], n)
    return pd.DataFrame({
        "candidate_id": [f"XCR{i:03d}" for i in range(n)],
        "name": picked["name"] + "房源",
        "建筑面积": area.astype(int),
        "可用类别": rng.choice(CATEGORY_CHOICES, n),
        "取得方式": rng.choice(ACQUISITION, n),
        "预审": np.where(rng.random(n) < 0.8, "是", "否"),
        "楼层": floor,
        "成本": (area * rng.uniform(0.6, 1.4, n) * 0.5).round(1),  # 万元, illustrative
        "illustrative": "位置为真实小区，面积等属性为示意 positions real, attributes illustrative",
        "gcj02_lng": picked["gcj02_lng"],
        "gcj02_lat": picked["gcj02_lat"],
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "xicheng")
    args = parser.parse_args()
    compounds = pd.read_csv(ROOT / "data" / "xicheng" / "compounds.csv", dtype={"gcj02_lng": str, "gcj02_lat": str})
    rooms = build(compounds)
    args.out.mkdir(parents=True, exist_ok=True)
    rooms.to_csv(args.out / "candidate_rooms.csv", index=False, encoding="utf-8", lineterminator="\n")
    (args.out / "community_rooms_existing.csv").write_text("name,lon,lat\n", encoding="utf-8")
    print(f"{len(rooms)} candidate rooms → {args.out / 'candidate_rooms.csv'}")


if __name__ == "__main__":
    main()
