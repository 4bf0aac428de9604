"""The provider CSV template: one row per asset, as a council or a provider network keeps it.

Template columns (see README, "Provider template"): ``name, category, subtype, address,
postcode, lat, lon, easting, northing`` and the attributes ``capacity, cost, esol_levels,
childcare, women_only, languages, waiting_list_weeks, day_evening, step_free, opening_hours,
website``; optional ``id, sensitive, observed_at, licence``. A row needs lat/lon,
easting/northing, or a postcode known to a loaded postcode lookup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assetmap.sources import geoassets
from assetmap.sources._assets import candidate, canonical_field, frame, write_assets
from assetmap.sources._io import FileRefused, ReadResult, read_csv_records
from assetmap.sources.registry import Reader
from assetmap.vocab.file_kinds import KINDS

KIND = "providers"
REQUIRED = ("name",)


def looks_like_providers(header: list[str]) -> bool:
    """Whether a header (or document) is this reader's format."""
    fields = {canonical_field(h) for h in header}
    return "name" in fields and "category" in fields


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    if geoassets.container(data) or data.lstrip()[:1] in (b"{", b"["):
        return geoassets.read(path, data, options)
    rec = read_csv_records(data, path)
    fields = {h: canonical_field(h) for h in rec.header}
    present = set(fields.values())
    missing = [f for f in REQUIRED if f not in present]
    if "category" not in present and not options.get("category"):
        missing.append("category")
    if missing:
        raise FileRefused("missing_columns", f"{path}: required column(s) missing: {', '.join(missing)} "
                                             "(see the provider template in README.md, or map "
                                             "columns with --map)")
    default_category = options.get("category")
    rows = []
    for rn, row in rec.rows:
        values = {fields[h]: v for h, v in row.items()}
        if default_category and not (values.get("category") or "").strip():
            values["category"] = default_category
        rows.append(candidate(rn, row, **values))
    return ReadResult(KIND, frame(rows), list(rec.quarantine), rec.rows_read, {"encoding": rec.encoding})


READER = Reader(
    KIND, KINDS[KIND],
    read, write_assets, tables=("assets", "asset_versions"), rank=4, holds_assets=True,
    binary=lambda data, _path: bool(geoassets.container(data)) and geoassets.looks_like_container_assets(data),
    json=lambda doc, _options: geoassets.looks_like_geojson_assets(doc),
    csv=lambda header, _text, _options: looks_like_providers(header))
