"""``assetmap fetch``: the open data a local authority needs, from the services that publish it.

For the local authorities named (a GSS code, or a name matched against the authorities the ONS
lookup lists), in the formats the readers take, into one folder:

============  =========================================================================  =========
what          service and request                                                        licence
============  =========================================================================  =========
lookup        ONS Open Geography Portal, ArcGIS REST feature service                      OGL v3
              ``OA21_WD23_LAD23_EW_LU``: ``query?where=LAD23CD IN (...)&outFields=OA21CD,
              WD23CD,WD23NM,LAD23CD,LAD23NM&returnGeometry=false&f=json``, paged by
              ``resultOffset``/``resultRecordCount`` while ``exceededTransferLimit``
boundaries    ``Wards_December_2023_Boundaries_UK_BGC`` and ``Output_Areas_2021_EW_BGC_V2``:   OGL v3
              ``query?where=WD23CD IN (...)`` / ``OA21CD IN (...)`` (the codes the lookup
              gives, in batches, by POST), ``outFields=*&outSR=4326&f=geojson``, paged
census        Nomis API, Census 2021 at output area for the authority's OAs: TS021 ethnic     OGL v3
              group ``NM_2041_1``, TS029 proficiency in English ``NM_2048_1``, TS004 country
              of birth ``NM_2024_1``: the authority's Nomis id from
              ``dataset/NM_2041_1/geography/TYPE154.def.sdmx.json`` (its ``GeogCode``
              annotation), then ``dataset/<id>.data.csv?date=latest&geography=<nomis id>TYPE150
              &measures=20100&select=date,geography_code,<dimension>_name,obs_value``, paged by
              ``recordoffset``/``recordlimit`` (25,000 rows a page for an anonymous user).
              An authority Nomis does not list (the four created in April 2023: Cumberland,
              Westmorland and Furness, North Yorkshire, Somerset) is fetched as the 2022
              districts it replaced, found by its output areas in ``OA21_LSOA21_MSOA21_LAD22_EW_LU``
              (``OA21CD IN (...)``, ``LAD22CD`` distinct), and their rows kept for its OAs only
osm           Overpass API ``interpreter`` (POST ``data=``): ``amenity=place_of_worship``,       ODbL
              ``amenity=community_centre``, ``amenity=language_school`` and
              ``social_facility:for`` refugees / migrants / asylum seekers inside the
              authority's boundary (``area["ref:gss"=CODE]``), ``out center tags``
regions       ``LAD23_RGN23_EN_LU``: each English authority's region (``LAD23CD,LAD23NM,RGN23CD,   OGL v3
              RGN23NM``), for ``--region``; Wales and England as nations are the authorities
              whose code starts ``W`` / ``E`` in the lookup above
network       Overpass API: the walkable ways (``way["highway"~...]``, with their nodes:         ODbL
              ``(._;>;); out body;``) in the bounding box of the authority's wards and 2 km
              around them (``[bbox:s,w,n,e]``), as OSM XML for the network reader; only when
              asked for (``--what network``)
============  =========================================================================  =========

Written from the services' published documentation: the ArcGIS REST API "Query (Feature
Service/Layer)" reference (parameters ``where``, ``outFields``, ``returnGeometry``, ``outSR``,
``f=geojson``, ``resultOffset``, ``resultRecordCount``, ``returnDistinctValues`` and the
``exceededTransferLimit`` flag), the Nomis API help (``/api/v01/help``: ``.data.csv``,
``geography=<id>TYPE<n>``, ``measures=20100``, ``select``, ``recordoffset``/``recordlimit``,
``.def.sdmx.json`` code lists), and the Overpass API / Overpass QL language guide (``[out:json]``,
``area[...]->.a``, ``nwr[...](area.a)``, ``out center``).

Every download goes through :class:`Client`: cached in ``.assetmap/cache/`` by request (URL and
body) with its source, licence and retrieval time beside it, reused unless ``refresh``; retried
with back-off on 429 and 5xx (honouring ``Retry-After``) and on a truncated response; sent with
a User-Agent naming the project. A service that cannot be reached raises :class:`Unreachable`
with the files to download by hand. The base URL of each service is a setting (a mirror, or the
tests' local server).
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import errno
import hashlib
import http.client
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assetmap import __version__
from assetmap.errors import AssetmapError
from assetmap.settings import settings

log = logging.getLogger(__name__)

USER_AGENT = (f"assetmap/{__version__} (open-source community asset mapping for UK planners; "
              "fetches open data politely, caches it, and backs off when asked)")
WHAT = ("boundaries", "lookup", "census", "osm", "network", "gtfs", "openreferral")
#: What ``fetch`` gets unless told: everything but the walking network, which is larger and
#: asked for by name (``--what network``, or ``--what all``), and the timetable, which comes from
#: a feed the user names (``--gtfs URL|PATH``), and a service directory's Open Referral UK API
#: (``--url BASE``).
DEFAULT_WHAT = ("boundaries", "lookup", "census", "osm")
#: How far beyond the authority the walking network reaches (people cross borders).
NETWORK_BUFFER_M = 2000.0

#: Each service: its name for people, the licence of what it gives, where to download by hand.
SERVICES: dict[str, dict[str, str]] = {
    "ons": {"name": "the ONS Open Geography Portal", "licence": "Open Government Licence v3.0",
            "by_hand": "the OA21 to ward (2023) to LAD lookup, the December 2023 ward boundaries (BGC) and "
                       "the 2021 output area boundaries (BGC) of the authority, from the ONS Open "
                       "Geography Portal"},
    "nomis": {"name": "the Nomis API", "licence": "Open Government Licence v3.0",
              "by_hand": "Census 2021 tables TS021, TS029 and TS004 at output area for the authority, "
                         "as CSV from Nomis"},
    "overpass": {"name": "the Overpass API (OpenStreetMap)",
                 "licence": "Open Database Licence (ODbL) 1.0, (c) OpenStreetMap contributors",
                 "by_hand": "an OpenStreetMap extract of the authority's places of worship and community "
                            "centres (Overpass JSON), and for walking access an OpenStreetMap extract "
                            "(PBF) of the authority and 2 km around it, from a regional download"},
    "gtfs": {"name": "the GTFS feed given", "licence": "the feed publisher's (the Bus Open Data Service: Open "
                                                       "Government Licence v3.0)",
             "by_hand": "the region's GTFS timetables from the Bus Open Data Service "
                        "(https://data.bus-data.dft.gov.uk/, GTFS downloads; an account gives the API key)"},
    "openreferral": {"name": "the Open Referral UK API given", "licence": "the directory publisher's (see its "
                                                                          "terms; often OGL v3)",
                     "by_hand": "the directory's services as Open Referral UK JSON, from its API or its "
                                "publisher"},
}
#: Pages of an Open Referral UK list walked at most (a directory answering for ever stops here).
ORUK_MAX_PAGES = 1_000
ORUK_PER_PAGE = 100


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
#: Census tables: file name -> (Nomis dataset, dimension of the categories).
CENSUS_TABLES: dict[str, tuple[str, str]] = {
    "ts021_ethnic_group": ("NM_2041_1", "c2021_eth_20"),
    "ts029_english_proficiency": ("NM_2048_1", "c2021_engprf_6"),
    "ts004_country_of_birth": ("NM_2024_1", "c2021_cob_12"),
}
NOMIS_LA_TYPE = "TYPE154"  # local authority districts (2022), as Nomis lists them for Census 2021
NOMIS_OA_TYPE = "TYPE150"  # 2021 output areas
NOMIS_PAGE = 25_000  # rows a page for an anonymous user
ARCGIS_PAGE = 2_000  # features a page (the portal's maximum record count)
IN_BATCH = 400  # codes in one `IN (...)` of a query
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.EADDRNOTAVAIL}


class FetchError(AssetmapError):
    """A request that cannot be met (an unknown or ambiguous authority, a service's error)."""


class Unreachable(FetchError):
    """A service could not be reached (no network, or it kept failing)."""

    def __init__(self, service: str, url: str, reason: str) -> None:
        info = SERVICES[service]
        super().__init__(f"cannot reach {info['name']} ({url}): {reason}; download these files by hand: "
                         f"{info['by_hand']}, then `assetmap ingest DIR`")
        self.service = service


def _redact(url: str) -> str:
    """``url`` as it may be written down: an ``api_key`` in it replaced (a cache's metadata, a
    message and SOURCES.json never hold a secret)."""
    return re.sub(r"(?i)(api_key=)[^&]*", r"\1REDACTED", url)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - _dt.datetime.now(_dt.UTC)).total_seconds())


