"""Exports of the store's layers as GeoJSON, GeoPackage or CSV, in EPSG:4326.

Sensitive assets (refugee support venues, women-only spaces) are left out of public exports:
their exact location is only exported in partner mode.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from assetmap.csvout import write_csv
from assetmap.db.store import Store
from assetmap.queries import exports
from assetmap.settings import DISPLAY_CRS, STORE_CRS
from assetmap.vocab.exports import AREA_LAYERS, FORMATS, LAYERS

log = logging.getLogger(__name__)



def layer_frame(store: Store, layer: str, partner: bool = False) -> gpd.GeoDataFrame | pd.DataFrame:
    """Return a layer as a (Geo)DataFrame in EPSG:4326 (quarantine has no geometry)."""
    if layer in AREA_LAYERS:
        # each area's bus and rail access (PTAL): an OA's own, a unit's residents' mean; empty
        # until a timetable is loaded and analysed
        df = exports.area_layer(store.con, AREA_LAYERS[layer])
    elif layer == "assets":
        df = exports.asset_layer(store.con, partner)
        if not partner:
            hidden = exports.sensitive_sites(store.con)
            if hidden:
                log.info("%d sensitive assets left out (public mode)", hidden)
    elif layer == "quarantine":
        return exports.quarantine_layer(store.con)
    else:
        msg = f"unknown layer {layer!r}; one of {', '.join(LAYERS)}"
        raise ValueError(msg)
    geoms = shapely.from_wkb([bytes(b) for b in df.pop("wkb")]) if len(df) else []
    gdf = gpd.GeoDataFrame(df, geometry=list(geoms), crs=STORE_CRS)
    return gdf.to_crs(DISPLAY_CRS)


def export_layer(store: Store, layer: str, fmt: str, out: str | Path, partner: bool = False,
                 oruk_version: str = "3.0") -> int:
    """Write ``layer`` to ``out`` as ``fmt``.

    Return the number of features written (``oruk_version``: the Open Referral UK shape, ``"3.0"`` or ``"1"``).
    """
    if fmt not in FORMATS:
        msg = f"unknown format {fmt!r}; one of {', '.join(FORMATS)}"
        raise ValueError(msg)
    out = Path(out)
    if fmt == "openreferral":
        if layer != "assets":
            msg = "the openreferral format is for --layer assets (services at locations)"
            raise ValueError(msg)
        from assetmap import openreferral

        doc = openreferral.document(store, partner=partner, version=oruk_version)  # checked first
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(out)
        if not partner:
            hidden = exports.sensitive_sites(store.con)
            if hidden:
                log.info("%d sensitive assets left out (public mode)", hidden)
        return len(openreferral.services_in(doc))
    frame = layer_frame(store, layer, partner=partner)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv" or not isinstance(frame, gpd.GeoDataFrame):
        if fmt != "csv":
            msg = f"layer {layer} has no geometry; export it as csv"
            raise ValueError(msg)
        if isinstance(frame, gpd.GeoDataFrame):
            pts = frame.geometry.representative_point()
            frame = pd.DataFrame(frame.drop(columns="geometry")).assign(
                lon=pts.x.round(6), lat=pts.y.round(6))
        write_csv(frame, out)  # no cell a spreadsheet would run as a formula
    elif fmt == "geojson":
        out.write_text(frame.to_json(drop_id=True, default=str), encoding="utf-8")
    else:
        for col in frame.columns:
            if frame[col].dtype == object and col != "geometry":
                frame[col] = frame[col].map(
                    lambda v: v if v is None or isinstance(v, str) else json.dumps(v, default=str))
        frame.to_file(out, driver="GPKG", layer=layer)
    return len(frame)
