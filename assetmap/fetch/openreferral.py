"""A service directory's Open Referral UK 3.0 API, walked page by page, each service fetched whole."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from assetmap.fetch.client import Client, FetchError, _slug, _write

log = logging.getLogger(__name__)


#: Pages of an Open Referral UK list walked at most (a directory answering for ever stops here).
ORUK_MAX_PAGES = 1_000


ORUK_PER_PAGE = 100


def fetch_openreferral(client: Client, base: str, folder: Path) -> tuple[list[Path], list[str]]:
    """Every service of the Open Referral UK 3.0 API at ``base``.

    ``/services?page=N`` walked to its last page (``last_page``, ``total_pages`` or an empty page, whichever
    comes first), then each service not given whole in the list (3.0 list pages hold no locations) asked for at
    ``/services/{id}``. Written as one 3.0 page of full services to ``folder/assets/``, which the Open Referral
    reader takes; returns the files and one line per service that could not be had. Every answer is cached like
    the rest.
    """
    parsed = urllib.parse.urlsplit(base)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        msg = (f"--url {base}: give the Open Referral UK API's http(s) address, e.g. "
               "https://directory.example.gov.uk/api/v3")
        raise FetchError(msg)
    root = base.rstrip("/")
    listed: list[dict[str, Any]] = []
    for page in range(1, ORUK_MAX_PAGES + 1):
        body = client.get("openreferral", f"{root}/services", {"page": page, "per_page": ORUK_PER_PAGE})
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            msg = (f"{root}/services?page={page} did not answer JSON: is {base} an Open Referral UK "
                   "API?")
            raise FetchError(msg) from None
        items = doc.get("contents") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            msg = (f"{root}/services?page={page} is not an Open Referral UK 3.0 list page (no "
                   f"'contents'): is {base} a 3.0 API? A v1 feed's file can be ingested as it is")
            raise FetchError(msg)
        listed += [item for item in items if isinstance(item, dict)]
        total = doc.get("total_pages")
        if not items or doc.get("last_page") is True or (isinstance(total, int) and page >= total):
            break
    else:
        msg = f"{root}/services: still paging after {ORUK_MAX_PAGES} pages; stopped"
        raise FetchError(msg)
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
