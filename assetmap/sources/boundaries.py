"""ONS boundary files (GeoJSON, GeoPackage, Shapefile) in any CRS.

The code field is found by name (``OA11CD``, ``WD13CD``, ``LAD21CD``, ``code``...); the level by
the GSS code's prefix. Coarser code fields on the same feature (``LAD11CD`` on an OA) become
lookup rows. Geometries are reprojected to EPSG:27700; invalid ones are repaired with
``make_valid`` in validation, or quarantined.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path
from typing import Any, cast

import duckdb
import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from assetmap.db import geography
from assetmap.db.sql import upsert
from assetmap.settings import MAX_LAT, MAX_LON, STORE_CRS, settings
from assetmap.sources._io import GSS_RE, FileRefused, ReadResult, level_of, norm_key
from assetmap.sources._store import upsert_lookup, wards_of_areas
from assetmap.sources.registry import Reader, Written
from assetmap.sources.validate import validate_boundaries
from assetmap.vocab.file_kinds import KINDS

KIND = "boundaries"

_CODE_FIELD = re.compile(r"^(oa|lsoa|msoa|wd|ward|lad|la|ltla|utla|ctyua|cmlad)\d{0,2}cd$")
_LEVEL_RANK = {"oa": 0, "lsoa": 1, "msoa": 2, "ward": 3, "la": 4}


def _crs_from_bounds(gdf: gpd.GeoDataFrame) -> str | None:
    minx, miny, maxx, maxy = gdf.total_bounds
    if -MAX_LON <= minx <= maxx <= MAX_LON and -MAX_LAT <= miny <= maxy <= MAX_LAT:
        return "EPSG:4326"
    e0, n0, e1, n1 = settings.bng_bounds
    if e0 <= minx <= maxx <= e1 and n0 <= miny <= maxy <= n1:
        return STORE_CRS
    return None


def _code_columns(gdf: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    """(column, level) of every property holding GSS codes, finest level first."""
    found: list[tuple[str, str]] = []
    for col in gdf.columns:
        if col == "geometry":
            continue
        key = norm_key(col)
        if not (_CODE_FIELD.match(key) or key in {"code", "gsscode", "geocode", "areacode"}):
            continue
        values = gdf[col].dropna().astype(str)
        if values.empty:
            continue
        levels = values.map(level_of).dropna()
        if levels.empty or len(levels) < 0.5 * len(values):
            continue
        found.append((col, levels.mode().iloc[0]))
    found.sort(key=lambda cl: _LEVEL_RANK[cl[1]])
    return found


def _name_column(gdf: gpd.GeoDataFrame, code_col: str) -> str | None:
    stem = code_col[:-2] if code_col.lower().endswith("cd") else None
    for col in gdf.columns:
        if stem and col.lower() == (stem + "nm").lower():
            return cast("str | None", col)
    for col in gdf.columns:
        if norm_key(col) in {"name", "areaname", "label"}:
            return cast("str | None", col)
    return None


def _vintage(code_col: str, path: Path, given: str | None) -> str | None:
    if given:
        return given
    m = re.search(r"(\d{2})cd$", code_col.lower())
    if m:
        return f"20{m.group(1)}"
    m = re.search(r"(20\d{2})", path.name)
    return m.group(1) if m else None


def read(path: str | Path, data: bytes | None, options: dict[str, Any]) -> ReadResult:
    """Read a boundary file into a GeoDataFrame in EPSG:27700 (one row per feature).

    Columns: ``row_number, code, name, level, vintage, raw, geometry``; the lookup frame holds
    ``area_code, parent_level, parent_code`` from coarser code properties. ``data``, the file's
    bytes already read, is what is parsed (the file is not opened again), except for a bare
    Shapefile, whose sidecar files GDAL finds beside it.
    """
    path = Path(path)
    source: Any = io.BytesIO(data) if data is not None and path.suffix.lower() != ".shp" else path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = pyogrio.read_dataframe(source)
    except Exception as exc:  # pyogrio raises several error types for unreadable data
        raise FileRefused("unreadable", f"{path}: not a readable boundary file ({exc})") from exc
    if gdf.empty:
        raise FileRefused("no_rows", f"{path}: the boundary file has no features")
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.isna().all():
        raise FileRefused("unreadable", f"{path}: no geometries found")
    crs = gdf.crs
    if crs is None:
        guessed = _crs_from_bounds(gdf)
        if guessed is None:
            raise FileRefused("unknown_crs", f"{path}: no CRS given and the coordinates are neither "
                                             "longitude/latitude nor British National Grid")
        gdf = gdf.set_crs(guessed)
    codes = _code_columns(gdf)
    level_opt = options.get("level")
    code_col = options.get("code_field")
    if code_col is None:
        if not codes:
            raise FileRefused("missing_columns", f"{path}: no property holds GSS area codes "
                                                 "(expected e.g. OA21CD, WD22CD, LAD21CD or code); "
                                                 "name it with --code-field")
        code_col = codes[0][0]
    elif code_col not in gdf.columns:
        raise FileRefused("missing_columns", f"{path}: no property {code_col!r}")
    name_col = options.get("name_field") or _name_column(gdf, code_col)
    vintage = _vintage(code_col, path, options.get("vintage"))

    props = gdf.drop(columns="geometry")
    raw = [json.dumps({k: (None if pd.isna(v) else v) for k, v in rec.items()}, default=str)
           for rec in props.to_dict("records")]
    out = gpd.GeoDataFrame(
        {
            "row_number": range(1, len(gdf) + 1),
            "code": gdf[code_col].map(lambda v: None if pd.isna(v) else str(v).strip()),
            "name": gdf[name_col].map(lambda v: None if pd.isna(v) else str(v)) if name_col else None,
            "vintage": vintage,
            "raw": raw,
        },
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    )
    out["level"] = out["code"].map(level_of)
    if level_opt:
        out.loc[out["code"].map(lambda c: isinstance(c, str) and bool(GSS_RE.match(c))), "level"] = level_opt
    out = out.to_crs(STORE_CRS)

    lookups = []
    for col, lvl in codes:
        if col == code_col or lvl == "oa":
            continue
        lk = pd.DataFrame({"area_code": out["code"], "parent_level": lvl,
                           "parent_code": gdf[col].astype("string").str.strip()})
        lookups.append(lk.dropna())
    lookup = pd.concat(lookups, ignore_index=True) if lookups else None
    return ReadResult(KIND, out, [], len(out), {"code_field": code_col, "vintage": vintage}, lookup)


def is_polygon_collection(doc: Any) -> bool:
    """Whether a header (or document) is this reader's format."""
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        return False
    types = [((f or {}).get("geometry") or {}).get("type") for f in feats[:200]]
    polys = sum(t in ("Polygon", "MultiPolygon") for t in types)
    return polys > 0 and polys >= 0.5 * sum(t is not None for t in types)


