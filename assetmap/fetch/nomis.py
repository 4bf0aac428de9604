"""The Nomis API: Census 2021 tables at output area for an authority.

The Nomis API: Census 2021 tables at output area for an authority (or the 2022 districts an authority of 2023
replaced).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from assetmap.fetch.client import Client, FetchError, _each, _write
from assetmap.fetch.ons import IN_BATCH, OA_LAD22_SERVICE, _arcgis_pages, _in
from assetmap.settings import settings

log = logging.getLogger(__name__)


#: Census tables: file name -> (Nomis dataset, dimension of the categories).
CENSUS_TABLES: dict[str, tuple[str, str]] = {
    "ts021_ethnic_group": ("NM_2041_1", "c2021_eth_20"),
    "ts029_english_proficiency": ("NM_2048_1", "c2021_engprf_6"),
    "ts004_country_of_birth": ("NM_2024_1", "c2021_cob_12"),
}


NOMIS_LA_TYPE = "TYPE154"  # local authority districts (2022), as Nomis lists them for Census 2021


NOMIS_OA_TYPE = "TYPE150"  # 2021 output areas


NOMIS_PAGE = 25_000  # rows a page for an anonymous user


def _nomis_ids(client: Client) -> dict[str, str]:
    """GSS code -> Nomis id of every local authority Nomis lists for Census 2021 (``TYPE154``)."""
    base = settings.fetch_urls["nomis"].rstrip("/")
    body = client.get("nomis", f"{base}/dataset/{CENSUS_TABLES['ts021_ethnic_group'][0]}/geography/"
                               f"{NOMIS_LA_TYPE}.def.sdmx.json")
    try:
        lists = json.loads(body)["structure"]["codelists"]["codelist"]
    except (json.JSONDecodeError, KeyError, TypeError):
        msg = "the Nomis API's list of local authorities is not in the shape expected"
        raise FetchError(msg) from None
    out: dict[str, str] = {}
    for cl in lists:
        for item in cl.get("code", []):
            for ann in (item.get("annotations") or {}).get("annotation", []):
                if ann.get("annotationtitle") == "GeogCode" and "value" in item:
                    out.setdefault(str(ann.get("annotationtext")), str(item["value"]))
    return out


def replaced_districts(client: Client, oas: Iterable[str]) -> list[str]:
    """Return the 2022 districts (``LAD22CD``) that hold ``oas``.

    For an authority created since, what Nomis's Census 2021 geography still lists.
    """
    codes = sorted(set(oas))
    found: set[str] = set()
    for i in range(0, len(codes), IN_BATCH):
        feats = _arcgis_pages(client, OA_LAD22_SERVICE, {"where": _in("OA21CD", codes[i:i + IN_BATCH]),
                                                         "outFields": "LAD22CD", "returnDistinctValues": "true",
                                                         "returnGeometry": "false"}, geojson=False)
        found |= {str(f["attributes"]["LAD22CD"]) for f in feats if (f.get("attributes") or {}).get("LAD22CD")}
    return sorted(found)


def _census_of(client: Client, nomis_id: str) -> dict[str, tuple[str, list[str]]]:
    """Each census table's header and rows for the output areas of one Nomis authority."""
    base = settings.fetch_urls["nomis"].rstrip("/")
    out: dict[str, tuple[str, list[str]]] = {}
    for name, (dataset, dim) in CENSUS_TABLES.items():
        header, lines, offset = "", [], 0
        while True:
            body = client.get("nomis", f"{base}/dataset/{dataset}.data.csv", {
                "date": "latest", "geography": f"{nomis_id}{NOMIS_OA_TYPE}", "measures": "20100",
                "select": f"date,geography_code,{dim}_name,obs_value",
                "recordoffset": offset, "recordlimit": NOMIS_PAGE})
            page = body.decode("utf-8-sig").splitlines()
            if not page:
                break
            header = header or page[0]
            rows = [r for r in page[1:] if r.strip()]
            lines += rows
            if len(rows) < NOMIS_PAGE:
                break
            offset += len(rows)
        out[name] = (header, lines)
    return out


def _only(lines: list[str], oas: set[str]) -> list[str]:
    """Return the rows of ``lines`` (Nomis CSV, the OA code second) for the output areas ``oas``."""
    import csv

    return [line for line, row in zip(lines, csv.reader(lines), strict=True) if len(row) > 1 and row[1] in oas]


def fetch_census(client: Client, codes: list[str], folder: Path, lookup: list[dict[str, Any]] | None = None,
                 fail: Callable[[FetchError], None] | None = None,
                 tick: Callable[[str], None] | None = None) -> list[Path]:
    """Census 2021 tables at output area for the authorities ``codes``, one CSV a table.

    An authority Nomis does not list is fetched as the 2022 districts its output areas (from
    ``lookup``) lie in, keeping the rows of its own OAs. An authority that fails goes to ``fail``
    (the others are still written); when every one fails, the first failure is raised.
    """
    known = _nomis_ids(client)
    tables: dict[str, tuple[str, list[str]]] = {}

    def one(code: str) -> None:
        if code in known:
            got = _census_of(client, known[code])
        else:
            oas = {r["OA21CD"] for r in lookup or [] if r.get("LAD23CD") == code and r.get("OA21CD")}
            if not oas:
                msg = (f"the Nomis API does not list {code} among its local authorities, and "
                       "without the ONS lookup its output areas are not known")
                raise FetchError(msg)
            districts = replaced_districts(client, oas)
            missing = [d for d in districts if d not in known]
            if not districts or missing:
                msg = (f"the Nomis API does not list {code}, nor the 2022 districts its output areas "
                       f"lie in ({', '.join(missing or ['none found'])})")
                raise FetchError(msg)
            log.info("%s: Census 2021 through the districts it replaced: %s", code, ", ".join(districts))
            got = {}
            for d in districts:
                for name, (header, lines) in _census_of(client, known[d]).items():
                    had = got.get(name, (header, []))
                    got[name] = (had[0] or header, had[1] + _only(lines, oas))
        empty = [n.split("_")[0].upper() for n, (_, lines) in got.items() if not lines]
        if empty:
            msg = f"the Nomis API gave no rows of {', '.join(empty)} for {code}"
            raise FetchError(msg)
        for name, (header, lines) in got.items():
            had = tables.get(name, (header, []))
            tables[name] = (had[0] or header, had[1] + lines)

    failures = _each(codes, one, "census", fail, tick)
    if not tables:
        raise failures[0] if failures else FetchError("no authority to fetch the census of")
    return [_write(folder / "census" / f"{name}_2021.csv", ("\n".join([header, *lines]) + "\n").encode())
            for name, (header, lines) in tables.items()]
