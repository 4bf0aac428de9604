"""The common shape of asset rows that every asset reader produces for validation."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

from assetmap.sources._io import ReadResult
from assetmap.sources.registry import Written
from assetmap.validate import prepare_assets
from assetmap.vocab.categories import ATTRIBUTES

#: Columns of an asset candidate frame, in order.
COLUMNS = (
    "row_number", "raw", "name", "category", "subtype", "address", "postcode", "lat", "lon",
    "easting", "northing", "source_record_id", "sensitive", "observed_at", "licence", "attrs",
    "reason", "message",
)
#: Fields a column mapping (``--map target=source``) may fill.
MAPPABLE = ("name", "category", "subtype", "address", "postcode", "lat", "lon", "easting",
            "northing", "source_record_id", "sensitive", "observed_at", "licence", *ATTRIBUTES)

_HEADER_ALIASES = {
    "latitude": "lat", "y_lat": "lat", "longitude": "lon", "lng": "lon", "long": "lon",
    "x": "easting", "y": "northing", "eastings": "easting", "northings": "northing",
    "id": "source_record_id", "source_id": "source_record_id", "ref": "source_record_id",
    "record_id": "source_record_id", "type": "category", "religion": "subtype",
    "post_code": "postcode", "url": "website", "languages_spoken": "languages",
    "levels": "esol_levels", "creche": "childcare", "waiting_list": "waiting_list_weeks",
    "hours": "opening_hours", "step_free_access": "step_free", "wheelchair": "step_free",
}


def canonical_field(header: str) -> str:
    """Map a header of a provider file to a template field (``Latitude`` -> ``lat``)."""
    key = header.strip().lower().replace(" ", "_").replace("-", "_")
    return _HEADER_ALIASES.get(key, key)


def candidate(row_number: int, raw: Any, **fields: Any) -> dict[str, Any]:
    """One asset candidate; unknown field names go into ``attrs`` when they are attributes."""
    rec: dict[str, Any] = dict.fromkeys(COLUMNS)
    rec["row_number"] = int(row_number)
    rec["raw"] = raw if isinstance(raw, str) else json.dumps(raw, default=str, ensure_ascii=False)
    attrs: dict[str, Any] = dict(fields.pop("attrs", None) or {})
    for key, value in fields.items():
        if key in rec:
            rec[key] = value
        elif key in ATTRIBUTES:
            attrs[key] = value
    rec["attrs"] = attrs
    return rec


def frame(candidates: list[dict[str, Any]]) -> pd.DataFrame:
    if not candidates:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    return pd.DataFrame(candidates, columns=list(COLUMNS)).astype({"row_number": "int64"})


def get_path(obj: Any, dotted: str) -> Any:
    """``get_path({"hours": {"opening": "Mo"}}, "hours.opening") == "Mo"``; None when absent."""
    cur = obj
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


_ASSET_COLS = ["asset_id", "category", "subtype", "name", "name_key", "address", "postcode", "x", "y",
               "attrs", "sensitive", "source", "source_record_id", "licence", "observed_at",
               "oa_code", "ward_code"]


def write_assets(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    accepted, quarantine = prepare_assets(result.frame, con, source, options.get("licence"))
    quarantine = list(result.quarantine) + quarantine
    if accepted.empty:
        return Written(0, quarantine, [], 0, "no assets accepted")
    df = accepted[_ASSET_COLS].copy()
    df["observed_at"] = pd.to_datetime(df["observed_at"])
    con.register("_a", df)
    try:
        changed = con.execute(
            """
            SELECT n.asset_id, n.ward_code AS new_ward, o.ward_code AS old_ward
            FROM _a n LEFT JOIN assets o ON o.asset_id = n.asset_id
            WHERE o.asset_id IS NULL
               OR o.category IS DISTINCT FROM n.category OR o.subtype IS DISTINCT FROM n.subtype
               OR o.name IS DISTINCT FROM n.name OR o.address IS DISTINCT FROM n.address
               OR o.postcode IS DISTINCT FROM n.postcode OR o.attrs::VARCHAR IS DISTINCT FROM n.attrs
               OR o.sensitive IS DISTINCT FROM n.sensitive
               OR ST_X(o.geom) IS DISTINCT FROM n.x OR ST_Y(o.geom) IS DISTINCT FROM n.y
            """
        ).df()
        con.execute(
            """
            INSERT INTO assets (asset_id, category, subtype, name, name_key, address, postcode, geom,
                                attrs, sensitive, source, source_record_id, licence, observed_at,
                                ingest_id, oa_code, ward_code)
            SELECT asset_id, category, subtype, name, name_key, address, postcode, ST_Point(x, y),
                   attrs::JSON, sensitive, source, source_record_id, licence, observed_at, ?,
                   oa_code, ward_code
            FROM _a
            ON CONFLICT (asset_id) DO UPDATE SET
                category = excluded.category, subtype = excluded.subtype, name = excluded.name,
                name_key = excluded.name_key, address = excluded.address,
                postcode = excluded.postcode, geom = excluded.geom, attrs = excluded.attrs,
                sensitive = excluded.sensitive, source_record_id = excluded.source_record_id,
                licence = excluded.licence, observed_at = excluded.observed_at,
                ingest_id = excluded.ingest_id, oa_code = excluded.oa_code,
                ward_code = excluded.ward_code
            """,
            [ingest_id],
        )
    finally:
        con.unregister("_a")
    wards = sorted(set(pd.concat([changed["new_ward"], changed["old_ward"]]).dropna()))
    cats = accepted["category"].value_counts().to_dict()
    note = f"{len(accepted)} assets (" + ", ".join(f"{k} {v}" for k, v in sorted(cats.items())) + ")"
    return Written(len(accepted), quarantine, wards, len(changed), note)
