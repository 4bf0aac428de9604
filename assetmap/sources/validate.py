"""Validation: every row read is accepted or quarantined with a reason code and a message.

Row-level reason codes
----------------------
================================  =============================================================
``missing_required``              a required field (an asset's name) is empty
``unknown_category``              the category is missing or not one assetmap knows
``missing_coordinates``           no position: no lat/lon, no easting/northing, no postcode
``unparsable_coordinates``        a coordinate is not a number
``coordinates_out_of_range``      latitude beyond +-90 or longitude beyond +-180
``latlon_swapped``                latitude and longitude are the wrong way round (UK bounds)
``outside_uk``                    a valid position, but not in the UK
``outside_study_area``            in the UK, but outside every loaded ward (or area)
``invalid_postcode``              only a postcode is given, and it is not shaped like one
``unknown_postcode``              only a postcode is given, and no loaded lookup knows it
``invalid_value``                 an attribute cannot be understood (capacity ``lots``)
``duplicate_source_id``           the same source record id earlier in the file
``duplicate_nearby``              the same name within 25 m of another asset
``bad_encoding``                  bytes that neither UTF-8 nor Windows-1252 can read
``malformed_row``                 a CSV row with the wrong number of fields
``schema_violation``              a record that breaks its format's published schema (an Open
                                  Referral UK 3.0 service: a required field, an id not a UUID,
                                  a url or email not one)
``missing_code``                  a boundary feature without an area code
``invalid_code``                  not a GSS code of a supported level
``duplicate_code`` / ``duplicate_area``  the same area twice in one file
``invalid_geometry``              a geometry that is empty or cannot be repaired
``wrong_geometry_type``           a point or line in a boundary file
``invalid_count``                 a census count that is not a whole number >= 0
``total_mismatch``                census categories that do not sum to the row's total
``total_row``                     a long-form census row holding a total, not a category
================================  =============================================================

File-level refusals (exit status 2, nothing stored) are raised by the readers as
:class:`assetmap.sources.FileRefused`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from typing import Any

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from assetmap.db.geography import assign_points
from assetmap.settings import DISPLAY_CRS, MAX_LAT, MAX_LON, STORE_CRS, settings
from assetmap.sources._io import GSS_RE, blank, quarantine_row
from assetmap.sources.postcodes import find_postcode, normalise_postcode
from assetmap.vocab import categories as cats

log = logging.getLogger(__name__)

#: Easting and northing both below this are the grid's origin corner: a pair of small numbers, not a place.
_NEAR_ORIGIN_M = 1000

_RELIGION_ALIASES = {"christianity": "christian", "islam": "muslim", "islamic": "muslim",
                     "sikhism": "sikh", "hinduism": "hindu", "judaism": "jewish",
                     "buddhism": "buddhist", "jainism": "jain", "church": "christian",
                     "mosque": "muslim", "gurdwara": "sikh", "mandir": "hindu",
                     "synagogue": "jewish", "interfaith": "multifaith"}


def name_key(name: str) -> str:
    """Return a name reduced for matching duplicates: lower-case letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# ---------------------------------------------------------------------------------------
