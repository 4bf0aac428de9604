"""Logins and roles in a real browser: the dashboard served by Streamlit with ``st.login`` against
a real OpenID Connect provider (``oidc-provider-mock``) started here, driven in Debian's chromium.
An anonymous visitor, a partner and a moderator each see exactly what their role allows: for the
first, no sensitive site's name or coordinates in any page, websocket frame, export or brief.
Slow: run alone with ``pytest -m slow tests/test_login_browser.py``.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from assetmap.db.store import Store, connect
from assetmap.submissions import submit
from pipelines.processes import dashboard_command, free_port, wait_file, wait_http
from tests.conftest import REPO, SENSITIVE_PLANTED, pair_in
from tests.servers import oidc_provider, stop
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, exports_and_brief, map_frame, open_map, shot

pytestmark = pytest.mark.slow

USERS = [{"sub": "public1", "email": "public1@example.org", "name": "Pat Public"},
         {"sub": "partner1", "email": "partner1@example.org", "name": "Parveen Partner", "groups": ["partner"]},
         {"sub": "mod1", "email": "mod1@example.org", "name": "Mo Moderator", "groups": ["partner", "moderator"]}]
PAGES = ("Ward profile", "Gaps ranking", "What-if and siting", "Dispersal review", "Changes",
         "Race equality scorecard", "Data and provenance", "Submit an asset", "Moderation")


@pytest.fixture(scope="module")
def served(_dashboard_home, tmp_path_factory):
    """A copy of the published demo (with a pending submission), its dashboard signing users in
    through the identity provider; yields (url, home, frames seen per context)."""
    home = tmp_path_factory.mktemp("login") / "home"
    shutil.copytree(_dashboard_home, home)
    with Store(home / "assetmap.duckdb") as store:
        submit(store, {"name": "Pending Welcome Cafe", "category": "community_centre", "lat": 52.7795,
                       "lon": -1.2515})
    logs = home / "logs"
    with oidc_provider(logs, USERS) as issuer:
        port = free_port(0)
        ready = home / "dashboard.ready"
        env = {**os.environ, "ASSETMAP_HOME": str(home), "ASSETMAP_DB": str(home / "assetmap.duckdb"),
               "ASSETMAP_MODE": "public", "ASSETMAP_INBOX": str(home / "inbox"),
               "ASSETMAP_DASHBOARD_READY": str(ready),
               "ASSETMAP_OIDC_METADATA_URL": f"{issuer}/.well-known/openid-configuration",
               "ASSETMAP_OIDC_CLIENT_ID": "assetmap-dashboard", "ASSETMAP_OIDC_CLIENT_SECRET": "not-so-secret",
               # set, to show it is refused where users sign in
               "ASSETMAP_MODERATOR_SECRET": "shared-secret"}
        proc = subprocess.Popen(dashboard_command(port), cwd=REPO, env=env, start_new_session=True,
                                stdout=open(logs / "dashboard.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        try:
            wait_http(f"http://127.0.0.1:{port}/_stcore/health", 120, proc)
            wait_file(ready, 120, proc)
            yield f"http://127.0.0.1:{port}/", home
        finally:
            stop(proc)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Seen:
    """Everything a browser context received: websocket frames and HTTP bodies."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.bodies: list[str] = []

    def attach(self, page) -> None:
        def on_ws(ws):
            ws.on("framereceived", lambda payload: self.frames.append(
                payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload))

        def on_response(resp):
            if "/media/" in resp.url or "/oauth2" in resp.url:
                with contextlib.suppress(Exception):  # a redirect has no body
                    self.bodies.append(resp.body().decode("utf-8", errors="replace"))

        page.on("websocket", on_ws)
        page.on("response", on_response)

    def text(self) -> str:
        return "\n".join(self.frames + self.bodies)


def _watched(browser):
    """A new browser context and page, with everything the page receives kept (:class:`Seen`)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()
    seen = Seen()
    seen.attach(page)
    return ctx, page, seen


def _sensitive(home: Path) -> list[tuple[str, float, float]]:
    """Each sensitive site's name (unless a public site has the same one) and coordinates."""
    con = connect(home / "assetmap.duckdb", read_only=True)
    try:
        return con.execute(
            """SELECT CASE WHEN name IN (SELECT name FROM assets WHERE NOT sensitive) THEN NULL ELSE name END,
                      ST_Y(p), ST_X(p)
               FROM (SELECT name, ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true) AS p
                     FROM assets WHERE sensitive)""").fetchall()
    finally:
        con.close()


def _names_in(text: str, names: list[str | None]) -> list[str]:
    """The names found in ``text`` as whole names ("College 12" is not in "College 125")."""
    return [n for n in names if n and re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text)]


def _ward_of_planted(home: Path) -> str:
    con = connect(home / "assetmap.duckdb", read_only=True)
    try:
        return con.execute("SELECT ward_code FROM assets WHERE name = ?", [SENSITIVE_PLANTED[0]]).fetchone()[0]
    finally:
        con.close()