@dataclass
class Client:
    """HTTP for the fetchers: cached, retried, polite.

    Parameters
    ----------
    cache_dir
        Where responses are kept (a file per request, with ``.meta.json`` beside it).
    refresh
        Ask the services again even where the cache holds an answer.
    retries, backoff_s, timeout_s
        Attempts after the first, the first back-off (doubled each time, or the server's
        ``Retry-After``), and the time one request may take.
    sleep
        How to wait (the tests record it instead).
    """

    cache_dir: Path
    refresh: bool = False
    retries: int = field(default_factory=lambda: settings.fetch_retries)
    backoff_s: float = field(default_factory=lambda: settings.fetch_backoff_s)
    timeout_s: float = field(default_factory=lambda: settings.fetch_timeout_s)
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0
    cached: int = 0
    used: list[Path] = field(default_factory=list)

    def _key(self, url: str, data: bytes | None) -> Path:
        digest = hashlib.sha256(url.encode() + b"\n" + (data or b"")).hexdigest()[:24]
        return self.cache_dir / digest[:2] / digest

    def get(self, service: str, url: str, params: dict[str, Any] | None = None, post: bool = False) -> bytes:
        """The body of ``url`` with ``params`` (sent as a form when ``post``), from the cache when
        it holds it."""
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        full = url if post or not query else f"{url}?{query}"
        data = query.encode() if post else None
        key = self._key(full, data)
        body_path, meta_path = key.with_suffix(".body"), key.with_suffix(".meta.json")
        self.used.append(meta_path)
        if not self.refresh and body_path.exists() and meta_path.exists():
            self.cached += 1
            return body_path.read_bytes()
        body = self._request(service, full, data)
        key.parent.mkdir(parents=True, exist_ok=True)
        tmp = body_path.with_suffix(".part")
        tmp.write_bytes(body)
        tmp.replace(body_path)
        meta = {"service": service, "source": SERVICES[service]["name"], "licence": SERVICES[service]["licence"],
                "url": _redact(full), "body": query if post else None,
                "retrieved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "bytes": len(body)}
        meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return body

    def _request(self, service: str, url: str, data: bytes | None) -> bytes:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        delay = self.backoff_s
        last = "no answer"
        for attempt in range(self.retries + 1):
            wait: float | None = None
            try:
                self.requests += 1
                # http(s) URLs from settings or the user's own --url, never a file: scheme
                req = urllib.request.Request(  # noqa: S310
                    url, data=data, headers=headers, method="POST" if data else "GET")
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (http(s) URLs from settings)
                    return resp.read()
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    raise FetchError(f"{SERVICES[service]['name']} refused {_redact(url)}: HTTP {exc.code} "
                                     f"{exc.reason}") from None
                last = f"HTTP {exc.code} {exc.reason}"
                wait = _retry_after(exc.headers.get("Retry-After"))
            except (http.client.IncompleteRead, ConnectionResetError) as exc:
                last = f"the response was cut short ({type(exc).__name__})"
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, ConnectionRefusedError | socket.gaierror) or (
                        isinstance(reason, OSError) and reason.errno in _NO_ROUTE):
                    raise Unreachable(service, url.split("?")[0], str(reason)) from None
                last = str(reason)
            except (TimeoutError, OSError) as exc:
                last = f"no answer ({type(exc).__name__})"
            if attempt == self.retries:
                break
            pause = wait if wait is not None else delay
            log.info("%s: %s; trying again in %.1f s", SERVICES[service]["name"], last, pause)
            self.sleep(pause)
            delay *= 2
        raise Unreachable(service, url.split("?")[0], f"{last} after {self.retries + 1} attempts")


