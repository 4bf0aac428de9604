"""The Overpass API (OpenStreetMap): an authority's places, and the walking network around it."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assetmap.fetch.client import Client, FetchError, _each, _write
from assetmap.fetch.ons import IN_BATCH, WARD_SERVICE, _arcgis_pages, _in
from assetmap.settings import settings

log = logging.getLogger(__name__)


#: How far beyond the authority the walking network reaches (people cross borders).
NETWORK_BUFFER_M = 2000.0


def overpass_query(code: str) -> str:
    """Return the Overpass QL for one authority's places."""
    return (f'[out:json][timeout:180];\narea["ref:gss"="{code}"]["boundary"="administrative"]->.la;\n(\n'
            '  nwr["amenity"="place_of_worship"](area.la);\n'
            '  nwr["amenity"="community_centre"](area.la);\n'
            '  nwr["amenity"="language_school"](area.la);\n'
            '  nwr["social_facility:for"~"refugee|migrant|asylum",i](area.la);\n'
            ');\nout center tags;\n')


def fetch_osm(client: Client, codes: list[str], folder: Path, fail: Callable[[FetchError], None] | None = None,
              tick: Callable[[str], None] | None = None) -> list[Path]:
    """Each authority's places from the Overpass API, a file each.

    An authority that fails goes to ``fail`` (the others are still written); when every one fails, the first is
    raised.
    """
    out: list[Path] = []

    def one(code: str) -> None:
        if not re.fullmatch(r"[EWSN]\d{8}", code):
            return
        body = client.get("overpass", settings.fetch_urls["overpass"], {"data": overpass_query(code)}, post=True)
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            msg = f"the Overpass API sent something that is not JSON for {code}"
            raise FetchError(msg) from None
        if not isinstance(doc.get("elements"), list):
            msg = f"the Overpass API gave no elements for {code}: {str(doc.get('remark', ''))[:200]}"
            raise FetchError(msg)
        out.append(_write(folder / "assets" / f"osm_places_{code}.json", body))

    failures = _each(codes, one, "places", fail, tick)
    if failures and not out:
        raise failures[0]
    return out


def network_bbox(wards: list[dict[str, Any]], buffer_m: float = NETWORK_BUFFER_M) -> tuple[float, float, float, float]:
    """Return the box to ask Overpass for, as (south, west, north, east) in degrees.

    The wards' extent and ``buffer_m`` around it, measured in British National Grid metres.
    """
    from pyproj import Transformer
    from shapely.geometry import shape

    from assetmap.settings import DISPLAY_CRS, STORE_CRS

    bounds = [shape(f["geometry"]).bounds for f in wards if f.get("geometry")]
    if not bounds:
        msg = "the ONS portal gave no ward boundaries to take the network's extent from"
        raise FetchError(msg)
    w, s, e, n = (min(b[0] for b in bounds), min(b[1] for b in bounds),
                  max(b[2] for b in bounds), max(b[3] for b in bounds))
    to_bng = Transformer.from_crs(DISPLAY_CRS, STORE_CRS, always_xy=True)
    to_ll = Transformer.from_crs(STORE_CRS, DISPLAY_CRS, always_xy=True)
    xs, ys = to_bng.transform([w, w, e, e], [s, n, s, n])
    x0, y0, x1, y1 = min(xs) - buffer_m, min(ys) - buffer_m, max(xs) + buffer_m, max(ys) + buffer_m
    lons, lats = to_ll.transform([x0, x0, x1, x1], [y0, y1, y0, y1])
    return round(min(lats), 6), round(min(lons), 6), round(max(lats), 6), round(max(lons), 6)


def network_query(bbox: tuple[float, float, float, float]) -> str:
    """Return the Overpass QL for the walkable ways (and their nodes) in ``bbox`` (s, w, n, e)."""
    from assetmap.network.osm import WALKABLE

    pattern = "|".join(sorted(WALKABLE))
    south, west, north, east = bbox
    return (f'[out:xml][timeout:900][bbox:{south},{west},{north},{east}];\n'
            f'way["highway"~"^({pattern})$"];\n(._;>;);\nout body;\n')


def fetch_network(client: Client, lookup: list[dict[str, Any]], codes: list[str], folder: Path) -> list[Path]:
    """Return the walkable ways around the authorities (their wards' extent and 2 km), as OSM XML."""
    wards = sorted({r["WD23CD"] for r in lookup if r.get("WD23CD")})
    feats: list[dict[str, Any]] = []
    for i in range(0, len(wards), IN_BATCH):  # the boundaries step's requests: answered from the cache
        feats += _arcgis_pages(client, WARD_SERVICE, {"where": _in("WD23CD", wards[i:i + IN_BATCH]),
                                                      "outFields": "*", "outSR": 4326, "returnGeometry": "true"},
                               geojson=True)
    body = client.get("overpass", settings.fetch_urls["overpass"], {"data": network_query(network_bbox(feats))},
                      post=True)
    if b"<osm" not in body[:2048]:
        msg = "the Overpass API sent something that is not OpenStreetMap XML for the walking network"
        raise FetchError(msg)
    return [_write(folder / "network" / f"osm_network_{'_'.join(codes)}.osm", body)]
