"""The map's data as files: a public snapshot's ward geometry once, each view's values apart.

A region's or the nation's map is mostly geometry (7,602 wards: about 3 MB), and a snapshot's
geometry never changes. Sent inside the map's script, every session of a room paid for it again
through its websocket. Here the browser fetches it instead, from the app's own server:

``/assetmap/geo/<snapshot>/wards-<detail>.json``
    the public snapshot's display geometry of its wards (``detail`` or ``overview``), each with its
    code, name and the count of sensitive services in it (counts only: what the public snapshot
    holds);
``/assetmap/geo/<snapshot>/values.json?measure=...&scheme=...&k=...``
    one view's classes, colours and values (:func:`dashboards.maps.choropleth`, as the page
    classes them);
``/assetmap/geo/<snapshot>/assets-<category>.json``
    the public markers of a category, by layer (:func:`dashboards.maps.asset_groups`), which the
    browser clusters: all of them, not only those in view.

Each answer is made once per process and kept (gzip-compressed, with its ETag), served with
``Cache-Control: public, max-age=31536000, immutable``: a snapshot's id names it for good, so a
browser asks once and the next visit, or the next view back, costs nothing. Any replica
answers any URL from the snapshot the URL names, so HAProxy may send the request anywhere.

Only **public** snapshots are served, from the public snapshots' folder (or the bucket's copy):
nothing here needs a login, because nothing here is more than the public may see. Partner
sessions keep their map inline. Routes are mounted by :mod:`dashboards.asgi`.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
import re
import threading
import urllib.parse
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetmap import queries
from assetmap.settings import settings
from assetmap.snapshots import PUBLIC, snapshot_dir
from assetmap.vocab.categories import CATEGORIES
from dashboards import maps, render

if TYPE_CHECKING:
    import duckdb
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

log = logging.getLogger(__name__)

ROUTE = "/assetmap/geo"
DETAILS = ("detail", "overview")
CACHE_CONTROL = "public, max-age=31536000, immutable"
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_lock = threading.Lock()


def public_folder() -> Path:
    """Where this machine keeps the public snapshots: the store's, or the bucket's copy."""
    db = Path(settings.db_path)
    if settings.snapshot_url and not db.exists():
        from assetmap.objectstore import cache_dir

        return cache_dir(PUBLIC)
    return snapshot_dir(db, PUBLIC)


def snapshot_path(snapshot_id: str) -> Path | None:
    """The public snapshot ``snapshot_id`` names, if this machine has it (nothing else)."""
    if not _ID.fullmatch(snapshot_id) or ".." in snapshot_id:
        return None
    path = public_folder() / f"{snapshot_id}.duckdb"
    return path if path.is_file() else None


def is_public(path: str | Path) -> bool:
    """Whether ``path`` is a snapshot of the public folder (the only ones served as files)."""
    p = Path(path)
    return p.suffix == ".duckdb" and p.resolve().parent == public_folder().resolve()


def wards_url(path: str | Path, detail: str) -> str:
    return f"{ROUTE}/{Path(path).stem}/wards-{detail}.json"


def _view_params(m: queries.Measure, scheme: str, k: int) -> dict[str, str]:
    return {**m.params(), "scheme": scheme, "k": str(k)}


def values_url(path: str | Path, m: queries.Measure, scheme: str, k: int) -> str:
    return f"{ROUTE}/{Path(path).stem}/values.json?{urllib.parse.urlencode(_view_params(m, scheme, k))}"


def view_from(params: dict[str, str]) -> tuple[queries.Measure, str, int]:
    """The view a values URL's parameters name (anything unknown falls back, as the page does)."""
    m = queries.Measure.from_params(params)
    scheme = params.get("scheme", "") if params.get("scheme") in render.SCHEMES else "quantiles"
    k = int(params["k"]) if params.get("k", "").isdigit() and 3 <= int(params["k"]) <= 7 else 5
    return m, scheme, k


# -- the documents ----------------------------------------------------------------------------------
def wards_document(con: duckdb.DuckDBPyConnection, detail: str) -> dict[str, Any]:
    """The wards' display geometry, each with ``code``, ``name`` (plain text: the browser sets it
    as text) and ``sensitive`` (the public snapshot's counts of sensitive services, in words)."""
    fc = queries.feature_collection(con, "ward", detail)
    counts = maps.sensitive_text(queries.sensitive_counts(con))
    for f in fc["features"]:
        f["properties"] = {"code": f["properties"]["code"], "name": str(f["properties"]["name"]),
                           "sensitive": counts.get(f["properties"]["code"], "none")}
    return fc