# -- the authorities -------------------------------------------------------------------------------
def _arcgis(service: str) -> str:
    return f"{settings.fetch_urls['ons'].rstrip('/')}/{service}/FeatureServer/0/query"


def _arcgis_pages(client: Client, service: str, params: dict[str, Any], geojson: bool) -> list[dict]:
    """Every feature a query gives, page after page while the service says it held some back."""
    out: list[dict] = []
    offset = 0
    while True:
        body = client.get("ons", _arcgis(service), {**params, "resultOffset": offset,
                                                    "resultRecordCount": ARCGIS_PAGE,
                                                    "f": "geojson" if geojson else "json"}, post=True)
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            raise FetchError(f"the ONS Open Geography Portal sent something that is not JSON for {service}") \
                from None
        if "error" in doc:
            raise FetchError(f"the ONS Open Geography Portal refused the query on {service}: "
                             f"{doc['error'].get('message', doc['error'])}")
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
    """The authorities meant by codes or names: a name matches exactly (any case), else as part
    of one name; an ambiguous or unknown name is a :class:`FetchError` listing the candidates."""
    las = local_authorities(client)
    by_code = dict(las)
    out = []
    for w in wanted:
        text = w.strip()
        if re.fullmatch(r"[EWSN]\d{8}", text.upper()):
            if text.upper() not in by_code:
                raise FetchError(f"{text}: not a local authority the ONS lookup lists")
            out.append((text.upper(), by_code[text.upper()]))
            continue
        exact = [la for la in las if la[1].lower() == text.lower()]
        close = exact or [la for la in las if text.lower() in la[1].lower()]
        if len(close) == 1:
            out.append(close[0])
        elif not close:
            raise FetchError(f"no local authority called {text!r}; give its GSS code (e.g. E08000025)")
        else:
            names = "; ".join(f"{n} ({c})" for c, n in close[:12])
            raise FetchError(f"{text!r} could be any of: {names}; give the code or the full name")
    return sorted(set(out))


