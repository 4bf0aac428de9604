"""The HTTP client every download goes through.

A cache by request, polite retries with back-off, a User-Agent naming the project; the errors a user is told of, and
what the adapters share.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

from assetmap import __version__
from assetmap.errors import AssetmapError
from assetmap.settings import settings

log = logging.getLogger(__name__)


USER_AGENT = (f"assetmap/{__version__} (open-source community asset mapping for UK planners; "
              "fetches open data politely, caches it, and backs off when asked)")


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
    """``url`` as it may be written down.

    An ``api_key`` in it replaced (a cache's metadata, a message and SOURCES.json never hold a secret).
    """
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
        """Return the body of ``url`` with ``params`` (a form when ``post``), from the cache when it holds it."""
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
                    return cast("bytes", resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code != HTTPStatus.TOO_MANY_REQUESTS and exc.code < HTTPStatus.INTERNAL_SERVER_ERROR:
                    msg = (f"{SERVICES[service]['name']} refused {_redact(url)}: HTTP {exc.code} "
                           f"{exc.reason}")
                    raise FetchError(msg) from None
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


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _each(codes: list[str], step: Callable[[str], None], what: str, fail: Callable[[FetchError], None] | None,
          tick: Callable[[str], None] | None) -> list[FetchError]:
    """``step`` for each authority, whatever the others do.

    A :class:`FetchError` goes to ``fail`` and is returned; a service that cannot be reached at all stops them
    all.
    """
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


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_") or "region"
