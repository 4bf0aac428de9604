"""The kinds of file assetmap reads, each with its words for people.

The kinds of file assetmap reads, each with its words for people, in the order a file is tried against them (a
column mapping first, then the most specific shapes before the most general).

Light on purpose: the command line lists them (``assetmap ingest --help``, ``--kind``) without
importing the readers. Each reader (:mod:`assetmap.sources`) takes its description from here, and
``assetmap.sources.READERS`` holds them in this order (``tests/test_registry.py``).
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "mapped": "any CSV or GeoJSON of assets, through a column mapping (--map target=source ... --category C)",
    "osm": "OpenStreetMap Overpass JSON, or GeoJSON with OSM tags",
    "network": "OpenStreetMap PBF or XML extract: the walking network, and its places as assets",
    "gtfs": "GTFS timetable feed (zip): stops and departures in the PTAL morning peak",
    "lookup": "OA -> ward / LSOA / MSOA / LA lookup CSV",
    "indices": "segregation indices by unit published by a partner",
    "scorecard": "race equality scorecard indicators (la_code, domain, indicator, group, value, reference_group, "
                 "reference_value, year, source[, lower, upper])",
    "dispersal": "Home Office Asy_D11, supported asylum seekers by LA: the workbook (XLSX, ODS) or its data sheet",
    "estimates": "ONS mid-year population estimates by area",
    "languages": "census main-language table by area (2021 TS024, 2011 QS204EW)",
    "census": "ONS / Nomis census CSV by output area, wide or long (ethnic group, English, country of birth)",
    "postcodes": "postcode -> position lookup CSV (ONSPD, Code-Point Open)",
    "providers": "the provider CSV template, or GeoJSON / GeoPackage / GeoParquet / FlatGeobuf of points in its names",
    "boundaries": "ONS boundary GeoJSON / GeoPackage / Shapefile / FlatGeobuf (OA, LSOA, MSOA, ward, LA)",
    "openreferral": "Open Referral UK JSON, 3.0 (API pages, services, services at locations) or v1",
}
#: The kinds whose files hold assets (their rows are sites, withheld from the public snapshot's
#: quarantine and repairs).
ASSET_KINDS = ("mapped", "osm", "network", "providers", "openreferral")