def regions(client: Client) -> dict[str, list[tuple[str, str]]]:
    """The regions of England (as ONS names them, from ``LAD23_RGN23_EN_LU``) and the nations
    England and Wales, each with its authorities' (code, name), as the lookup lists them."""
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
    """The region or nation meant by ``wanted`` (any case or spacing, or a part of one name:
    ``yorkshire``) and its authorities; Scotland, Northern Ireland, an unknown or ambiguous
    name is a :class:`FetchError` that lists the names it knows."""
    from assetmap.vocab.asylum_support import label_key

    key = label_key(wanted)
    if not key:
        raise FetchError("--region needs a name, e.g. \"West Midlands\" or Wales")
    if key in {label_key(x) for x in OUTSIDE}:
        raise FetchError(f"{wanted.strip()}: assetmap fetches authorities in England and Wales (the 2021 census at "
                         "output area and the ONS ward lookup it reads cover them); load your own files with "
                         "`assetmap ingest DIR`")
    known = regions(client)
    exact = [r for r in known if label_key(r) == key]
    close = exact or [r for r in known if key in label_key(r)]
    if len(close) == 1:
        return close[0], known[close[0]]
    listed = "; ".join(known)
    if not close:
        raise FetchError(f"no region or nation called {wanted.strip()!r}; the ONS lookup knows: {listed}")
    raise FetchError(f"{wanted.strip()!r} could be any of: {'; '.join(close)}; give the full name")


