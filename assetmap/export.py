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
from assetmap.settings import DISPLAY_CRS, STORE_CRS
from assetmap.store import Store
from assetmap.vocab.exports import AREA_LAYERS, FORMATS, LAYERS

log = logging.getLogger(__name__)



def layer_frame(store: Store, layer: str, partner: bool = False) -> gpd.GeoDataFrame | pd.DataFrame:
    """A layer as a (Geo)DataFrame in EPSG:4326 (quarantine has no geometry)."""
    if layer in AREA_LAYERS:
        # each area's bus and rail access (PTAL): an OA's own, a unit's residents' mean; empty
        # until a timetable is loaded and analysed
        df = store.con.execute(
            """SELECT a.code, a.name, a.level, a.parent_code, a.vintage, a.source,
                      coalesce(o.ptal_ai, u.ptal_ai) AS ptal_ai, coalesce(o.ptal_band, u.ptal_band) AS ptal_band,
                      ST_AsWKB(a.geom) AS wkb
               FROM areas a
               LEFT JOIN oa_ptal o ON a.level = 'oa' AND o.oa_code = a.code
               LEFT JOIN unit_ptal u ON a.level <> 'oa' AND u.unit_level = a.level AND u.unit_code = a.code
               WHERE a.level = ? ORDER BY a.code""",
            [AREA_LAYERS[layer]],
        ).df()
    elif layer == "assets":
        df = store.con.execute(
            "SELECT asset_id, category, subtype, name, address, postcode, attrs::VARCHAR AS attrs, "
            "sensitive, source, source_record_id, licence, observed_at, oa_code, ward_code, "
            "ST_AsWKB(geom) AS wkb FROM assets WHERE ? OR NOT sensitive ORDER BY asset_id",
            [partner],
        ).df()
        if not partner:
            hidden = store.scalar("SELECT count(*) FROM assets WHERE sensitive")
            if hidden:
                log.info("%d sensitive assets left out (public mode)", hidden)
    elif layer == "quarantine":
        return store.con.execute(
            "SELECT q.ingest_id, i.path, q.row_number, q.reason_code, q.message, q.raw "
            "FROM quarantine q JOIN ingests i USING (ingest_id) ORDER BY q.ingest_id, q.row_number"
        ).df()
    else:
        raise ValueError(f"unknown layer {layer!r}; one of {', '.join(LAYERS)}")
    geoms = shapely.from_wkb([bytes(b) for b in df.pop("wkb")]) if len(df) else []
    gdf = gpd.GeoDataFrame(df, geometry=list(geoms), crs=STORE_CRS)
    return gdf.to_crs(DISPLAY_CRS)


def export_layer(store: Store, layer: str, fmt: str, out: str | Path, partner: bool = False,
                 oruk_version: str = "3.0") -> int:
    """Write ``layer`` to ``out`` as ``fmt``; return the number of features written
    (``oruk_version``: the Open Referral UK shape, ``"3.0"`` or ``"1"``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    out = Path(out)
    if fmt == "openreferral":
        if layer != "assets":
            raise ValueError("the openreferral format is for --layer assets (services at locations)")
        from assetmap import openreferral

        doc = openreferral.document(store, partner=partner, version=oruk_version)  # checked first
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(out)
        if not partner:
            hidden = store.scalar("SELECT count(*) FROM assets WHERE sensitive")
            if hidden:
                log.info("%d sensitive assets left out (public mode)", hidden)
        return len(openreferral.services_in(doc))
    frame = layer_frame(store, layer, partner=partner)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv" or not isinstance(frame, gpd.GeoDataFrame):
        if fmt != "csv":
            raise ValueError(f"layer {layer} has no geometry; export it as csv")
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
