"""Writers shared by the sample-data scripts: byte-stable GeoJSON and CSV (the tests rebuild the samples and
compare them byte for byte with the committed files)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geofacility.atomic import atomic_path


def round_floats(obj, decimals: int):
    """Every float in nested coordinate lists rounded to ``decimals``."""
    if isinstance(obj, float):
        return round(obj, decimals)
    if isinstance(obj, list):
        return [round_floats(v, decimals) for v in obj]
    return obj


def write_geojson(path: Path, name: str, props: pd.DataFrame, geoms_wgs84: np.ndarray, decimals: int) -> None:
    """GeoJSON (RFC 7946, WGS84), one feature per line, keys in column order, coordinates to ``decimals``
    (the geometries are expected rounded already; the text is rounded again so no float noise is printed)."""
    texts = shapely.to_geojson(geoms_wgs84)
    records = json.loads(props.to_json(orient="records", force_ascii=False))
    lines = []
    for rec, text in zip(records, texts, strict=True):
        geom = json.loads(text)
        geom = {"type": geom["type"], "coordinates": round_floats(geom["coordinates"], decimals)}
        feature = {"type": "Feature", "properties": rec, "geometry": geom}
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    body = '{"type":"FeatureCollection","name":' + json.dumps(name) + ',"features":[\n'
    body += ",\n".join(lines) + "\n]}\n"
    with atomic_path(path) as tmp:
        tmp.write_text(body, encoding="utf-8")


def write_csv(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