# -- the downloads -----------------------------------------------------------------------------------
@dataclass
class Fetched:
    """What a fetch wrote: the authorities (and the region they were asked for by), the files by
    kind; the problems, one line per source or authority that failed (``unreachable`` holds the
    services that could not be reached at all)."""

    folder: Path
    las: list[tuple[str, str]]
    region: str | None = None
    files: dict[str, list[Path]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    def fail(self, exc: FetchError) -> None:
        if str(exc) not in self.problems:
            self.problems.append(str(exc))
        if isinstance(exc, Unreachable) and exc.service not in self.unreachable:
            self.unreachable.append(exc.service)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def fetch_lookup(client: Client, codes: list[str], folder: Path) -> tuple[Path, list[dict]]:
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


def fetch_boundaries(client: Client, lookup: list[dict], folder: Path) -> list[Path]:
    out = []
    for service, field_name, name in ((WARD_SERVICE, "WD23CD", "wards_2023.geojson"),
                                      (OA_SERVICE, "OA21CD", "output_areas_2021.geojson")):
        codes = sorted({r[field_name] for r in lookup if r.get(field_name)})
        feats: list[dict] = []
        for i in range(0, len(codes), IN_BATCH):
            feats += _arcgis_pages(client, service, {"where": _in(field_name, codes[i:i + IN_BATCH]),
                                                     "outFields": "*", "outSR": 4326, "returnGeometry": "true"},
                                   geojson=True)
        doc = {"type": "FeatureCollection", "features": feats}
        out.append(_write(folder / "boundaries" / name, json.dumps(doc).encode()))
    return out


def _nomis_ids(client: Client) -> dict[str, str]:
    """GSS code -> Nomis id of every local authority Nomis lists for Census 2021 (``TYPE154``)."""
    base = settings.fetch_urls["nomis"].rstrip("/")
    body = client.get("nomis", f"{base}/dataset/{CENSUS_TABLES['ts021_ethnic_group'][0]}/geography/"
                               f"{NOMIS_LA_TYPE}.def.sdmx.json")
    try:
        lists = json.loads(body)["structure"]["codelists"]["codelist"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise FetchError("the Nomis API's list of local authorities is not in the shape expected") from None
    out: dict[str, str] = {}
    for cl in lists:
        for item in cl.get("code", []):
            for ann in (item.get("annotations") or {}).get("annotation", []):
                if ann.get("annotationtitle") == "GeogCode" and "value" in item:
                    out.setdefault(str(ann.get("annotationtext")), str(item["value"]))
    return out


def replaced_districts(client: Client, oas: Iterable[str]) -> list[str]:
    """The 2022 districts (``LAD22CD``) that hold ``oas``: for an authority created since, what
    Nomis's Census 2021 geography still lists."""
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
    """The rows of ``lines`` (Nomis CSV, the OA code second) for the output areas ``oas``."""
    import csv

    return [line for line, row in zip(lines, csv.reader(lines), strict=True) if len(row) > 1 and row[1] in oas]


def _each(codes: list[str], step: Callable[[str], None], what: str, fail: Callable[[FetchError], None] | None,
          tick: Callable[[str], None] | None) -> list[FetchError]:
    """``step`` for each authority, whatever the others do: a :class:`FetchError` goes to
    ``fail`` and is returned; a service that cannot be reached at all stops them all."""
    failures: list[FetchError] = []
    for code in codes:
        try:
            step(code)
        except Unreachable:
            raise
        except FetchError as exc:
            failures.append(exc)
            if fail:
                fail(exc)
        finally:
            if tick:
                tick(f"{what} {code}")
    return failures


def fetch_census(client: Client, codes: list[str], folder: Path, lookup: list[dict] | None = None,
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
                raise FetchError(f"the Nomis API does not list {code} among its local authorities, and "
                                 "without the ONS lookup its output areas are not known")
            districts = replaced_districts(client, oas)
            missing = [d for d in districts if d not in known]
            if not districts or missing:
                raise FetchError(f"the Nomis API does not list {code}, nor the 2022 districts its output areas "
                                 f"lie in ({', '.join(missing or ['none found'])})")
            log.info("%s: Census 2021 through the districts it replaced: %s", code, ", ".join(districts))
            got = {}
            for d in districts:
                for name, (header, lines) in _census_of(client, known[d]).items():
                    had = got.get(name, (header, []))
                    got[name] = (had[0] or header, had[1] + _only(lines, oas))
        empty = [n.split("_")[0].upper() for n, (_, lines) in got.items() if not lines]
        if empty:
            raise FetchError(f"the Nomis API gave no rows of {', '.join(empty)} for {code}")
        for name, (header, lines) in got.items():
            had = tables.get(name, (header, []))
            tables[name] = (had[0] or header, had[1] + lines)

    failures = _each(codes, one, "census", fail, tick)
    if not tables:
        raise failures[0] if failures else FetchError("no authority to fetch the census of")
    return [_write(folder / "census" / f"{name}_2021.csv", ("\n".join([header, *lines]) + "\n").encode())
            for name, (header, lines) in tables.items()]


def overpass_query(code: str) -> str:
    """The Overpass QL for one authority's places."""
    return (f'[out:json][timeout:180];\narea["ref:gss"="{code}"]["boundary"="administrative"]->.la;\n(\n'
            '  nwr["amenity"="place_of_worship"](area.la);\n'
            '  nwr["amenity"="community_centre"](area.la);\n'
            '  nwr["amenity"="language_school"](area.la);\n'
            '  nwr["social_facility:for"~"refugee|migrant|asylum",i](area.la);\n'
            ');\nout center tags;\n')


def fetch_osm(client: Client, codes: list[str], folder: Path, fail: Callable[[FetchError], None] | None = None,
              tick: Callable[[str], None] | None = None) -> list[Path]:
    """Each authority's places from the Overpass API, a file each. An authority that fails goes
    to ``fail`` (the others are still written); when every one fails, the first is raised."""
    out: list[Path] = []

    def one(code: str) -> None:
        if not re.fullmatch(r"[EWSN]\d{8}", code):
            return
        body = client.get("overpass", settings.fetch_urls["overpass"], {"data": overpass_query(code)}, post=True)
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            raise FetchError(f"the Overpass API sent something that is not JSON for {code}") from None
        if not isinstance(doc.get("elements"), list):
            raise FetchError(f"the Overpass API gave no elements for {code}: {str(doc.get('remark', ''))[:200]}")
        out.append(_write(folder / "assets" / f"osm_places_{code}.json", body))

    failures = _each(codes, one, "places", fail, tick)
    if failures and not out:
        raise failures[0]
    return out


def network_bbox(wards: list[dict], buffer_m: float = NETWORK_BUFFER_M) -> tuple[float, float, float, float]:
    """(south, west, north, east) in degrees: the wards' extent and ``buffer_m`` around it,
    measured in British National Grid metres."""
    from pyproj import Transformer
    from shapely.geometry import shape

    from assetmap.settings import DISPLAY_CRS, STORE_CRS

    bounds = [shape(f["geometry"]).bounds for f in wards if f.get("geometry")]
    if not bounds:
        raise FetchError("the ONS portal gave no ward boundaries to take the network's extent from")
    w, s, e, n = (min(b[0] for b in bounds), min(b[1] for b in bounds),
                  max(b[2] for b in bounds), max(b[3] for b in bounds))
    to_bng = Transformer.from_crs(DISPLAY_CRS, STORE_CRS, always_xy=True)
    to_ll = Transformer.from_crs(STORE_CRS, DISPLAY_CRS, always_xy=True)
    xs, ys = to_bng.transform([w, w, e, e], [s, n, s, n])
    x0, y0, x1, y1 = min(xs) - buffer_m, min(ys) - buffer_m, max(xs) + buffer_m, max(ys) + buffer_m
    lons, lats = to_ll.transform([x0, x0, x1, x1], [y0, y1, y0, y1])
    return round(min(lats), 6), round(min(lons), 6), round(max(lats), 6), round(max(lons), 6)


def network_query(bbox: tuple[float, float, float, float]) -> str:
    """The Overpass QL for the walkable ways (and their nodes) in ``bbox`` (s, w, n, e)."""
    from assetmap.network.osm import WALKABLE

    pattern = "|".join(sorted(WALKABLE))
    south, west, north, east = bbox
    return (f'[out:xml][timeout:900][bbox:{south},{west},{north},{east}];\n'
            f'way["highway"~"^({pattern})$"];\n(._;>;);\nout body;\n')


def fetch_network(client: Client, lookup: list[dict], codes: list[str], folder: Path) -> list[Path]:
    """The walkable ways around the authorities (their wards' extent and 2 km), as OSM XML."""
    wards = sorted({r["WD23CD"] for r in lookup if r.get("WD23CD")})
    feats: list[dict] = []
    for i in range(0, len(wards), IN_BATCH):  # the boundaries step's requests: answered from the cache
        feats += _arcgis_pages(client, WARD_SERVICE, {"where": _in("WD23CD", wards[i:i + IN_BATCH]),
                                                      "outFields": "*", "outSR": 4326, "returnGeometry": "true"},
                               geojson=True)
    body = client.get("overpass", settings.fetch_urls["overpass"], {"data": network_query(network_bbox(feats))},
                      post=True)
    if b"<osm" not in body[:2048]:
        raise FetchError("the Overpass API sent something that is not OpenStreetMap XML for the walking network")
    return [_write(folder / "network" / f"osm_network_{'_'.join(codes)}.osm", body)]


def fetch_gtfs(client: Client, source: str, folder: Path) -> list[Path]:
    """A GTFS feed from a URL (cached like every answer; the Bus Open Data Service's with the API
    key of ``ASSETMAP_BODS_API_KEY``) or a local path, checked to be a GTFS zip and written to
    ``folder/timetables/``."""
    from assetmap.transit.gtfs import looks_like_gtfs

    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme in ("http", "https"):
        params: dict[str, Any] = {}
        bods = source.startswith(settings.fetch_urls["bods"].rstrip("/") + "/")
        if bods:
            if not settings.bods_api_key:
                raise FetchError("the Bus Open Data Service needs an API key: set ASSETMAP_BODS_API_KEY (an account "
                                 f"at {settings.fetch_urls['bods']} gives one), or download the feed by hand and "
                                 "give its path")
            params["api_key"] = settings.bods_api_key
        try:
            body = client.get("gtfs", source, params)
        except FetchError as exc:
            if bods and ("HTTP 401" in str(exc) or "HTTP 403" in str(exc)):
                raise FetchError(f"the Bus Open Data Service refused the API key (ASSETMAP_BODS_API_KEY): {exc}") \
                    from None
            raise
        name = Path(parsed.path.rstrip("/")).name or "feed"
    elif parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else source).expanduser()
        if not path.is_file():
            raise FetchError(f"--gtfs {source}: no such file")
        body, name = path.read_bytes(), path.stem
    else:
        raise FetchError(f"--gtfs {source}: give an http(s) URL or a path")
    if not looks_like_gtfs(body, Path(name)):
        raise FetchError(f"--gtfs {source}: not a GTFS feed (a zip with stops.txt and the other tables)")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.removesuffix(".zip"))[:80] or "feed"
    return [_write(folder / "timetables" / f"{safe}_gtfs.zip", body)]


def fetch_openreferral(client: Client, base: str, folder: Path) -> tuple[list[Path], list[str]]:
    """Every service of the Open Referral UK 3.0 API at ``base``: ``/services?page=N`` walked to
    its last page (``last_page``, ``total_pages`` or an empty page, whichever comes first), then
    each service not given whole in the list (3.0 list pages hold no locations) asked for at
    ``/services/{id}``. Written as one 3.0 page of full services to ``folder/assets/``, which the
    Open Referral reader takes; returns the files and one line per service that could not be had.
    Every answer is cached like the rest."""
    parsed = urllib.parse.urlsplit(base)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FetchError(f"--url {base}: give the Open Referral UK API's http(s) address, e.g. "
                         "https://directory.example.gov.uk/api/v3")
    root = base.rstrip("/")
    listed: list[dict] = []
    for page in range(1, ORUK_MAX_PAGES + 1):
        body = client.get("openreferral", f"{root}/services", {"page": page, "per_page": ORUK_PER_PAGE})
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            raise FetchError(f"{root}/services?page={page} did not answer JSON: is {base} an Open Referral UK "
                             "API?") from None
        items = doc.get("contents") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise FetchError(f"{root}/services?page={page} is not an Open Referral UK 3.0 list page (no "
                             f"'contents'): is {base} a 3.0 API? A v1 feed's file can be ingested as it is")
        listed += [item for item in items if isinstance(item, dict)]
        total = doc.get("total_pages")
        if not items or doc.get("last_page") is True or (isinstance(total, int) and page >= total):
            break
    else:
        raise FetchError(f"{root}/services: still paging after {ORUK_MAX_PAGES} pages; stopped")
    services, missing = [], []
    seen: set[str] = set()
    for item in listed:
        sid = str(item.get("id") or "")
        if sid in seen:
            continue  # a directory that changes while it is paged may list a service twice
        seen.add(sid)
        if item.get("service_at_locations") or not sid:
            services.append(item)
            continue
        try:
            full = json.loads(client.get("openreferral", f"{root}/services/{urllib.parse.quote(sid, safe='')}"))
        except (FetchError, json.JSONDecodeError) as exc:
            why = exc if isinstance(exc, FetchError) else "not JSON"
            missing.append(f"service {sid} ({item.get('name')!r}): {why}")
            continue
        services.append(full if isinstance(full, dict) else item)
    n = len(services)
    page_doc = {"total_items": n, "total_pages": 1, "page_number": 1, "size": n, "first_page": True,
                "last_page": True, "empty": n == 0, "contents": services}
    name = _slug(parsed.netloc + parsed.path)[:80]
    path = _write(folder / "assets" / f"openreferral_{name}.json", json.dumps(page_doc, indent=1).encode())
    return [path], missing


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_") or "region"


#: ``progress(done, total, what)`` after each step of a fetch (an authority's census, its places...).
Progress = Callable[[int, int, str], None]


def fetch(las: list[str], folder: Path | None = None, what: Iterable[str] = DEFAULT_WHAT, refresh: bool = False,
          client: Client | None = None, gtfs: str | None = None, region: str | None = None,
          progress: Progress | None = None, url: str | None = None) -> Fetched:
    """Fetch what ``what`` names for the authorities ``las`` and every authority of ``region``
    (a region of England or a nation, :func:`resolve_region`) into ``folder`` (default
    ``<home>/fetched/<region or codes>``).

    Each source is tried whatever the others do, and each authority within a source; a failure
    adds one line to ``problems`` (and, when its service could not be reached at all, its name to
    ``unreachable``). The boundaries need the lookup's codes, so asking for them fetches the
    lookup too. Where the ONS portal cannot be reached, authorities given by code are still
    fetched from the other services. ``progress`` hears of each step done, out of how many.
    ``url`` is an Open Referral UK 3.0 API's base (``what`` ``openreferral``), which needs no
    authority: a directory alone may be fetched.
    """
    what = set(what)
    unknown = what - set(WHAT)
    if unknown:
        raise FetchError(f"--what {', '.join(sorted(unknown))}: not one of {', '.join(WHAT)}")
    if "gtfs" in what and not gtfs:
        if what != set(WHAT):  # asked for by name: it needs a feed
            raise FetchError("--what gtfs needs the feed: --gtfs URL or PATH (the Bus Open Data Service publishes "
                             "every region's; its downloads need ASSETMAP_BODS_API_KEY)")
        what.discard("gtfs")  # `--what all` without a feed: everything else
    if "openreferral" in what and not url:
        if what != set(WHAT):
            raise FetchError("--what openreferral needs the directory's API: --url BASE (an Open Referral UK 3.0 "
                             "API, e.g. https://directory.example.gov.uk/api/v3)")
        what.discard("openreferral")
    if not las and not region and what - {"openreferral"}:
        raise FetchError("name the authorities (--la CODE_OR_NAME) or a region (--region NAME)"
                         + (" or fetch the directory alone (--what openreferral)" if url else ""))
    client = client or Client(Path(settings.home) / "cache", refresh=refresh)
    pending: list[FetchError] = []
    region_name, in_region = resolve_region(client, region) if region else (None, [])
    try:
        resolved = sorted(set(resolve(client, las)) | set(in_region)) if las else in_region
    except Unreachable as exc:
        codes_only = [w.strip().upper() for w in las if re.fullmatch(r"[EWSN]\d{8}", w.strip().upper())]
        if len(codes_only) != len(las):
            raise
        resolved, pending = [(c, c) for c in codes_only], [exc]
    codes = [c for c, _ in resolved]
    place = _slug(region_name) if region_name else "_".join(codes)
    if not place and url:
        place = "openreferral_" + _slug(urllib.parse.urlsplit(url).netloc)
    folder = folder or Path(settings.home) / "fetched" / place
    result = Fetched(folder, resolved, region=region_name)
    for failure in pending:
        result.fail(failure)
    total = (int(bool(what & {"lookup", "boundaries", "network"})) + int("boundaries" in what)
             + len(codes) * (int("census" in what) + int("osm" in what)) + int("network" in what)
             + int("gtfs" in what) + int("openreferral" in what))
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, label)

    lookup_rows: list[dict] | None = None
    if what & {"lookup", "boundaries", "network"}:
        if not pending:
            try:
                path, lookup_rows = fetch_lookup(client, codes, folder)
                if "lookup" in what:
                    result.files["lookup"] = [path]
            except FetchError as exc:
                result.fail(exc)
        tick("lookup")
    steps: list[tuple[str, Callable[[], list[Path]]]] = []
    if "boundaries" in what:
        steps.append(("boundaries", lambda: fetch_boundaries(client, lookup_rows, folder) if lookup_rows else []))
    if "census" in what:
        steps.append(("census", lambda: fetch_census(client, codes, folder, lookup_rows, result.fail, tick)))
    if "osm" in what:
        steps.append(("osm", lambda: fetch_osm(client, codes, folder, result.fail, tick)))
    if "network" in what:
        steps.append(("network", lambda: fetch_network(client, lookup_rows, codes, folder) if lookup_rows else []))
    if "gtfs" in what and gtfs:
        steps.append(("gtfs", lambda: fetch_gtfs(client, gtfs, folder)))
    if "openreferral" in what and url:
        def directory() -> list[Path]:
            files, missing = fetch_openreferral(client, url, folder)
            if missing:
                result.problems.append(f"{len(missing)} services of {url} could not be had: " + "; ".join(missing[:5])
                                       + ("; ..." if len(missing) > 5 else ""))
            return files

        steps.append(("openreferral", directory))
    for kind, step in steps:
        try:
            files = step()
            if files:
                result.files[kind] = files
        except FetchError as exc:
            result.fail(exc)
        if kind not in ("census", "osm"):  # those tick per authority
            tick(kind)
    if result.files:
        sources = [json.loads(m.read_text()) for m in dict.fromkeys(client.used) if m.exists()]
        manifest = {"local_authorities": [{"code": c, "name": n} for c, n in resolved],
                    "fetched_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                    "files": {k: [str(p.relative_to(folder)) for p in v] for k, v in result.files.items()},
                    "licences": {SERVICES[s]["name"]: SERVICES[s]["licence"] for s in SERVICES},
                    "requests": [{k: m[k] for k in ("source", "licence", "url", "retrieved_at")} for m in sources]}
        if region_name:
            manifest = {"region": region_name, **manifest}
        _write(folder / "SOURCES.json", json.dumps(manifest, indent=2).encode())
    return result
