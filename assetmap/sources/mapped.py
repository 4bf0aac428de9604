"""Any CSV or GeoJSON in a foreign schema, through a column mapping.

``--map name=title --map address=address --map opening_hours=hours.opening --category
community_centre`` loads a directory's export without editing the file: each ``target=source``
names the source column (a dotted path into nested GeoJSON properties). Point geometries give
the position; other geometries their representative point.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shapely.geometry import shape

from assetmap.sources._assets import MAPPABLE, candidate, frame, get_path, write_assets
from assetmap.sources._io import FileRefused, ReadResult, load_json, read_csv_records
from assetmap.sources.registry import Reader
from assetmap.vocab.file_kinds import KINDS

KIND = "mapped"


def parse_mapping(pairs: list[str] | dict[str, str] | None) -> dict[str, str]:
    """``["name=title"]`` -> ``{"name": "title"}``, refusing unknown targets."""
    if not pairs:
        return {}
    if isinstance(pairs, dict):
        items = list(pairs.items())
    else:
        items = []
        for pair in pairs:
            if "=" not in pair:
                raise FileRefused("bad_mapping", f"--map {pair!r}: write it as target=source")
            target, source = pair.split("=", 1)
            items.append((target.strip(), source.strip()))
    mapping = {}
    for target, source in items:
        if target not in MAPPABLE:
            raise FileRefused("bad_mapping", f"--map {target}={source}: {target!r} is not a field "
                                             f"assetmap stores (one of {', '.join(MAPPABLE)})")
        mapping[target] = source
    return mapping


def _geojson_crs_is_bng(doc: dict[str, Any]) -> bool:
    name = str(get_path(doc, "crs.properties.name") or "")
    return "27700" in name


def _position(geom: Any, bng: bool) -> dict[str, Any]:
    if not geom:
        return {}
    try:
        g = shape(geom)
    except Exception:
        return {"_geom_error": True}
    if g.is_empty:
        return {}
    pt = g if g.geom_type == "Point" else g.representative_point()
    return {"easting": pt.x, "northing": pt.y} if bng else {"lon": pt.x, "lat": pt.y}


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    mapping = parse_mapping(options.get("mapping"))
    if "name" not in mapping:
        raise FileRefused("bad_mapping", f"{path}: the mapping must name the name column "
                                         "(--map name=<column>)")
    default_category = options.get("category")
    if "category" not in mapping and not default_category:
        raise FileRefused("bad_mapping", f"{path}: give --category or --map category=<column>")
    head = data.lstrip()[:1]
    rows = []
    quarantine: list[dict[str, Any]] = []
    if head in (b"{", b"["):
        doc = load_json(data, path)
        features = doc.get("features") if isinstance(doc, dict) else None
        if not isinstance(features, list):
            raise FileRefused("unknown_format", f"{path}: JSON but not a GeoJSON FeatureCollection")
        bng = _geojson_crs_is_bng(doc)
        for i, feat in enumerate(features, start=1):
            props = (feat or {}).get("properties") or {}
            values = {t: get_path(props, s) for t, s in mapping.items()}
            pos = _position((feat or {}).get("geometry"), bng)
            for k, v in pos.items():
                values.setdefault(k, v)
            geom_error = values.pop("_geom_error", False)
            rec = candidate(i, feat, **{k: v for k, v in values.items() if k not in ("lat", "lon") or v is not None})
            if geom_error:
                rec["reason"], rec["message"] = "invalid_geometry", f"feature {i}: its geometry cannot be read"
            rows.append(rec)
        rows_read = len(features)
        encoding = "utf-8"
    else:
        csv_rec = read_csv_records(data, path)
        missing = [s for s in mapping.values() if s not in csv_rec.header]
        if missing:
            raise FileRefused("missing_columns", f"{path}: mapped column(s) not in the file: "
                                                 f"{', '.join(missing)} (columns: {', '.join(csv_rec.header)})")
        for rn, row in csv_rec.rows:
            rows.append(candidate(rn, row, **{t: row[s] for t, s in mapping.items()}))
        quarantine = list(csv_rec.quarantine)
        rows_read = csv_rec.rows_read
        encoding = csv_rec.encoding
    for r in rows:
        if default_category and not r["category"]:
            r["category"] = default_category
    return ReadResult(KIND, frame(rows), quarantine, rows_read,
                      {"mapping": json.dumps(mapping, sort_keys=True), "encoding": encoding})


def _has_mapping(_shape: Any, _text: Any = None, options: dict[str, Any] | None = None) -> bool:
    return bool((options or {}).get("mapping"))


READER = Reader(
    KIND, KINDS[KIND],
    read, write_assets, tables=("assets", "asset_versions"), rank=4, holds_assets=True,
    json=lambda _doc, options: _has_mapping(None, None, options), csv=_has_mapping)
