"""Source readers, one module per format, and the sniffing that picks one.

=================  ========================================================================
kind               format
=================  ========================================================================
``boundaries``     ONS boundary GeoJSON / GeoPackage / Shapefile (:mod:`.boundaries`)
``census``         ONS / Nomis census CSV, wide or long (:mod:`.census`)
``lookup``         OA -> ward / LSOA / MSOA / LA lookup CSV (:mod:`.lookup`)
``postcodes``      postcode -> position lookup CSV (:mod:`.postcodes`)
``providers``      the provider CSV template (:mod:`.providers`), or GeoJSON / GeoPackage /
                   GeoParquet / FlatGeobuf of points in its names (:mod:`.geoassets`)
``osm``            OpenStreetMap Overpass JSON or GeoJSON with OSM tags (:mod:`.osm`)
``openreferral``   Open Referral UK (HSDS) JSON (:mod:`.openreferral`)
``mapped``         any CSV / GeoJSON of assets through a column mapping (:mod:`.mapped`)
``dispersal``      Home Office Asy_D11, supported asylum seekers by LA: the workbook (XLSX,
                   ODS) or its data sheet as CSV (:mod:`.dispersal`)
``estimates``      ONS mid-year population estimates by area (:mod:`.estimates`)
``indices``        ward-level segregation indices published by a partner (:mod:`.indices`)
=================  ========================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assetmap.sources import (
    boundaries,
    census,
    dispersal,
    estimates,
    geoassets,
    indices,
    lookup,
    mapped,
    openreferral,
    osm,
    postcodes,
    providers,
)
from assetmap.sources._io import (
    FileRefused,
    ReadResult,
    decode_text,
    is_binary,
    load_json,
    maybe_gunzip,
    sniff_delimiter,
)

ASSET_KINDS = ("providers", "osm", "openreferral", "mapped")
KINDS = ("boundaries", "lookup", "postcodes", "census", "dispersal", "estimates", "indices", *ASSET_KINDS)
#: The order in which the files of a folder are taken: what later files depend on first.
DEPENDENCY_ORDER = {"boundaries": 0, "lookup": 1, "postcodes": 2, "census": 3, "dispersal": 3, "estimates": 3,
                    "indices": 3,
                    "providers": 4, "osm": 4, "openreferral": 4, "mapped": 4}

_GEO_SUFFIXES = {".gpkg", ".shp", ".zip", ".fgb"}


def _csv_header(data: bytes) -> list[str]:
    import csv
    import io

    text, _, _ = decode_text(maybe_gunzip(data, "")[:65536])
    first = text.split("\n", 1)[0]
    try:
        return [h.strip() for h in next(csv.reader(io.StringIO(first), delimiter=sniff_delimiter(first)))]
    except StopIteration:
        return []


def _is_polygon_collection(doc: Any) -> bool:
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        return False
    types = [((f or {}).get("geometry") or {}).get("type") for f in feats[:200]]
    polys = sum(t in ("Polygon", "MultiPolygon") for t in types)
    return polys > 0 and polys >= 0.5 * sum(t is not None for t in types)


def sniff(path: str | Path, data: bytes, options: dict[str, Any] | None = None) -> str:
    """Pick the reader for a file from its content (and name); ``options['kind']`` overrides."""
    options = options or {}
    if options.get("kind"):
        kind = options["kind"]
        if kind not in KINDS:
            raise FileRefused("unknown_format", f"--kind {kind!r}: not one of {', '.join(KINDS)}")
        return kind
    path = Path(path)
    if dispersal.is_spreadsheet(data):  # the only workbook assetmap reads is the Home Office's Asy_D11
        return "dispersal"
    if geoassets.container(data) and geoassets.looks_like_container_assets(data):
        return "providers"  # a GeoPackage, FlatGeobuf or GeoParquet of points in the template's names
    if data[:16].startswith(b"SQLite format 3") or path.suffix.lower() in _GEO_SUFFIXES \
            or data[:4] == b"PK\x03\x04":
        return "boundaries"
    plain = maybe_gunzip(data, path)
    if is_binary(plain):
        raise FileRefused("binary_file", f"{path}: a binary file that assetmap cannot read")
    head = plain.lstrip()[:1]
    if head in (b"{", b"["):
        doc = load_json(plain, path)
        if options.get("mapping"):
            return "mapped"
        if osm.looks_like_overpass(doc):
            return "osm"
        if osm.looks_like_osm_geojson(doc):  # OSM tags first: buildings are polygons too
            return "osm"
        if geoassets.looks_like_geojson_assets(doc):
            return "providers"
        if _is_polygon_collection(doc):
            return "boundaries"
        if openreferral.looks_like_openreferral(doc):
            return "openreferral"
        raise FileRefused("unknown_format", f"{path}: JSON that is not boundaries, OSM, or Open Referral "
                                            "UK; for a foreign schema give --map name=<field> ... "
                                            "--category <category>")
    header = _csv_header(plain)
    if options.get("mapping"):
        return "mapped"
    if lookup.columns(header) is not None:
        return "lookup"
    if indices.looks_like_indices(header):
        return "indices"
    if dispersal.looks_like_dispersal(_csv_header(dispersal.strip_preamble(plain[:65536])[0])):
        return "dispersal"
    if estimates.looks_like_estimates(header) or \
            estimates.looks_like_estimates(_csv_header(estimates.strip_title(decode_text(plain[:65536])[0])[0]
                                                       .encode("utf-8"))):
        return "estimates"
    if census.looks_like_census(header):
        return "census"
    if postcodes.looks_like_postcodes(header):
        return "postcodes"
    if providers.looks_like_providers(header):
        return "providers"
    raise FileRefused("unknown_format", f"{path}: cannot tell what this file is (columns: "
                                        f"{_shown_columns(header)}); give --kind, or map "
                                        "a foreign schema with --map and --category")


def _shown_columns(header: list[str]) -> str:
    """The column names a refusal may quote: at most 12, each cut to 40 characters; none for a
    file whose first line has no delimiter (not a table: that line is content, not names)."""
    if len(header) < 2:
        return "none: the first line is not a delimited header"
    shown = [h if len(h) <= 40 else h[:39] + "…" for h in header[:12]]
    return ", ".join(shown) + (f" and {len(header) - 12} more" if len(header) > 12 else "") or "none"


def read(kind: str, path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read ``data`` (the bytes of ``path``) with the reader of ``kind``."""
    if kind == "boundaries":
        return boundaries.read(path, options, data)
    module = {"census": census, "lookup": lookup, "postcodes": postcodes, "providers": providers,
              "osm": osm, "openreferral": openreferral, "mapped": mapped, "dispersal": dispersal,
              "estimates": estimates, "indices": indices}[kind]
    return module.read(path, data, options)


__all__ = ["ASSET_KINDS", "DEPENDENCY_ORDER", "KINDS", "FileRefused", "ReadResult", "read", "sniff"]
