"""Serve the dashboard: ``python -m dashboards.serve [streamlit options]``.

Imports what the pages use *before* the server accepts connections, so the first visitor does
not wait for them (mapclassify alone takes about 3 s to import: it compiles with numba), then
hands over to ``streamlit run dashboards/asgi.py`` (the app, with the map's file routes) with
the options given. Once the server
answers, it visits its own home page once over its websocket, as a browser would (the map
component can only be imported inside a page's run), and then writes the file named by
``ASSETMAP_DASHBOARD_READY``, if set: ``assetmap up`` announces the dashboard after that.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from assetmap import queries
from assetmap.confine import ConfinementError, confine_public_replica
from assetmap.settings import settings

APP = Path(__file__).resolve().parent / "app.py"
#: What ``streamlit run`` is given: the app with the map's file routes (:mod:`dashboards.asgi`).
LAUNCHER = Path(__file__).resolve().parent / "asgi.py"
WARM = ("mapclassify", "folium", "folium.plugins", "altair", "geopandas", "pyogrio",
        "assetmap.sites", "assetmap.queries.dispersal", *(f"assetmap.queries.{t}" for t in queries.TOPICS),
        "dashboards.render", "dashboards.maps",
        "dashboards.brief",
        "dashboards.common", "dashboards.profile", "dashboards.views_shared")

log = logging.getLogger("dashboards.serve")
# ``ASSETMAP_DASHBOARD_READY``, opened (empty) before the process confines itself, written once
# the home page has run: a confined replica can write no other file outside its runtime folder
_ready: TextIO | None = None


def warm() -> float:
    """Import the pages' heavy modules and run their first-call compilations once (numba in
    mapclassify, Jinja templates in folium) on a tiny map; return the seconds it took."""
    t0 = time.perf_counter()
    for name in WARM:
        importlib.import_module(name)
    import numpy as np
    import pandas as pd

    from dashboards import maps, render

    values = pd.DataFrame({"code": ["a", "b", "c", "d"], "value": [0.1, 0.4, 0.2, np.nan]})
    for scheme in render.SCHEMES:
        classes, bins = render.classify(values["value"], scheme, 3)
    square = {"type": "Polygon", "coordinates": [[[-1.9, 52.4], [-1.8, 52.4], [-1.8, 52.5], [-1.9, 52.4]]]}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": c}, "geometry": square} for c in values["code"]]}
    pins = pd.DataFrame({"lat": [52.45], "lon": [-1.85], "name": ["x"], "category": ["esol_provider"],
                         "subtype": [""], "attrs": ["{}"], "source": ["warm-up"], "licence": [""],
                         "observed_at": [None], "address": [""], "postcode": [""]})
    maps.ward_map(fc, values, classes, bins, "warm-up", asset_frame=pins).get_root().render()
    return time.perf_counter() - t0


def _option(args: list[str], name: str, default: str) -> str:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def _visit_once(ws_url: str, timeout: float = 60.0) -> None:
    """Open one session over the app's own websocket, as a browser would, and run the home page
    to its end: its imports (the map component among them) and its first run happen here, not
    on the first visitor's time."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    origin = ws_url.replace("ws://", "http://").split("/_stcore")[0]
    from websockets.typing import Origin, Subprotocol

    with connect(ws_url, subprotocols=[Subprotocol("streamlit")], origin=Origin(origin), open_timeout=timeout,
                 max_size=None) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = ""
        ws.send(msg.SerializeToString())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fwd = ForwardMsg()
            fwd.ParseFromString(ws.recv(timeout=timeout))
            if fwd.WhichOneof("type") == "script_finished":
                return


def _warm_first_visit(health_url: str) -> None:
    """Once the server answers, run its home page once (:func:`_visit_once`): the map
    component's import, the page's first run and the snapshot reads it caches all happen here."""
    try:
        import urllib.request

        url = health_url
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 (our own server, on loopback)
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        t0 = time.perf_counter()
        _visit_once(url.replace("http://", "ws://").replace("/_stcore/health", "/_stcore/stream"))
        log.info("first visit warmed in %.1f s", time.perf_counter() - t0)
    except Exception:  # a warm-up must never stop the server
        log.exception("warming the first visit failed (the first visitor will wait a little longer)")
    finally:
        if _ready is not None:  # `assetmap up` announces the dashboard once this says so
            _ready.write("ready\n")
            _ready.close()