def values_document(con: duckdb.DuckDBPyConnection, m: queries.Measure, scheme: str, k: int) -> dict[str, Any]:
    """One view's colours, and each ward's class (``-1``: no data) and value as the map shows it."""
    return values_of(maps.choropleth(queries.wards(con)["code"], queries.measure_values(con, m), m.kind, scheme, k))


def assets_document(con: duckdb.DuckDBPyConnection, category: str) -> dict[str, Any]:
    """The public markers of one category (:func:`dashboards.maps.asset_groups`): a public
    snapshot holds no sensitive site, and they are read as the public's anyway."""
    return {"groups": maps.asset_groups(queries.assets(con, [category], None, partner=False))}


def assets_url(path: str | Path, category: str) -> str:
    return f"{ROUTE}/{Path(path).stem}/assets-{category}.json"


def values_of(view: maps.Choropleth) -> dict[str, Any]:
    """The values file of a view already classed (:func:`dashboards.maps.choropleth`)."""
    return {"colours": view.colours, "missing": maps.MISSING,
            "wards": {str(code): [int(c), maps.fmt(v)] for code, c, v in
                      zip(view.values["code"], view.classes, view.values["value"], strict=True)}}


# -- answering ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    from assetmap.db.store import connect, require_schema

    con = connect(path, read_only=True)
    require_schema(con, path, snapshot=True)
    return con


def _packed(doc: dict[str, Any]) -> tuple[str, bytes]:
    body = json.dumps(doc, separators=(",", ":")).encode()
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"', gzip.compress(body, compresslevel=6, mtime=0)


@functools.lru_cache(maxsize=16)
def _assets(path: str, category: str) -> tuple[str, bytes]:
    with _lock:
        con = _connection(path).cursor()
    return _packed(assets_document(con, category))


@functools.lru_cache(maxsize=8)
def _wards(path: str, detail: str) -> tuple[str, bytes]:
    with _lock:
        con = _connection(path).cursor()
    return _packed(wards_document(con, detail))


#: Each view's packed values file, most recent last (a page that has just classed a view puts it
#: here, so the browser's request for it a moment later finds it made).
_views: OrderedDict[tuple[str, queries.Measure, str, int], tuple[str, bytes]] = OrderedDict()
_VIEWS_KEPT = 256


def _keep(key: tuple[str, queries.Measure, str, int], packed: tuple[str, bytes]) -> tuple[str, bytes]:
    with _lock:
        _views[key] = packed
        _views.move_to_end(key)
        while len(_views) > _VIEWS_KEPT:
            _views.popitem(last=False)
    return packed


def prime(path: str | Path, m: queries.Measure, scheme: str, k: int, view: maps.Choropleth) -> None:
    """Keep the values file of a view the page has just classed, for the request that follows."""
    key = (str(path), m, scheme, k)
    if key not in _views:
        _keep(key, _packed(values_of(view)))


def _values(path: str, m: queries.Measure, scheme: str, k: int) -> tuple[str, bytes]:
    key = (path, m, scheme, k)
    with _lock:
        got = _views.get(key)
    if got is not None:
        return got
    with _lock:
        con = _connection(path).cursor()
    return _keep(key, _packed(values_document(con, m, scheme, k)))


def answer(snapshot_id: str, name: str, params: dict[str, str]) -> tuple[str, bytes] | None:
    """The ETag and gzip-compressed JSON of one file, or None when there is no such file."""
    path = snapshot_path(snapshot_id)
    if path is None:
        return None
    if name.startswith("wards-") and name.endswith(".json") and name[6:-5] in DETAILS:
        return _wards(str(path), name[6:-5])
    if name == "values.json":
        return _values(str(path), *view_from(params))
    if name.startswith("assets-") and name.endswith(".json") and name[7:-5] in CATEGORIES:
        return _assets(str(path), name[7:-5])
    return None


def _serve(request: Request) -> Response:
    from starlette.responses import Response

    try:
        got = answer(request.path_params["snapshot"], request.path_params["name"], dict(request.query_params))
    except Exception:  # a snapshot that cannot be read: said, not a traceback in the browser
        log.exception("the map's data for %s could not be made", request.url.path)
        return Response(b'{"error": "the map\'s data could not be made"}', status_code=500,
                        media_type="application/json")
    if got is None:
        return Response(b'{"error": "no such map data"}', status_code=404, media_type="application/json")
    etag, packed = got
    # JSON, never sniffed as a page (the markers' names are data, whatever they hold)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(packed), media_type="application/json", headers=headers)


def routes() -> list[Route]:
    """The routes that serve the map's files (mounted beside Streamlit's)."""
    from starlette.routing import Route

    return [Route(ROUTE + "/{snapshot}/{name}", _serve, methods=["GET", "HEAD"])]
