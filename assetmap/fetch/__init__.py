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
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assetmap.fetch.client import SERVICES, USER_AGENT, Client, FetchError, Unreachable, _slug, _write
from assetmap.fetch.gtfs import fetch_gtfs
from assetmap.fetch.nomis import fetch_census
from assetmap.fetch.ons import fetch_boundaries, fetch_lookup, local_authorities, regions, resolve, resolve_region
from assetmap.fetch.openreferral import fetch_openreferral
from assetmap.fetch.overpass import fetch_network, fetch_osm
from assetmap.settings import settings

__all__ = ["DEFAULT_WHAT", "SERVICES", "USER_AGENT", "WHAT", "Client", "FetchError", "Fetched", "Unreachable",
           "fetch", "local_authorities", "regions", "resolve", "resolve_region"]

log = logging.getLogger(__name__)

#: How many failed services a problem names before "...".
_NAMED = 5


WHAT = ("boundaries", "lookup", "census", "osm", "network", "gtfs", "openreferral")


#: What ``fetch`` gets unless told: everything but the walking network, which is larger and
#: asked for by name (``--what network``, or ``--what all``), and the timetable, which comes from
#: a feed the user names (``--gtfs URL|PATH``), and a service directory's Open Referral UK API
#: (``--url BASE``).
DEFAULT_WHAT = ("boundaries", "lookup", "census", "osm")


