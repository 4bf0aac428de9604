"""A GTFS timetable feed: a URL (the Bus Open Data Service's, with its API key) or a file."""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from assetmap.fetch.client import Client, FetchError, _write
from assetmap.settings import settings

log = logging.getLogger(__name__)


def fetch_gtfs(client: Client, source: str, folder: Path) -> list[Path]:
    """Return a GTFS feed from a URL or a local path, checked and written to ``folder``.

    Return a GTFS feed from a URL (cached like every answer; the Bus Open Data Service's with the API key of
    ``ASSETMAP_BODS_API_KEY``) or a local path, checked to be a GTFS zip and written to ``folder/timetables/``.
    """
    from assetmap.transit.gtfs import looks_like_gtfs

    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme in ("http", "https"):
        params: dict[str, Any] = {}
        bods = source.startswith(settings.fetch_urls["bods"].rstrip("/") + "/")
        if bods:
            if not settings.bods_api_key:
                msg = ("the Bus Open Data Service needs an API key: set ASSETMAP_BODS_API_KEY (an account "
                       f"at {settings.fetch_urls['bods']} gives one), or download the feed by hand and "
                       "give its path")
                raise FetchError(msg)
            params["api_key"] = settings.bods_api_key
        try:
            body = client.get("gtfs", source, params)
        except FetchError as exc:
            if bods and ("HTTP 401" in str(exc) or "HTTP 403" in str(exc)):
                msg = f"the Bus Open Data Service refused the API key (ASSETMAP_BODS_API_KEY): {exc}"
                raise FetchError(msg) from None
            raise
        name = Path(parsed.path.rstrip("/")).name or "feed"
    elif parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else source).expanduser()
        if not path.is_file():
            msg = f"--gtfs {source}: no such file"
            raise FetchError(msg)
        body, name = path.read_bytes(), path.stem
    else:
        msg = f"--gtfs {source}: give an http(s) URL or a path"
        raise FetchError(msg)
    if not looks_like_gtfs(body, Path(name)):
        msg = f"--gtfs {source}: not a GTFS feed (a zip with stops.txt and the other tables)"
        raise FetchError(msg)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.removesuffix(".zip"))[:80] or "feed"
    return [_write(folder / "timetables" / f"{safe}_gtfs.zip", body)]
