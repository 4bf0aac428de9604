"""OpenStreetMap extracts: Overpass API JSON (``out center``) and GeoJSON with OSM tags.

Tags map to categories as follows:

- ``amenity=place_of_worship`` -> ``place_of_worship``, subtype from ``religion``;
- ``amenity=community_centre`` (or ``social_centre``, ``community_centre=*``) -> ``community_centre``;
- ``amenity=language_school``, or a name or description mentioning ESOL -> ``esol_provider``;
- ``social_facility:for`` naming refugees, migrants or asylum seekers, or ``office=ngo`` /
  ``social_facility`` whose name or description names them -> ``refugee_support``.

Elements with no mapped tag are quarantined as ``unknown_category``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shapely.geometry import shape

from assetmap.sources._assets import candidate, frame, write_assets
from assetmap.sources._io import FileRefused, ReadResult, load_json
from assetmap.sources.registry import Reader
from assetmap.vocab.categories import RELIGIONS
from assetmap.vocab.file_kinds import KINDS

KIND = "osm"

_REFUGEE = re.compile(r"refugee|asylum|migrant|sanctuary|welcome project", re.IGNORECASE)
_ESOL = re.compile(r"\besol\b|english (language )?class|english for speakers", re.IGNORECASE)
_OSM_KEYS = {"amenity", "religion", "office", "social_facility", "building", "leisure", "shop"}


def classify(tags: dict[str, str]) -> tuple[str | None, str | None]:
    """(category, subtype) from OSM tags; (None, None) when no tag maps."""
    amenity = tags.get("amenity", "")
    text = " ".join(str(tags.get(k, "")) for k in ("name", "description", "operator"))
    if amenity == "place_of_worship":
        religion = str(tags.get("religion", "")).strip().lower() or None
        if religion is not None and religion not in RELIGIONS:
            religion = "other"
        return "place_of_worship", religion
    if amenity == "language_school" or _ESOL.search(text):
        return "esol_provider", None
    sf_for = str(tags.get("social_facility:for", ""))
    if _REFUGEE.search(sf_for) or (
        (tags.get("office") in {"ngo", "charity", "association"} or amenity == "social_facility")
        and _REFUGEE.search(text)
    ):
        return "refugee_support", None
    if amenity in {"community_centre", "social_centre"} or "community_centre" in tags:
        return "community_centre", tags.get("community_centre") or None
    return None, None


def _fields(tags: dict[str, str]) -> dict[str, Any]:
    addr = ", ".join(str(tags[k]) for k in ("addr:housenumber", "addr:street", "addr:city")
                     if tags.get(k))
    wheelchair = tags.get("wheelchair")
    return {
        "name": tags.get("name"),
        "address": addr or None,
        "postcode": tags.get("addr:postcode"),
        "opening_hours": tags.get("opening_hours"),
        "website": tags.get("website") or tags.get("contact:website"),
        "phone": tags.get("phone") or tags.get("contact:phone"),
        "step_free": {"yes": True, "no": False}.get(str(wheelchair)) if wheelchair else None,
        "description": tags.get("description"),
    }


def place_row(i: int, raw: Any, osm_id: str | None, tags: dict[str, str], lat: Any, lon: Any) -> dict[str, Any]:
    """Return a candidate asset from one OpenStreetMap element (``i``: its row number)."""
    category, subtype = classify(tags)
    rec = candidate(i, raw, category=category, subtype=subtype, lat=lat, lon=lon,
                    source_record_id=osm_id, licence="ODbL (c) OpenStreetMap contributors",
                    **_fields(tags))
    if category is None:
        rec["reason"] = "unknown_category"
        shown = {k: v for k, v in tags.items() if k in _OSM_KEYS}
        rec["message"] = f"element {osm_id or i}: no tag maps to an assetmap category ({shown or 'no tags'})"
    return rec


def looks_like_overpass(doc: Any) -> bool:
    """Whether a header (or document) is this reader's format."""
    return isinstance(doc, dict) and isinstance(doc.get("elements"), list)


def looks_like_osm_geojson(doc: Any) -> bool:
    """Whether a header (or document) is this reader's format."""
    if not (isinstance(doc, dict) and isinstance(doc.get("features"), list)):
        return False
    for feat in doc["features"][:50]:
        feat = feat if isinstance(feat, dict) else {}
        props = feat.get("properties") or {}
        tags: dict[str, Any] = props["tags"] if isinstance(props.get("tags"), dict) else props
        osm_id = str(props.get("@id", feat.get("id", "")))
        if "amenity" in tags or "office" in tags or osm_id.startswith(("node/", "way/", "relation/")):
            return True
    return False


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    doc = load_json(data, path)
    rows = []
    if looks_like_overpass(doc):
        for i, el in enumerate(doc["elements"], start=1):
            el = el if isinstance(el, dict) else {}
            tags = el.get("tags") or {}
            osm_id = f"{el.get('type', 'element')}/{el.get('id')}"
            lat: Any = el.get("lat")
            lon: Any = el.get("lon")
            if lat is None and isinstance(el.get("center"), dict):
                lat, lon = el["center"].get("lat"), el["center"].get("lon")
            if lat is None and isinstance(el.get("bounds"), dict):
                b = el["bounds"]
                lat = (b.get("minlat", 0) + b.get("maxlat", 0)) / 2
                lon = (b.get("minlon", 0) + b.get("maxlon", 0)) / 2
            rows.append(place_row(i, el, osm_id, tags, lat, lon))
        n = len(doc["elements"])
    elif isinstance(doc, dict) and isinstance(doc.get("features"), list):
        for i, feat in enumerate(doc["features"], start=1):
            feat = feat if isinstance(feat, dict) else {}
            props = feat.get("properties") or {}
            feature_tags: dict[str, Any] = props["tags"] if isinstance(props.get("tags"), dict) else props
            feature_id = props.get("@id") or feat.get("id") or props.get("id")
            lat = lon = None
            bad_geom = False
            if feat.get("geometry"):
                try:
                    g = shape(feat["geometry"])
                    pt = g if g.geom_type == "Point" else g.representative_point()
                    lon, lat = pt.x, pt.y
                except Exception:
                    bad_geom = True
            rec = place_row(i, feat, str(feature_id) if feature_id else None, feature_tags, lat, lon)
            if bad_geom and rec["reason"] is None:
                rec["reason"], rec["message"] = "invalid_geometry", f"feature {i}: geometry cannot be read"
            rows.append(rec)
        n = len(doc["features"])
    else:
        raise FileRefused("unknown_format", f"{path}: neither Overpass JSON nor GeoJSON")
    source_format = "overpass" if looks_like_overpass(doc) else "geojson"
    return ReadResult(KIND, frame(rows), [], n, {"source_format": source_format})


READER = Reader(
    KIND, KINDS[KIND], read, write_assets,
    tables=("assets", "asset_versions"), rank=4, holds_assets=True,
    json=lambda doc, _options: looks_like_overpass(doc) or looks_like_osm_geojson(doc))