# boundaries
# ---------------------------------------------------------------------------------------
def validate_boundaries(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """Check boundary features; repair invalid polygons with ``make_valid``.

    Returns the accepted features (polygonal geometry in EPSG:27700) and quarantine records.
    """
    quarantine: list[dict[str, Any]] = []
    keep = np.ones(len(gdf), dtype=bool)
    geoms = gdf.geometry.values
    repaired = np.empty(len(gdf), dtype=object)
    seen: dict[str, int] = {}
    for i, (rn, code, level, raw, geom) in enumerate(
            zip(gdf["row_number"], gdf["code"], gdf["level"], gdf["raw"], geoms, strict=False)):
        def bad(reason: str, message: str, i: int = i, rn: int = rn, raw: str = raw) -> None:
            keep[i] = False
            quarantine.append(quarantine_row(rn, raw, reason, f"feature {rn}: {message}"))

        if blank(code):
            bad("missing_code", "no area code")
            continue
        if not GSS_RE.match(code):
            bad("invalid_code", f"{code!r} is not a GSS code (like E05001178)")
            continue
        if level is None:
            bad("invalid_code", f"{code!r} is not a code of a level assetmap keeps "
                                "(output area, LSOA, MSOA, ward, local authority)")
            continue
        if geom is None or geom.is_empty:
            bad("invalid_geometry", f"{code} has no geometry")
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            bad("wrong_geometry_type", f"{code} is a {geom.geom_type}; boundaries must be polygons")
            continue
        if not geom.is_valid:
            fixed = shapely.make_valid(geom)
            polys = shapely.get_parts(fixed)
            polys = [p for p in polys if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
            if not polys:
                bad("invalid_geometry", f"{code}: the geometry is invalid and cannot be repaired")
                continue
            geom = shapely.union_all(polys) if len(polys) > 1 else polys[0]
            if geom.area <= 0:
                bad("invalid_geometry", f"{code}: the repaired geometry has no area")
                continue
        if code in seen:
            bad("duplicate_code", f"{code} already appears as feature {seen[code]}")
            continue
        seen[code] = rn
        repaired[i] = geom
    out = gdf.loc[keep].copy()
    out = out.set_geometry(gpd.GeoSeries(list(repaired[keep]), index=out.index, crs=gdf.crs))
    return out, quarantine


# ---------------------------------------------------------------------------------------
# assets
# ---------------------------------------------------------------------------------------
def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if math.isnan(value) else float(value)
    return float(str(value).strip().replace(",", ""))


Position = tuple[float, float] | tuple[str, str]


def _position(row: dict[str, Any], postcode_xy: dict[str, tuple[float, float]],
              to_bng: Transformer) -> Position:
    """(x, y) in EPSG:27700, or (reason_code, message).

    From latitude and longitude, else from easting and northing, else from the postcode.
    """
    if not blank(row["lat"]) or not blank(row["lon"]):
        return _from_lat_lon(row, postcode_xy, to_bng)
    if not blank(row["easting"]) or not blank(row["northing"]):
        return _from_grid(row)
    return _from_postcode(row, postcode_xy)


def _from_lat_lon(row: dict[str, Any], postcode_xy: dict[str, tuple[float, float]],
                  to_bng: Transformer) -> Position:
    min_lon, min_lat, max_lon, max_lat = settings.uk_bounds
    if blank(row["lat"]) or blank(row["lon"]):
        return "missing_coordinates", "latitude given without longitude (or the reverse)"
    pair = _number_pair(row["lat"], row["lon"])
    if pair is None:
        return "unparsable_coordinates", f"lat {row['lat']!r} / lon {row['lon']!r} are not numbers"
    lat, lon = pair
    if min_lat <= lat <= max_lat and min_lon <= lon <= max_lon:
        x, y = to_bng.transform(lon, lat)
        return float(x), float(y)
    if min_lat <= lon <= max_lat and min_lon <= lat <= max_lon:
        return "latlon_swapped", (f"lat {lat} / lon {lon} look swapped: ({lon}, {lat}) is in the UK; "
                                  "swap the columns and load it again")
    if not (-MAX_LAT <= lat <= MAX_LAT and -MAX_LON <= lon <= MAX_LON):
        return _placeholder(row, lat, lon, postcode_xy)
    return "outside_uk", f"lat {lat} / lon {lon} is not in the United Kingdom"


def _number_pair(a: Any, b: Any) -> tuple[float, float] | None:
    """Return two cells as finite numbers, or None when either is not one."""
    try:
        x, y = _float(a), _float(b)
    except ValueError:
        return None
    if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
        return None
    return x, y


def _placeholder(row: dict[str, Any], lat: float, lon: float,
                 postcode_xy: dict[str, tuple[float, float]]) -> Position:
    """Place a row whose lat/lon is no position on Earth by its postcode, or say why not.

    A placeholder (Open Referral UK's own examples give latitude 100, longitude 101): the row's
    postcode places it where a loaded lookup knows it.
    """
    pc = None if blank(row["postcode"]) else normalise_postcode(row["postcode"])
    if pc is not None and pc in postcode_xy:
        return postcode_xy[pc]
    why = (f"; its postcode {pc} is in no loaded postcode lookup (load one, ONSPD, to place it)" if pc
           else "" if blank(row["postcode"]) else f"; {row['postcode']!r} is not a UK postcode")
    return "coordinates_out_of_range", (f"lat {lat} / lon {lon} are not a position on Earth (a "
                                        f"placeholder?){why}")


def _from_grid(row: dict[str, Any]) -> Position:
    min_lon, min_lat, max_lon, max_lat = settings.uk_bounds
    if blank(row["easting"]) or blank(row["northing"]):
        return "missing_coordinates", "easting given without northing (or the reverse)"
    try:
        x, y = _float(row["easting"]), _float(row["northing"])
    except ValueError:
        return "unparsable_coordinates", (f"easting {row['easting']!r} / northing {row['northing']!r} "
                                          "are not numbers")
    if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
        return "unparsable_coordinates", "easting/northing are not numbers"
    min_e, min_n, max_e, max_n = settings.bng_bounds
    if min_e < x <= max_e and min_n < y <= max_n and (x > _NEAR_ORIGIN_M or y > _NEAR_ORIGIN_M):
        return x, y
    swapped = min_lat <= y <= max_lat and min_lon <= x <= max_lon
    if (min_lat <= x <= max_lat and min_lon <= y <= max_lon) or swapped:
        return "unparsable_coordinates", (f"easting {x} / northing {y} look like latitude/longitude; "
                                          "put them in the lat and lon columns")
    return "outside_uk", f"easting {x} / northing {y} is outside the British National Grid"


def _from_postcode(row: dict[str, Any], postcode_xy: dict[str, tuple[float, float]]) -> Position:
    pc_text = row["postcode"]
    if blank(pc_text):
        return "missing_coordinates", "no position: give lat/lon, easting/northing or a postcode"
    pc = normalise_postcode(pc_text)
    if pc is None:
        return "invalid_postcode", f"no coordinates, and {pc_text!r} is not a UK postcode"
    if pc not in postcode_xy:
        return "unknown_postcode", (f"no coordinates, and postcode {pc} is not in any loaded postcode "
                                    "lookup; load one (ONSPD) or give coordinates")
    return postcode_xy[pc]


def _subtype(category: str, value: Any) -> str | None:
    if blank(value):
        return None
    text = str(value).strip().lower()
    if category == "place_of_worship":
        text = _RELIGION_ALIASES.get(text, text)
        return text if text in cats.RELIGIONS else "other"
    return str(value).strip()


def _asset_id(source: str, record_id: str | None, key: str, x: float, y: float) -> str:
    basis = f"{source}\x1f{record_id}" if record_id else f"{source}\x1f{key}\x1f{round(x)}\x1f{round(y)}"
    return hashlib.sha1(basis.encode(), usedforsecurity=False).hexdigest()[:16]


def _postcodes_known(con: duckdb.DuckDBPyConnection, wanted: set[str]) -> dict[str, tuple[float, float]]:
    if not wanted:
        return {}
    rows = con.execute(
        # a hash join on the wanted list (ONSPD holds 2.6 million postcodes; a file may give thousands)
        "SELECT p.postcode, ST_X(p.geom), ST_Y(p.geom) FROM postcodes p "
        "JOIN (SELECT unnest(?::VARCHAR[]) AS postcode) w ON w.postcode = p.postcode",
        [sorted(wanted)],
    ).fetchall()
    return {pc: (x, y) for pc, x, y in rows}


def prepare_assets(frame: pd.DataFrame, con: duckdb.DuckDBPyConnection, source: str,
                    licence: str | None = None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Check asset candidates; place them; catch duplicates in the file and in the store.

    Parameters
    ----------
    frame
        Asset candidates as the readers produce them (:mod:`assetmap.sources._assets`).
    con
        The store's connection, inside the ingest's transaction.
    source
        The source label; with ``source_record_id`` (or name and position) it makes the id.

    Returns
    -------
    accepted, quarantine
        ``accepted`` has the asset table's columns plus ``x, y`` (EPSG:27700) and
        ``row_number``; ``quarantine`` the records of every refused row.
    """
    quarantine: list[dict[str, Any]] = []
    to_bng = Transformer.from_crs(DISPLAY_CRS, STORE_CRS, always_xy=True)
    records = frame.to_dict("records")
    # the postcodes of rows that may need them: no coordinates, or a placeholder's (any row may be one)
    wanted = {normalise_postcode(r["postcode"]) for r in records
              if blank(r["easting"]) and not blank(r["postcode"])}
    postcode_xy = _postcodes_known(con, {p for p in wanted if p})
    good: list[dict[str, Any]] = []
    for r in records:
        rn = r["row_number"]
        if not blank(r.get("reason")):  # the reader already found the problem and said what it is
            message = r["message"] if not blank(r["message"]) else r["reason"]
            quarantine.append(quarantine_row(rn, r["raw"], r["reason"], message))
            continue
        checked = _checked(r, postcode_xy, to_bng, source, licence)
        if isinstance(checked, tuple):
            quarantine.append(quarantine_row(rn, r["raw"], checked[0], f"row {rn}: {checked[1]}"))
        else:
            good.append(checked)
    if not good:
        return pd.DataFrame(), quarantine
    dist = settings.duplicate_distance_m
    acc = _without_repeated_ids(pd.DataFrame(good), quarantine)
    acc = _without_repeats_nearby(acc, quarantine, dist)
    acc["asset_id"] = [_asset_id(s, rid, k, x, y) for s, rid, k, x, y in
                       zip(acc["source"], acc["source_record_id"], acc["name_key"], acc["x"], acc["y"], strict=False)]
    acc = _placed_in_study_area(con, acc, quarantine)
    if len(acc):
        acc = _against_stored(con, acc, quarantine, source, dist)
    return acc, quarantine


def _checked(r: dict[str, Any], postcode_xy: dict[str, tuple[float, float]], to_bng: Transformer,
             source: str, licence: str | None) -> dict[str, Any] | tuple[str, str]:
    """One candidate as the asset table's row (with ``x, y``), or (reason_code, message)."""
    if blank(r["name"]):
        return "missing_required", "the name is empty"
    category = cats.normalise_category(r["category"])
    if category is None:
        shown = "empty" if blank(r["category"]) else repr(str(r["category"]))
        return "unknown_category", f"category {shown} is not one of {', '.join(cats.CATEGORIES)}"
    pos = _position(r, postcode_xy, to_bng)
    if isinstance(pos[0], str):
        return pos[0], str(pos[1])
    try:
        attrs = cats.normalise_attributes(r["attrs"] or {})
        sensitive = cats.parse_bool(r["sensitive"], "sensitive")
        status = cats.parse_status(r.get("status"))
        observed = _observed_at(r["observed_at"])
    except (cats.InvalidAttribute, ValueError, TypeError) as exc:
        return "invalid_value", str(exc)
    if sensitive is None:
        sensitive = category in cats.SENSITIVE_CATEGORIES or bool(attrs.get("women_only"))
    postcode = normalise_postcode(r["postcode"]) or find_postcode(r["address"])
    name = re.sub(r"\s+", " ", str(r["name"])).strip()
    record_id = None if blank(r["source_record_id"]) else str(r["source_record_id"]).strip()
    return {
        "row_number": r["row_number"], "raw": r["raw"], "category": category,
        "subtype": _subtype(category, r["subtype"]), "name": name, "name_key": name_key(name),
        "address": None if blank(r["address"]) else re.sub(r"\s+", " ", str(r["address"])).strip(),
        "postcode": postcode, "x": pos[0], "y": pos[1],
        "attrs": json.dumps(attrs, sort_keys=True, ensure_ascii=False),
        "sensitive": bool(sensitive), "source": source, "source_record_id": record_id,
        "licence": r["licence"] if not blank(r["licence"]) else licence,
        "observed_at": observed, "status": status,
    }


def _observed_at(value: Any) -> Any:
    """When a row says its site was observed (day first, no time zone), or None."""
    if blank(value):
        return None
    observed = pd.to_datetime(str(value), dayfirst=True, errors="raise")
    observed = observed.tz_localize(None) if observed.tzinfo else observed
    return observed.to_pydatetime()


def _without_repeated_ids(acc: pd.DataFrame, quarantine: list[dict[str, Any]]) -> pd.DataFrame:
    """Refuse a row whose source record id an earlier row of the file used."""
    has_id = acc["source_record_id"].notna()
    dup_id = has_id & acc.duplicated("source_record_id", keep="first")
    first_row = acc[has_id].drop_duplicates("source_record_id").set_index("source_record_id")["row_number"]
    for _, r in acc[dup_id].iterrows():
        quarantine.append(quarantine_row(r["row_number"], r["raw"], "duplicate_source_id",
                                         f"row {r['row_number']}: record id {r['source_record_id']!r} "
                                         f"already used by row {first_row[r['source_record_id']]}"))
    return acc[~dup_id].reset_index(drop=True)


def _without_repeats_nearby(acc: pd.DataFrame, quarantine: list[dict[str, Any]], dist: float) -> pd.DataFrame:
    """Refuse a row of the same name as an earlier row within the duplicate distance."""
    xy = acc[["x", "y"]].to_numpy()
    tree = cKDTree(xy)
    drop = np.zeros(len(acc), dtype=bool)
    keys = acc["name_key"].to_numpy()
    for i, j in sorted(tree.query_pairs(dist)):
        if keys[i] == keys[j] and not drop[i] and not drop[j]:
            drop[j] = True
            r = acc.iloc[j]
            d = float(np.hypot(*(xy[i] - xy[j])))
            quarantine.append(quarantine_row(r["row_number"], r["raw"], "duplicate_nearby",
                                             f"row {r['row_number']}: {r['name']!r} is {d:.0f} m from "
                                             f"row {acc.iloc[i]['row_number']} of the same name"))
    return acc[~drop].reset_index(drop=True)


def _placed_in_study_area(con: duckdb.DuckDBPyConnection, acc: pd.DataFrame,
                          quarantine: list[dict[str, Any]]) -> pd.DataFrame:
    """Each row's output area and ward; a row outside every loaded area is refused."""
    placed = assign_points(con, acc[["x", "y"]].assign(pid=np.arange(len(acc))))
    placed = placed.sort_values("pid").reset_index(drop=True)
    acc["oa_code"] = placed["oa_code"].to_numpy()
    acc["ward_code"] = placed["ward_code"].to_numpy()
    outside = ~placed["in_study_area"].to_numpy(dtype=bool)
    for _, r in acc[outside].iterrows():
        quarantine.append(quarantine_row(r["row_number"], r["raw"], "outside_study_area",
                                         f"row {r['row_number']}: {r['name']!r} lies outside every "
                                         "loaded area of the study area"))
    return acc[~outside].reset_index(drop=True)


def _against_stored(con: duckdb.DuckDBPyConnection, acc: pd.DataFrame, quarantine: list[dict[str, Any]],
                    source: str, dist: float) -> pd.DataFrame:
    """Rows of the same name within the duplicate distance of an asset already stored.

    The same source's row updates that asset (it moved or was renamed); another source's is refused.
    """
    con.register("_cand", acc[["asset_id", "name_key", "x", "y", "source"]])
    try:
        near = con.execute(
            """
            SELECT c.asset_id AS cand, a.asset_id AS existing, a.source, a.name,
                   ST_Distance(a.geom, ST_Point(c.x, c.y)) AS d
            FROM _cand c JOIN assets a
              ON a.name_key = c.name_key AND a.asset_id <> c.asset_id
             AND ST_DWithin(a.geom, ST_Point(c.x, c.y), ?)
            ORDER BY d
            """,
            [dist],
        ).df()
    finally:
        con.unregister("_cand")
    if not near.empty:
        near = near.drop_duplicates("cand")
        by_cand = near.set_index("cand")
        same_source = set(near.loc[near["source"] == source, "cand"])
        # the same source moved or renamed its own record: it updates that asset
        remap = dict(zip(near.loc[near["source"] == source, "cand"],
                         near.loc[near["source"] == source, "existing"], strict=False))
        clash = acc["asset_id"].isin(set(by_cand.index) - same_source)
        for _, r in acc[clash].iterrows():
            hit = by_cand.loc[r["asset_id"]]
            quarantine.append(quarantine_row(
                r["row_number"], r["raw"], "duplicate_nearby",
                f"row {r['row_number']}: {r['name']!r} is {hit['d']:.0f} m from asset "
                f"{hit['existing']} of the same name already loaded from {hit['source']!r}"))
        acc = acc[~clash].reset_index(drop=True)
        acc["asset_id"] = acc["asset_id"].map(lambda a: remap.get(a, a))
        # two rows remapped onto one stored asset: the later is a duplicate
        dup = acc.duplicated("asset_id", keep="first")
        for _, r in acc[dup].iterrows():
            quarantine.append(quarantine_row(r["row_number"], r["raw"], "duplicate_nearby",
                                             f"row {r['row_number']}: {r['name']!r} matches an asset "
                                             "another row of this file already updates"))
        acc = acc[~dup].reset_index(drop=True)
    return acc
