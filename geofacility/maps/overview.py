"""A batch's overview map (outputs stage, map): ``index.html``, one polygon per group (street, town) coloured by
the largest share of its communities short of standard in any surveyed category, linking each group's map and
ledger. :mod:`geofacility.batch` calls :func:`write_overview` with its summary table; nothing here imports batch.
"""
from __future__ import annotations

from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from .geojson import _geojson, _latlon_bounds, _wgs84
from .legend import _CSS, _Overlay
from .page import _make_offline, _MetricScale, save_html, stable_ids
from .style import _RED_DARK, _RED_ONE, AMBER, OK_COLOUR, _esc_s, _num_s, esc

#: the community maps' palette: green none short, amber few, reds more
OVERVIEW_KEY = [(0.0, OK_COLOUR, "无未达标社区 no community short"), (0.25, AMBER, "≤ 25 % 社区未达标 short"),
                (0.5, _RED_ONE, "25–50 %"), (1.01, _RED_DARK, "> 50 %")]


def group_short_share(summary: pd.DataFrame) -> pd.Series:
    """Per group, the largest share of its communities short of standard in any surveyed category."""
    ok = summary[(summary["status"] == "ok") & summary["communities_short"].notna()]
    surveyed = ok["communities_surveyed"].astype("float64")
    share = ok["communities_short"].astype("float64") / surveyed.where(surveyed > 0)
    return share.groupby(ok["group"]).max()


def write_overview(communities: gpd.GeoDataFrame, summary: pd.DataFrame, *, by: str, folders: dict, path,
                   title: str = "") -> Path:
    """``index.html`` of a batch: one polygon per group coloured by the largest share of its communities short
    of standard in any surveyed category (the palette of the community maps), linking each group's map and
    ledger; failed groups grey with their error."""
    from urllib.parse import quote

    path = Path(path)
    crs = communities.crs
    values = communities[by].astype(object).where(communities[by].notna(), "未知").astype(str)
    groups = communities.assign(_g=values).dissolve(by="_g", as_index=False)[["_g", "geometry"]]
    share = group_short_share(summary)
    failed = summary.loc[summary["status"] == "failed"].groupby("group")["error"].first()
    pop = summary.groupby("group")["population"].max()

    def colour(g):
        if g in failed.index:
            return "#bdbdbd"
        value = share.get(g, np.nan)
        if pd.isna(value):
            return "#d9d9d9"
        if value <= 0:
            return OVERVIEW_KEY[0][1]
        return next(c for limit, c, _ in OVERVIEW_KEY[1:] if value <= limit)

    names = groups["_g"]
    folder = names.map(lambda g: quote(folders.get(g, g)))
    popup = (
        "<b>" + _esc_s(names) + "</b><br>"
        + names.map(lambda g: esc(f"失败 failed: {failed[g]}") if g in failed.index else
                    f"未达标社区最多 share short (worst category): {share.get(g, float('nan')):.0%}")
        + "<br>人口 population: " + _num_s(names.map(pop))
        + '<br><a href="' + folder + '/map.html" target="_blank">地图 map</a> · <a href="' + folder
        + '/ledger.xlsx">台账 ledger.xlsx</a> · <a href="' + folder + '/ledger.csv">ledger.csv</a>'
    )
    frame = _wgs84(groups.assign(fill=names.map(colour), tip=_esc_s(names), popup=popup).set_crs(crs,
                                                                                            allow_override=True),
                   crs)
    bounds = _latlon_bounds(frame)
    m = folium.Map(location=[(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2], zoom_start=10,
                   tiles=None, zoom_snap=0.25)
    _MetricScale().add_to(m)
    folium.TileLayer("OpenStreetMap", control=False).add_to(m)
    _make_offline(m)  # Leaflet inlined as in every group's map: the overview opens with no internet, bar tiles
    folium.GeoJson(
        _geojson(frame, ["fill", "tip", "popup"]), name=esc(f"{by} 分组 groups"),
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#ffffff", "weight": 1.5,
                                  "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=380),
    ).add_to(m)
    key = "".join(f'<div><span class="gf-sw" style="background:{c}"></span>{esc(label)}</div>'
                  for _, c, label in OVERVIEW_KEY)
    legend = (f'<div id="gf-legend" class="gf-box"><b>{esc(title)} 分组汇总 / batch overview</b><br>'
              "按最差类别的未达标社区比例着色 / coloured by the share of communities short in the worst category"
              f'{key}<div><span class="gf-sw" style="background:#bdbdbd"></span>失败 failed</div>'
              "点击分组打开其地图和台账 / click a group for its map and ledger</div>")
    _Overlay(legend, "gf-legend", css=_CSS).add_to(m)
    m.fit_bounds(bounds)
    stable_ids(m.get_root())
    return save_html(m, path)
