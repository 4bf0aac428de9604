"""The common shape of asset rows that every asset reader produces for validation."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

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