def cookie_secret(home: Path) -> str:
    """The one ``server.cookieSecret`` every replica shares (kept in the home, readable by us only)."""
    path = home / "cookie_secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def auth_secrets(home: Path, address: str, port: str) -> Path:
    """Write Streamlit's ``[auth]`` section for ``st.login`` from assetmap's settings (the
    ``ASSETMAP_OIDC_*`` variables) into a file only we can read; return its path.

    The redirect URI defaults to this server's ``/oauth2callback`` and the cookie secret to the
    one the replicas share. Raises ValueError naming what is missing.
    """
    oidc = settings.oidc
    missing = [f"ASSETMAP_OIDC_{k.upper()}" for k in ("client_id", "client_secret") if not oidc.get(k)]
    if missing:
        msg = (f"logins are on (ASSETMAP_OIDC_METADATA_URL is set) but {' and '.join(missing)} "
               "not: set them to the client registered with the identity provider")
        raise ValueError(msg)
    section = {
        "server_metadata_url": oidc["metadata_url"],
        "client_id": oidc["client_id"],
        "client_secret": oidc["client_secret"],
        "redirect_uri": oidc.get("redirect_uri") or f"http://{address}:{port}/oauth2callback",
        "cookie_secret": oidc.get("cookie_secret") or cookie_secret(home),
    }
    home.mkdir(parents=True, exist_ok=True)
    path = home / f"auth-{port}.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        # TOML basic strings take JSON's escapes
        fh.write("[auth]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in section.items()))
    return path


#: what every replica runs with unless its command line says otherwise (``up``, or started by hand
#: as docs/deploy.md says): no browser to open, the vendored map scripts served at /app/static/,
#: no file watching, no full garbage collection after every run (~0.1 s of the one interpreter
#: per visit), the viewer's toolbar without Streamlit's "Deploy" button, and text dark enough
#: that even captions (drawn at 60 % of it) meet WCAG's 4.5:1 contrast on white (Streamlit's own
#: grey gives them 3.7:1; axe-core checks every page in the browser tests)
REPLICA_OPTIONS: dict[str, str] = {
    "--server.headless": "true",
    "--server.enableStaticServing": "true",
    "--global.developmentMode": "false",
    "--server.fileWatcherType": "none",
    "--runner.postScriptGC": "false",
    "--client.toolbarMode": "minimal",
    "--theme.textColor": "#000000",
}


def with_replica_options(args: list[str]) -> list[str]:
    """``args`` with each of :data:`REPLICA_OPTIONS` added where ``args`` does not give it."""
    given = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    return [*args, *(x for name, value in REPLICA_OPTIONS.items() if name not in given for x in (name, value))]


def private(args: list[str]) -> list[str]:
    """``args`` with Streamlit's usage statistics off, whatever they say: wherever the dashboard
    runs (``up``, a replica started by hand as docs/deploy.md says), it calls out to no one."""
    out: list[str] = []
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a == "--browser.gatherUsageStats":
            skip = i + 1 < len(args)
            continue
        if a.startswith("--browser.gatherUsageStats="):
            continue
        out.append(a)
    return [*out, "--browser.gatherUsageStats", "false"]


def confine(args: list[str]) -> str:
    """Confine this replica's process to the public snapshots when it serves the public only
    (:mod:`assetmap.confine`, as ``ASSETMAP_CONFINE`` says); return what was done, for the log.

    Done first, while the process has one thread: the kernel's rules hold for the thread that
    applies them and for every thread started afterwards (Streamlit's server, each session's)."""
    from assetmap.snapshots import PUBLIC, snapshot_dir

    serves = []
    if settings.dashboard_mode != "public":
        serves.append("partner mode (ASSETMAP_MODE=partner)")
    if settings.login_enabled:
        serves.append("partners and moderators who sign in")
    if settings.moderator_secret:
        serves.append("moderators (ASSETMAP_MODERATOR_SECRET)")
    if serves:
        if settings.confine == "on":
            msg = (f"ASSETMAP_CONFINE=on, but this replica also serves {' and '.join(serves)}, "
                   "which needs the partner snapshots: serve the public from replicas of their own")
            raise ConfinementError(msg)
        return f"not confined: this replica also serves {' and '.join(serves)}"
    if threading.active_count() > 1:  # the rules would miss the threads already running
        msg = "the replica started threads before confining itself"
        raise ConfinementError(msg)
    db = Path(settings.db_path)
    fetches = bool(settings.snapshot_url) and not db.exists()
    if fetches:  # a replica elsewhere keeps what it downloads from the bucket's public prefix here
        from assetmap.objectstore import cache_dir

        public = cache_dir(PUBLIC)
    else:
        public = snapshot_dir(db, PUBLIC)
    return confine_public_replica(db, public, Path(settings.inbox_dir),
                                  int(_option(args, "--server.port", "8501")), mode=settings.confine,
                                  fetches=fetches)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from dashboards import vendor

    try:
        vendor.ensure()  # never serve maps that cannot draw
    except vendor.VendorMissing as exc:
        log.error("%s", exc)
        return 2
    args = private(with_replica_options(sys.argv[1:] if argv is None else argv))
    global _ready
    if os.environ.get("ASSETMAP_DASHBOARD_READY"):
        _ready = open(os.environ["ASSETMAP_DASHBOARD_READY"], "w", encoding="utf-8")  # noqa: SIM115 (closed once ready)
    try:
        log.info("%s", confine(args))
    except ConfinementError as exc:
        log.error("%s", exc)
        return 2
    log.info("modules warmed in %.1f s", warm())
    os.environ["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    if settings.login_enabled:
        try:
            secrets_file = auth_secrets(Path(settings.home).resolve(), _option(args, "--server.address", "127.0.0.1"),
                                        _option(args, "--server.port", "8501"))
        except ValueError as exc:
            log.error("%s", exc)
            return 2
        args = [*args, "--secrets.files", str(secrets_file)]
        log.info("logins through %s (roles from the %r claim)", settings.oidc["metadata_url"], settings.roles_claim)
    health = (f"http://{_option(args, '--server.address', '127.0.0.1')}:{_option(args, '--server.port', '8501')}"
              "/_stcore/health")
    threading.Thread(target=_warm_first_visit, args=(health,), name="warm-first-visit", daemon=True).start()
    from streamlit.web import cli as stcli

    sys.argv = ["streamlit", "run", str(LAUNCHER), *args]
    return stcli.main()


if __name__ == "__main__":
    sys.exit(main())