# -- the downloads -----------------------------------------------------------------------------------
@dataclass
class Fetched:
    """What a fetch wrote.

    The authorities (and the region they were asked for by), the files by kind; the problems, one line per
    source or authority that failed (``unreachable`` holds the services that could not be reached at all).
    """

    folder: Path
    las: list[tuple[str, str]]
    region: str | None = None
    files: dict[str, list[Path]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    def fail(self, exc: FetchError) -> None:
        """Note a service's failure once (and that it was unreachable, when it was)."""
        if str(exc) not in self.problems:
            self.problems.append(str(exc))
        if isinstance(exc, Unreachable) and exc.service not in self.unreachable:
            self.unreachable.append(exc.service)


#: ``progress(done, total, what)`` after each step of a fetch (an authority's census, its places...).
Progress = Callable[[int, int, str], None]


def fetch(las: list[str], folder: Path | None = None, what: Iterable[str] = DEFAULT_WHAT,
          client: Client | None = None, gtfs: str | None = None, region: str | None = None,
          progress: Progress | None = None, url: str | None = None) -> Fetched:
    """Fetch what ``what`` names for the authorities ``las`` and those of ``region``.

    Fetch what ``what`` names for the authorities ``las`` and every authority of ``region`` (a region of England
    or a nation, :func:`resolve_region`) into ``folder`` (default ``<home>/fetched/<region or codes>``).

    Each source is tried whatever the others do, and each authority within a source; a failure
    adds one line to ``problems`` (and, when its service could not be reached at all, its name to
    ``unreachable``). The boundaries need the lookup's codes, so asking for them fetches the
    lookup too. Where the ONS portal cannot be reached, authorities given by code are still
    fetched from the other services. ``progress`` hears of each step done, out of how many.
    ``url`` is an Open Referral UK 3.0 API's base (``what`` ``openreferral``), which needs no
    authority: a directory alone may be fetched.
    """
    what = _checked_what(set(what), las, region, gtfs, url)
    client = client or Client(Path(settings.home) / "cache")
    region_name, resolved, pending = _resolved(client, las, region)
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

    lookup_rows: list[dict[str, Any]] | None = None
    if what & {"lookup", "boundaries", "network"}:
        if not pending:
            try:
                path, lookup_rows = fetch_lookup(client, codes, folder)
                if "lookup" in what:
                    result.files["lookup"] = [path]
            except FetchError as exc:
                result.fail(exc)
        tick("lookup")
    for kind, step in _steps(what, client, codes, lookup_rows, result, tick, gtfs, url):
        try:
            files = step()
            if files:
                result.files[kind] = files
        except FetchError as exc:
            result.fail(exc)
        if kind not in ("census", "osm"):  # those tick per authority
            tick(kind)
    if result.files:
        _write_manifest(client, result)
    return result


def _checked_what(what: set[str], las: list[str], region: str | None, gtfs: str | None,
                  url: str | None) -> set[str]:
    """Return what to fetch, or :class:`FetchError` saying what is missing.

    Return what to fetch, once every source asked for by name has what it needs (a feed, a directory,
    authorities), or :class:`FetchError` saying what is missing; ``all`` leaves out what has not.
    """
    unknown = what - set(WHAT)
    if unknown:
        msg = f"--what {', '.join(sorted(unknown))}: not one of {', '.join(WHAT)}"
        raise FetchError(msg)
    if "gtfs" in what and not gtfs:
        if what != set(WHAT):  # asked for by name: it needs a feed
            msg = ("--what gtfs needs the feed: --gtfs URL or PATH (the Bus Open Data Service publishes "
                   "every region's; its downloads need ASSETMAP_BODS_API_KEY)")
            raise FetchError(msg)
        what.discard("gtfs")  # `--what all` without a feed: everything else
    if "openreferral" in what and not url:
        if what != set(WHAT):
            msg = ("--what openreferral needs the directory's API: --url BASE (an Open Referral UK 3.0 "
                   "API, e.g. https://directory.example.gov.uk/api/v3)")
            raise FetchError(msg)
        what.discard("openreferral")
    if not las and not region and what - {"openreferral"}:
        raise FetchError("name the authorities (--la CODE_OR_NAME) or a region (--region NAME)"
                         + (" or fetch the directory alone (--what openreferral)" if url else ""))
    return what


def _resolved(client: Client, las: list[str], region: str | None
              ) -> tuple[str | None, list[tuple[str, str]], list[FetchError]]:
    """Return the region's name, the authorities as (code, name), and what could not be reached.

    Where the ONS portal cannot be, authorities given by code are still fetched (named by their codes).
    """
    region_name, in_region = resolve_region(client, region) if region else (None, [])
    try:
        return region_name, (sorted(set(resolve(client, las)) | set(in_region)) if las else in_region), []
    except Unreachable as exc:
        codes_only = [w.strip().upper() for w in las if re.fullmatch(r"[EWSN]\d{8}", w.strip().upper())]
        if len(codes_only) != len(las):
            raise
        return region_name, [(c, c) for c in codes_only], [exc]


def _steps(what: set[str], client: Client, codes: list[str], lookup_rows: list[dict[str, Any]] | None,
           result: Fetched, tick: Callable[[str], None], gtfs: str | None, url: str | None
           ) -> list[tuple[str, Callable[[], list[Path]]]]:
    """Each source to fetch after the lookup, in order, as (kind, the call that fetches it).

    Each writes into ``result.folder``.
    """
    folder = result.folder
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
                result.problems.append(f"{len(missing)} services of {url} could not be had: "
                                       + "; ".join(missing[:_NAMED]) + ("; ..." if len(missing) > _NAMED else ""))
            return files

        steps.append(("openreferral", directory))
    return steps


def _write_manifest(client: Client, result: Fetched) -> None:
    """``SOURCES.json`` beside the files: the authorities, the files, every request's licence."""
    folder = result.folder
    sources = [json.loads(m.read_text()) for m in dict.fromkeys(client.used) if m.exists()]
    manifest = {"local_authorities": [{"code": c, "name": n} for c, n in result.las],
                "fetched_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "files": {k: [str(p.relative_to(folder)) for p in v] for k, v in result.files.items()},
                "licences": {SERVICES[s]["name"]: SERVICES[s]["licence"] for s in SERVICES},
                "requests": [{k: m[k] for k in ("source", "licence", "url", "retrieved_at")} for m in sources]}
    if result.region:
        manifest = {"region": result.region, **manifest}
    _write(folder / "SOURCES.json", json.dumps(manifest, indent=2).encode())
