"""The published sites as an Open Referral UK 3.0 API, served beside the dashboard.

``/openreferral/v3/…`` answers as :mod:`assetmap.openreferral_api` says (``/services``,
``/services/{id}``, ``/service_at_locations``, ``/organizations``, ``/taxonomies``,
``/taxonomy_terms``, paged), from the latest **public** snapshot this machine has (its own
store's, or the bucket's copy): nothing here needs a login, because nothing here is more than the
public may see. A council's directory or the NHS points its importer at
``http://<dashboard>/openreferral/v3``. Routes are mounted by :mod:`dashboards.asgi`.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from assetmap import openreferral, openreferral_api
from assetmap.settings import settings
from assetmap.snapshots import PUBLIC, latest_path

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

log = logging.getLogger(__name__)

ROUTE = "/openreferral/v3"
#: A list may change with the next publication: a minute's caching, then ask again.
CACHE_CONTROL = "public, max-age=60"
_lock = threading.Lock()


@functools.lru_cache(maxsize=2)
def _document(path: str) -> dict[str, Any]:
    """The public snapshot at ``path`` as one 3.0 document (made once per snapshot)."""
    from assetmap.db.store import connect, require_schema

    with _lock:
        con = connect(path, read_only=True)
        try:
            require_schema(con, path, snapshot=True)
            return openreferral.document_of(con, partner=False)
        finally:
            con.close()


def answer(path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the API's answer to ``path`` (below :data:`ROUTE`)."""
    snapshot = latest_path(settings.db_path, PUBLIC)
    if snapshot is None or not snapshot.is_file():
        return 503, {"error": "nothing is published yet: the directory is served from the latest public snapshot"}
    try:
        return 200, openreferral_api.answer(_document(str(snapshot)), path, params)
    except openreferral_api.ApiError as exc:
        return exc.status, {"error": str(exc)}


def _serve(request: Request) -> Response:
    from starlette.responses import Response

    try:
        status, body = answer(request.path_params.get("path", ""), dict(request.query_params))
    except Exception:  # a snapshot that cannot be read: said, not a traceback
        log.exception("the Open Referral API could not answer %s", request.url.path)
        status, body = 500, {"error": "the directory could not be read"}
    headers = {"Cache-Control": CACHE_CONTROL if status == 200 else "no-store", "X-Content-Type-Options": "nosniff",
               "Access-Control-Allow-Origin": "*"}
    return Response(json.dumps(body, ensure_ascii=False).encode(), status_code=status,
                    media_type="application/json", headers=headers)


def routes() -> list[Route]:
    """The API's routes (mounted beside Streamlit's)."""
    from starlette.routing import Route

    return [Route(ROUTE, _serve, methods=["GET", "HEAD"]),
            Route(ROUTE + "/{path:path}", _serve, methods=["GET", "HEAD"])]
