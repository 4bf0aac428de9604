"""The pages an alert's links open, served beside the dashboard (mounted by :mod:`dashboards.asgi`).

- ``/alerts/confirm?token=…``: a dashboard subscription's confirmation (double opt-in). The link
  shows a button; pressing it (a POST) starts the subscription.
- ``/alerts/unsubscribe?token=…``: the link every message carries. A GET shows a button; a POST
  ends the subscription: what the button sends, and what a mail client sends for RFC 8058's
  one-click ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.

Neither GET changes anything (mail scanners follow links). A dashboard never writes the store:
the request goes into the inbox (:func:`assetmap.alerts.to_inbox`), and the pipeline carries it
out within seconds; a token that is not one the service sent is refused there, in its report.
"""

from __future__ import annotations

import html
import logging
import urllib.parse
from typing import TYPE_CHECKING

from assetmap import alerts
from assetmap.settings import settings

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

log = logging.getLogger(__name__)

ROUTE = "/alerts"
_ASK = {"confirm": ("Confirm your alerts", "Start my alerts",
                    "Press the button to start the alerts you asked for. Nothing is sent until you do."),
        "unsubscribe": ("Stop these messages", "Stop the messages",
                        "Press the button and this subscription ends: no further message is sent.")}
_DONE = {"confirm": ("Your alerts are starting", "Thank you. From the next change in the places you chose, "
                                                 "you will hear of it."),
         "unsubscribe": ("Unsubscribed", "This subscription has ended: no further message is sent.")}


def _page(title: str, body: str, status: int = 200) -> Response:
    from starlette.responses import HTMLResponse

    doc = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)} · assetmap"
           "</title><meta name='viewport' content='width=device-width, initial-scale=1'><style>body{font-family:"
           "sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;"
           "padding:.5rem 1rem}</style></head><body>" + body + "</body></html>")
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                                          "Referrer-Policy": "no-referrer"})


async def _link(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in _ASK:
        return _page("Not found", "<h1>Not found</h1>", 404)
    token = request.query_params.get("token", "")
    if request.method == "POST" and not token:  # a form's body may carry it
        form = urllib.parse.parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
    if not token or len(token) > 200:
        return _page("Link incomplete", "<h1>This link is incomplete</h1><p>Open the whole link from the "
                                        "message, or copy it into the address bar.</p>", 400)
    if request.method != "POST":
        title, button, text = _ASK[action]
        return _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
                            f"<form method='post' action='{ROUTE}/{action}?token={urllib.parse.quote(token)}'>"
                            f"<button type='submit'>{html.escape(button)}</button></form>")
    try:
        alerts.to_inbox(alerts.request(action, token=token), settings.inbox_dir)
    except OSError:
        log.exception("the %s request could not be left in the inbox", action)
        return _page("Not done", "<h1>Not done</h1><p>The service could not take this just now: please try "
                                 "again in a few minutes.</p>", 503)
    title, text = _DONE[action]
    return _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>")


def routes() -> list[Route]:
    from starlette.routing import Route

    return [Route(ROUTE + "/{action}", _link, methods=["GET", "HEAD", "POST"])]