_GEO_SUFFIXES = {".gpkg", ".shp", ".zip", ".fgb"}


def _is_geo_container(data: bytes, path: Path) -> bool:
    return data[:16].startswith(b"SQLite format 3") or path.suffix.lower() in _GEO_SUFFIXES \
        or data[:4] == b"PK\x03\x04"


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    accepted, quarantine = validate_boundaries(result.frame)
    df = pd.DataFrame({
        "code": accepted["code"].to_numpy(), "name": accepted["name"].to_numpy(),
        "level": accepted["level"].to_numpy(), "vintage": accepted["vintage"].to_numpy(),
        "wkb": shapely.to_wkb(accepted.geometry.values),
    })
    upsert(con, "areas", df.assign(source=source, ingest_id=ingest_id), ["code"],
           values={"code": "code", "name": "name", "level": "level", "parent_code": "NULL", "vintage": "vintage",
                   "geom": "ST_GeomFromWKB(wkb)", "source": "source", "ingest_id": "ingest_id"},
           update=["name", "level", "vintage", "geom", "source", "ingest_id"])
    geography.record_bounds(con, ingest_id)
    if result.lookup is not None and not result.lookup.empty:
        rank = {"oa": 0, "lsoa": 1, "msoa": 2, "ward": 3, "la": 4}
        lvl = dict(zip(df["code"], df["level"], strict=False))
        lk = result.lookup[result.lookup["area_code"].isin(lvl)]
        lk = lk[[rank[p] > rank[lvl[c]] for c, p in zip(lk["area_code"], lk["parent_level"], strict=False)]]
        if not lk.empty:
            upsert_lookup(con, lk, ingest_id)
    geography.refresh_index(con, set(df["level"]))
    derived = geography.derive_best_fit(con, ingest_id)
    moved = geography.reassign_assets(con)
    wards = wards_of_areas(con, df["code"].tolist())
    note = f"{len(df)} areas ({', '.join(sorted(set(df['level'])))})"
    if derived:
        note += "; best-fit lookups derived: " + ", ".join(f"{k} {v}" for k, v in derived.items())
    return Written(len(df), quarantine, wards, moved, note)


READER = Reader(
    KIND, KINDS[KIND],
    read, write, tables=("areas", "area_lookup"), rank=0,
    binary=_is_geo_container, json=lambda doc, _options: is_polygon_collection(doc))
