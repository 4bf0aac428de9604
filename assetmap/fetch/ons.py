"""The ONS Open Geography Portal (ArcGIS REST feature services).

Authorities and regions, the OA to ward to LAD lookup, ward and output area boundaries.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from assetmap.fetch.client import Client, FetchError, _write
from assetmap.settings import settings

log = logging.getLogger(__name__)


LOOKUP_SERVICE = "OA21_WD23_LAD23_EW_LU"


WARD_SERVICE = "Wards_December_2023_Boundaries_UK_BGC"


OA_SERVICE = "Output_Areas_2021_EW_BGC_V2"


#: Each English authority's region (England only: Wales is a nation, its authorities' codes start W).
REGION_SERVICE = "LAD23_RGN23_EN_LU"


#: Output areas to the 2022 districts, for the census of an authority created since (April 2023).
OA_LAD22_SERVICE = "OA21_LSOA21_MSOA21_LAD22_EW_LU"


#: Nations fetched whole: the authorities whose GSS code starts with the letter.
NATIONS = {"England": "E", "Wales": "W"}


#: Names that are regions or nations of the UK but outside what the readers take (the 2021 census
#: at output area and the ward lookup cover England and Wales).
OUTSIDE = ("Scotland", "Northern Ireland")


ARCGIS_PAGE = 2_000  # features a page (the portal's maximum record count)


IN_BATCH = 400  # codes in one `IN (...)` of a query


# -- the authorities -------------------------------------------------------------------------------
def _arcgis(service: str) -> str:
    return f"{settings.fetch_urls['ons'].rstrip('/')}/{service}/FeatureServer/0/query"


def _arcgis_pages(client: Client, service: str, params: dict[str, Any], geojson: bool) -> list[dict[str, Any]]:
    """Every feature a query gives, page after page while the service says it held some back."""
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        body = client.get("ons", _arcgis(service), {**params, "resultOffset": offset,
                                                    "resultRecordCount": ARCGIS_PAGE,
                                                    "f": "geojson" if geojson else "json"}, post=True)
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            msg = f"the ONS Open Geography Portal sent something that is not JSON for {service}"
            raise FetchError(msg) from None
        if "error" in doc:
            msg = (f"the ONS Open Geography Portal refused the query on {service}: "
                   f"{doc['error'].get('message', doc['error'])}")
            raise FetchError(msg)
        feats = doc.get("features") or []
        out += feats
        more = doc.get("exceededTransferLimit") or (doc.get("properties") or {}).get("exceededTransferLimit")
        if not more or not feats:
            return out
        offset += len(feats)


def _in(field_name: str, codes: Iterable[str]) -> str:
    codes = [c for c in codes if re.fullmatch(r"[A-Z]\d{8}", c)]  # GSS codes only: nothing else reaches SQL
    return f"{field_name} IN ({','.join(repr(c) for c in codes)})"


def local_authorities(client: Client) -> list[tuple[str, str]]:
    """(code, name) of every local authority the ONS lookup lists."""
    feats = _arcgis_pages(client, LOOKUP_SERVICE, {"where": "1=1", "outFields": "LAD23CD,LAD23NM",
                                                   "returnDistinctValues": "true", "returnGeometry": "false"},
                          geojson=False)
    seen = {(f["attributes"]["LAD23CD"], f["attributes"]["LAD23NM"]) for f in feats if f.get("attributes")}
    return sorted(seen)


def resolve(client: Client, wanted: list[str]) -> list[tuple[str, str]]:
    """Return the authorities meant by codes or names.

    A name matches exactly (any case), else as part of one name; an ambiguous or unknown name is a
    :class:`FetchError` listing the candidates.
    """
    las = local_authorities(client)
    by_code = dict(las)
    out = []
    for w in wanted:
        text = w.strip()
        if re.fullmatch(r"[EWSN]\d{8}", text.upper()):
            if text.upper() not in by_code:
                msg = f"{text}: not a local authority the ONS lookup lists"
                raise FetchError(msg)
            out.append((text.upper(), by_code[text.upper()]))
            continue
        exact = [la for la in las if la[1].lower() == text.lower()]
        close = exact or [la for la in las if text.lower() in la[1].lower()]
        if len(close) == 1:
            out.append(close[0])
        elif not close:
            msg = f"no local authority called {text!r}; give its GSS code (e.g. E08000025)"
            raise FetchError(msg)
        else:
            names = "; ".join(f"{n} ({c})" for c, n in close[:12])
            msg = f"{text!r} could be any of: {names}; give the code or the full name"
            raise FetchError(msg)
    return sorted(set(out))


def regions(client: Client) -> dict[str, list[tuple[str, str]]]:
    """Return the regions of England and the nations England and Wales, with their authorities.

    Return the regions of England (as ONS names them, from ``LAD23_RGN23_EN_LU``) and the nations England and
    Wales, each with its authorities' (code, name), as the lookup lists them.
    """
    from assetmap.vocab.asylum_support import Spellings

    las = local_authorities(client)
    names = dict(las)
    feats = _arcgis_pages(client, REGION_SERVICE, {"where": "1=1", "outFields": "LAD23CD,LAD23NM,RGN23CD,RGN23NM",
                                                   "returnGeometry": "false"}, geojson=False)
    spell = Spellings()
    out: dict[str, set[tuple[str, str]]] = {}
    for f in feats:
        a = f.get("attributes") or {}
        code, region = a.get("LAD23CD"), a.get("RGN23NM")
        if code in names and region:
            out.setdefault(spell.of(str(region)), set()).add((code, names[code]))
    for nation, letter in NATIONS.items():
        out[nation] = {la for la in las if la[0].startswith(letter)}
    return {k: sorted(v) for k, v in sorted(out.items()) if v}


def resolve_region(client: Client, wanted: str) -> tuple[str, list[tuple[str, str]]]:
    """Return the region or nation meant by ``wanted`` and its authorities.

    Return the region or nation meant by ``wanted`` (any case or spacing, or a part of one name: ``yorkshire``)
    and its authorities; Scotland, Northern Ireland, an unknown or ambiguous name is a :class:`FetchError` that
    lists the names it knows.
    """
    from assetmap.vocab.asylum_support import label_key

    key = label_key(wanted)
    if not key:
        msg = "--region needs a name, e.g. \"West Midlands\" or Wales"
        raise FetchError(msg)
    if key in {label_key(x) for x in OUTSIDE}:
        msg = (f"{wanted.strip()}: assetmap fetches authorities in England and Wales (the 2021 census at "
               "output area and the ONS ward lookup it reads cover them); load your own files with "
               "`assetmap ingest DIR`")
        raise FetchError(msg)
    known = regions(client)
    exact = [r for r in known if label_key(r) == key]
    close = exact or [r for r in known if key in label_key(r)]
    if len(close) == 1:
        return close[0], known[close[0]]
    listed = "; ".join(known)
    if not close:
        msg = f"no region or nation called {wanted.strip()!r}; the ONS lookup knows: {listed}"
        raise FetchError(msg)
    msg = f"{wanted.strip()!r} could be any of: {'; '.join(close)}; give the full name"
    raise FetchError(msg)


def fetch_lookup(client: Client, codes: list[str], folder: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Fetch the OA to ward to authority lookup of the authorities ``codes`` into ``folder``.

    Return its path and rows.
    """
    feats = _arcgis_pages(client, LOOKUP_SERVICE, {"where": _in("LAD23CD", codes),
                                                   "outFields": "OA21CD,WD23CD,WD23NM,LAD23CD,LAD23NM",
                                                   "returnGeometry": "false"}, geojson=False)
    rows = [f["attributes"] for f in feats if f.get("attributes")]
    if not rows:
        raise FetchError("the ONS lookup lists no output areas for " + ", ".join(codes))
    cols = ["OA21CD", "WD23CD", "WD23NM", "LAD23CD", "LAD23NM"]
    lines = [",".join(cols)] + [",".join(_csv_cell(r.get(c)) for c in cols) for r in rows]
    return _write(folder / "lookup" / "oa21_wd23_lad23_lookup.csv", ("\n".join(lines) + "\n").encode()), rows


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text


def fetch_boundaries(client: Client, lookup: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Fetch the ward and output-area boundaries the ``lookup`` names into ``folder``; return their paths."""
    out = []
    for service, field_name, name in ((WARD_SERVICE, "WD23CD", "wards_2023.geojson"),
                                      (OA_SERVICE, "OA21CD", "output_areas_2021.geojson")):
        codes = sorted({r[field_name] for r in lookup if r.get(field_name)})
        feats: list[dict[str, Any]] = []
        for i in range(0, len(codes), IN_BATCH):
            feats += _arcgis_pages(client, service, {"where": _in(field_name, codes[i:i + IN_BATCH]),
                                                     "outFields": "*", "outSR": 4326, "returnGeometry": "true"},
                                   geojson=True)
        doc = {"type": "FeatureCollection", "features": feats}
        out.append(_write(folder / "boundaries" / name, json.dumps(doc).encode()))
    return out