def _login(page, url: str, sub: str) -> float:
    """Sign in as ``sub`` through the provider's page; return the round trip in seconds."""
    page.goto(url)
    page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
    # as a person would: once the map has drawn and its controls have come (the map's first
    # report reruns the page, and a click in that moment starts a run that is then replaced)
    page.get_by_text("What to map").wait_for(timeout=60_000)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name=sub, exact=True).click(timeout=30_000)
    page.get_by_text(re.compile("Signed in as .*")).first.wait_for(timeout=60_000)
    return time.perf_counter() - t0


def _visit_everything(page, url: str, ward: str, texts: dict[str, str]) -> None:
    """The map with every layer and the planted site's ward, its exports and brief, then every page."""
    open_map(page, url + f"?layers=esol_provider,community_centre,place_of_worship,refugee_support&ward={ward}")
    page.get_by_text("Ward profile:").first.wait_for(timeout=30_000)
    texts["map page"] = page.content()
    texts["map"] = map_frame(page).content()
    texts.update(exports_and_brief(page, ("GeoJSON", "CSV", "Assets (GeoJSON)")))
    for title in PAGES:
        page.get_by_role("link", name=title).click()
        page.get_by_role("heading", name=re.compile(title.split(" ")[0])).first.wait_for(timeout=30_000)
        time.sleep(1.0)
        assert not page.get_by_text("Traceback").count(), title
        texts[title] = page.inner_text("body")


def test_an_anonymous_visitor_gets_nothing_of_a_sensitive_site(served, browser):
    url, home = served
    ctx, page, seen = _watched(browser)
    texts: dict[str, str] = {}
    _visit_everything(page, url, _ward_of_planted(home), texts)
    assert "public view" in texts["Ward profile"] and "Log in" in texts["Ward profile"]
    # moderation: not for the public, and the shared secret is not even asked for
    assert "for signed-in moderators" in texts["Moderation"]
    assert "shared moderators' secret is not accepted" in texts["Moderation"]
    assert not page.get_by_label("Moderators' secret").count()
    shot(page, "login-01-anonymous")
    ctx.close()
    texts["websocket frames and media"] = seen.text()
    assert len(seen.frames) > 50
    points = _sensitive(home)
    assert len(points) > 20
    names = [p[0] for p in points]
    for where, text in texts.items():
        assert _names_in(text, names) == [], where
        for name, lat, lon in points:
            assert not pair_in(text, lat, lon), (where, name)
    assert "Pending Welcome Cafe" not in texts["websocket frames and media"]


def test_a_partner_signs_in_and_sees_sensitive_sites_exactly(served, browser):
    url, home = served
    ctx, page, _ = _watched(browser)
    round_trip = _login(page, url, "partner1")
    texts: dict[str, str] = {}
    _visit_everything(page, url, _ward_of_planted(home), texts)
    assert "Signed in as Parveen Partner · partner" in texts["Ward profile"]
    assert "partner view" in texts["Ward profile"]
    # the planted women-only ESOL class, by name and at its place, in the map and the exports
    assert SENSITIVE_PLANTED[0] in texts["Assets (GeoJSON)"]
    assert pair_in(texts["Assets (GeoJSON)"], SENSITIVE_PLANTED[1], SENSITIVE_PLANTED[2])
    assert SENSITIVE_PLANTED[0] in html.unescape(texts["brief"])
    assert "for signed-in moderators" in texts["Moderation"]  # a partner is not a moderator
    shot(page, "login-02-partner")
    # signing out is the public view again
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="End session").click(timeout=30_000)  # the provider's own page
    page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
    page.goto(url + "profile")
    page.get_by_text("public view").first.wait_for(timeout=60_000)
    ctx.close()
    print(f"\nlogin round trip (click 'Log in' -> signed in, through the provider): {round_trip:.2f} s")


def test_a_moderator_signs_in_and_decides_a_submission(served, browser):
    url, home = served
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    _login(page, url, "mod1")
    page.goto(url + "moderate")
    page.get_by_text("1 submission(s) waiting.").wait_for(timeout=60_000)
    assert "Pending Welcome Cafe" in page.inner_text("body") or page.get_by_text("Pending Welcome Cafe").count() == 0
    page.get_by_label("Reason (needed to reject)").fill("a test venue, not a real one")
    page.get_by_role("button", name="Reject").click()
    page.get_by_text(re.compile(r"^Rejected ")).wait_for(timeout=60_000)
    shot(page, "login-03-moderator")
    ctx.close()
    con = connect(home / "assetmap.duckdb", read_only=True)
    try:
        assert con.execute("SELECT status, reason FROM submissions").fetchall() == [
            ("rejected", "a test venue, not a real one")]
    finally:
        con.close()
