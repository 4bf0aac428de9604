"""The dashboard in a real browser: Debian's chromium, driven by playwright, against the app served
by Streamlit on 127.0.0.1 (started here as ``assetmap up`` starts it). Slow: run alone with
``pytest -m slow tests/test_dashboard_browser.py``. Screenshots go to ``test-output/browser/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

from assetmap import confine
from assetmap.db.store import connect
from pipelines.processes import dashboard_command, free_port, wait_file, wait_http
from tests.conftest import BAD_LINK, GOOD_LINK, HOSTILE_NAMES, REPO, SENSITIVE_PLANTED, pair_in

pytestmark = [pytest.mark.slow, pytest.mark.concurrent, pytest.mark.xdist_group("dashboard_browser")]

CHROMIUM = Path(os.environ.get("ASSETMAP_CHROMIUM", "/usr/bin/chromium"))
SHOTS = REPO / "test-output" / "browser"
MAP_FRAME = "iframe[title='streamlit_folium.st_folium']"
# what the machine's closed network needs: no background calls home (see the project's notes)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def home(_dashboard_home) -> Path:
    return _dashboard_home


@contextlib.contextmanager
def served(home: Path, first_port: int) -> Iterator[str]:
    """The dashboard served by Streamlit, in public mode, over the store in ``home``: its URL once
    it has run its home page."""
    port = free_port(first_port)
    ready = home / "dashboard.ready"
    ready.unlink(missing_ok=True)
    env = {**os.environ, "ASSETMAP_HOME": str(home), "ASSETMAP_DB": str(home / "assetmap.duckdb"),
           "ASSETMAP_MODE": "public", "ASSETMAP_INBOX": str(home / "inbox"), "ASSETMAP_DASHBOARD_READY": str(ready)}
    log = open(home / "dashboard.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(dashboard_command(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 120, proc)
        wait_file(ready, 120, proc)  # it has run its home page once, to itself
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(home):
    with served(home, 8650) as url:
        yield url


@pytest.fixture(scope="module")
def requests_seen() -> list[str]:
    return []


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, requests_seen, tmp_path):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    ctx.on("request", lambda r: requests_seen.append(r.url))
    pg = ctx.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    yield pg
    ctx.close()


@pytest.fixture(scope="module")
def snap(home):
    from assetmap.settings import settings
    from assetmap.snapshots import latest_path

    old = settings.db_path
    settings.db_path = home / "assetmap.duckdb"
    con = connect(latest_path(settings.db_path), read_only=True)
    yield con
    con.close()
    settings.db_path = old


def shot(pg, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def open_map(pg, url: str):
    pg.goto(url)
    frame = pg.frame_locator(MAP_FRAME)
    frame.locator("path.leaflet-interactive").first.wait_for(timeout=60_000, state="attached")
    return frame


def map_frame(pg):
    return next(f for f in pg.frames if "st_folium" in f.url)


#: WCAG 2.2 AA, as the Public Sector Bodies Accessibility Regulations require of a public dashboard
_WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def serious_violations(target, skip: tuple[str, ...] = (), context: dict | None = None) -> list[str]:
    """axe-core's serious and critical WCAG violations on a page or frame (axe's own script,
    bundled with axe-playwright-python: nothing fetched), less the rules ``skip``, within ``context``."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": _WCAG},
               "rules": {r: {"enabled": False} for r in skip}}
    found = Axe().run(target, context=context, options=options).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']}; e.g. {v['nodes'][0]['target']}" for v in found
            if v.get("impact") in ("serious", "critical")]


def test_the_server_ran_its_home_page_once_before_it_said_ready(server, home):
    """So the first visitor does not pay for the page's first run (see dashboards/serve.py)."""
    log = (home / "dashboard.log").read_text(encoding="utf-8", errors="replace")
    assert "first visit warmed" in log and "warming the first visit failed" not in log
    assert (home / "dashboard.ready").read_text() == "ready\n"
    # every page these tests open ran in a process the kernel keeps from the partner files
    if confine.available():
        assert "confined to the public snapshots" in log, log[-2000:]


def test_the_map_appears_with_one_polygon_per_ward(server, page, snap):
    frame = open_map(page, server + "?layers=none")
    n_wards = snap.execute("SELECT count(*) FROM areas WHERE level = 'ward'").fetchone()[0]
    time.sleep(0.5)
    assert frame.locator(".leaflet-container").is_visible()
    assert frame.locator("path.leaflet-interactive").count() == n_wards
    assert frame.locator(".assetmap-legend").is_visible()
    # the controls come with the rerun the drawn map's first report makes
    page.get_by_text("What to map").wait_for(timeout=30_000)
    assert page.get_by_text("Loading the map's controls…").count() == 0
    shot(page, "01-map")


def _geo_fetched(frame) -> list[tuple[str, int]]:
    """The map's files the map's frame fetched: (URL, bytes that came over the network; 0 when the
    browser's cache gave it), from the Resource Timing API."""
    return [(u, int(n)) for u, n in frame.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/assetmap/geo/'))"
        ".map(e => [e.name, e.transferSize])")]


def test_the_wards_come_as_files_that_a_warm_browser_does_not_fetch_again(server, browser, snap, home):
    """A public map's geometry and values are files beside the app (dashboards/geo.py), not part of
    what the websocket carries; a second visit in the same browser takes them from its cache, a
    new measure fetches only its values; and the drawn classes are mapclassify's on the page's read."""
    from assetmap import queries
    from dashboards import maps, render

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        first = ctx.new_page()
        frames: list[str] = []
        first.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
            payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload)))
        bodies: dict[str, bytes] = {}
        first.on("response", lambda r: bodies.__setitem__(r.url, r.body()) if "/assetmap/geo/" in r.url else None)
        open_map(first, server + "?layers=none&measure=gap&category=esol_provider&scheme=quantiles&k=5")
        n_wards = snap.execute("SELECT count(*) FROM areas WHERE level = 'ward'").fetchone()[0]
        map_frame(first).wait_for_function(f"document.querySelectorAll('path.leaflet-interactive').length == {n_wards}")
        fetched = _geo_fetched(map_frame(first))
        assert sorted(u.split("/assetmap/geo/")[1].split("/")[1].split("?")[0] for u, _ in fetched) == [
            "values.json", "wards-detail.json"]
        assert all(n > 0 for _, n in fetched), fetched  # the first visit: over the network
        # the geometry never went down the websocket: a ward's boundary coordinates are not in it
        wards = next(json.loads(b) for u, b in bodies.items() if "wards-" in u)
        lon, lat = wards["features"][0]["geometry"]["coordinates"][0][0][:2] \
            if wards["features"][0]["geometry"]["type"] == "Polygon" \
            else wards["features"][0]["geometry"]["coordinates"][0][0][0][:2]
        assert len(frames) > 2 and not pair_in("\n".join(frames), lat, lon, 1e-9)
        assert pair_in(json.dumps(wards), lat, lon, 1e-9)  # (the check can fail)
        # nothing of a sensitive site in the files either
        files = "\n".join(b.decode() for b in bodies.values())
        sensitive = snap.execute("SELECT name, ST_Y(p), ST_X(p) FROM (SELECT name, ST_Transform(geom, "
                                 "'EPSG:27700', 'EPSG:4326', always_xy := true) AS p FROM assets WHERE sensitive)"
                                 ).fetchall()
        assert not [name for name, y, x in sensitive if name in files or pair_in(files, y, x)]
        # the drawn fills are the classes mapclassify gives on the page's own read (the public snapshot's)
        from assetmap.snapshots import PUBLIC, latest_path

        m = queries.Measure("gap", "esol_provider")
        with contextlib.closing(connect(latest_path(home / "assetmap.duckdb", PUBLIC), read_only=True)) as public:
            values = queries.wards(public)[["code"]].merge(queries.measure_values(public, m), on="code", how="left")
        classes, bins = render.classify(values["value"], "quantiles", 5)
        colours = maps.palette(max(len(bins), 1), "YlOrRd")
        want = {c: (colours[k] if k >= 0 else maps.MISSING) for c, k in zip(values["code"], classes, strict=True)}
        drawn = dict(map_frame(first).evaluate(
            "(() => { const out = []; map_div.eachLayer(l => { if (l.feature && l.options.fillColor) "
            "out.push([l.feature.properties.code, l.options.fillColor]); }); return out; })()"))
        assert drawn == want and len(set(drawn.values())) >= 4
        first.close()

        # a second visit in the same browser: both files from its cache
        second = ctx.new_page()
        open_map(second, server + "?layers=none&measure=gap&category=esol_provider&scheme=quantiles&k=5")
        map_frame(second).wait_for_function(
            f"document.querySelectorAll('path.leaflet-interactive').length == {n_wards}")
        again = _geo_fetched(map_frame(second))
        assert len(again) == 2 and all(n == 0 for _, n in again), again
        # another measure chosen in the page: the same map in the same frame shows it, with its
        # values over the network and nothing else fetched
        map_frame(second).evaluate("window.__sameMap = map_div")
        second.get_by_text("What to map").wait_for(timeout=30_000)
        second.locator("[data-testid='stSelectbox']").filter(has_text="Measure").first.click()
        second.get_by_role("option", name="Segregation index", exact=True).click()
        second.frame_locator(MAP_FRAME).locator(".leaflet-container[data-assetmap-view*='measure=index']").wait_for(
            timeout=60_000, state="attached")
        assert map_frame(second).evaluate("window.__sameMap === map_div")
        third = _geo_fetched(map_frame(second))
        assert [u for u, _ in third if "wards-" in u] == [u for u, _ in again if "wards-" in u]  # not again
        assert [n > 0 for u, n in third if "measure=index" in u] == [True]
        assert map_frame(second).locator("path.leaflet-interactive").count() == n_wards
        legend = map_frame(second).locator(".assetmap-legend").inner_text()
        assert "Segregation index" in legend or "Dissimilarity" in legend, legend
    finally:
        ctx.close()


def test_clicking_a_ward_shows_its_profile(server, page, snap):
    frame = open_map(page, server + "?layers=none")
    target = frame.locator("path.leaflet-interactive").nth(12)
    target.hover(force=True)
    tip = frame.locator(".leaflet-tooltip").first
    tip.wait_for(timeout=10_000)
    code = re.search(r"E05\d{6}", tip.inner_text()).group(0)
    name = snap.execute("SELECT name FROM areas WHERE code = ?", [code]).fetchone()[0]
    target.click(force=True)
    header = page.get_by_text(f"Ward profile: {name} ({code})")
    header.wait_for(timeout=30_000)
    assert f"ward={code}" in page.url
    shot(page, "02-ward-profile")


def test_a_url_restores_the_view(server, page, snap):
    code, name = snap.execute("SELECT code, name FROM areas WHERE level = 'ward' ORDER BY code LIMIT 1 OFFSET 20"
                              ).fetchone()
    url = server + f"?measure=index&index=theil_h&scheme=fisher_jenks&k=4&ward={code}&lat=52.79&lon=-1.26&zoom=13"
    open_map(page, url)
    page.get_by_text(f"Ward profile: {name} ({code})").wait_for(timeout=30_000)
    page.get_by_role("heading", name="Theil's H (multigroup)").wait_for(timeout=10_000)
    frame = map_frame(page)
    time.sleep(1.0)
    assert frame.evaluate("map_div.getZoom()") == 13
    centre = frame.evaluate("[map_div.getCenter().lat, map_div.getCenter().lng]")
    assert centre == pytest.approx([52.79, -1.26], abs=1e-3)
    shot(page, "03-restored-view")


def test_hostile_asset_names_run_nothing(server, page, snap):
    lat, lon = 52.78053, -1.24907  # between the two planted assets, close enough that neither is clustered
    frame = open_map(page, server + f"?layers=esol_provider,community_centre&lat={lat}&lon={lon}&zoom=17")
    for name in HOSTILE_NAMES:
        pin = frame.locator(f"[title='{name}']")
        pin.first.wait_for(timeout=30_000)
        map_frame(page).evaluate("map_div.closePopup()")  # an open popup may lie over the next pin
        pin.first.click(force=True)
        popup = frame.locator(".leaflet-popup-content", has_text=name)  # shown as text, characters and all
        popup.wait_for(timeout=10_000)
        assert popup.inner_text().splitlines()[0] == name
        assert popup.locator("img, script").count() == 0
    shot(page, "04-hostile-names")
    for f in page.frames:
        assert f.evaluate("typeof window.__xss") == "undefined"
    assert page.dialogs == []  # type: ignore[attr-defined]


def exports_and_brief(pg, labels: tuple[str, ...]) -> dict[str, str]:
    """With a ward open on the map: each export named in ``labels`` and the ward brief, downloaded, as text."""
    texts = {}
    pg.get_by_text("Export this layer").click()
    for label in labels:
        with pg.expect_download(timeout=60_000) as dl:
            pg.get_by_role("button", name=label, exact=True).click()
        texts[label] = Path(dl.value.path()).read_bytes().decode("utf-8", errors="replace")
    with pg.expect_download(timeout=60_000) as dl:
        pg.get_by_role("button", name="Download the ward brief (HTML)").click()
    texts["brief"] = Path(dl.value.path()).read_text(encoding="utf-8")
    return texts


def test_no_sensitive_coordinates_in_the_pages_or_the_exports(server, page, snap, tmp_path):
    points = snap.execute("SELECT name, ST_Y(p), ST_X(p) FROM (SELECT name, ST_Transform(geom, 'EPSG:27700', "
                          "'EPSG:4326', always_xy := true) AS p FROM assets WHERE sensitive)").fetchall()
    ward = snap.execute("SELECT ward_code FROM assets WHERE name = ?", [SENSITIVE_PLANTED[0]]).fetchone()[0]
    open_map(page, server + f"?layers=esol_provider,community_centre,place_of_worship,refugee_support&ward={ward}")
    page.get_by_text("Ward profile:").first.wait_for(timeout=30_000)
    texts = {"page": page.content(), "map": map_frame(page).content()}
    texts.update(exports_and_brief(page, ("GeoJSON", "GeoPackage", "CSV", "Assets (GeoJSON)")))
    assert "Sensitive services within reach" in texts["brief"] or "Sensitive services" in texts["brief"]
    for where, text in texts.items():
        assert SENSITIVE_PLANTED[0] not in text, where
        for name, lat, lon in points:
            assert not pair_in(text, lat, lon), (where, name)
    shot(page, "05-exports")


def test_every_other_download_gives_nothing_of_a_sensitive_site(server, page, snap):
    """The downloads beyond the map's exports and the ward brief (gaps, dispersal, changes, the
    scorecard's brief), clicked in chromium: no sensitive site's name or position in any."""
    sensitive = snap.execute("SELECT name, ST_Y(p), ST_X(p) FROM (SELECT name, ST_Transform(geom, 'EPSG:27700', "
                             "'EPSG:4326', always_xy := true) AS p FROM assets WHERE sensitive)").fetchall()
    assert sensitive
    got: dict[str, str] = {}
    for path, heading, button in (("gaps", "Gaps ranking", "Download CSV"),
                                  ("dispersal", "Dispersal review", "Download the figures over time (CSV)"),
                                  ("changes", "Changes", "Download the changes (CSV)"),
                                  ("scorecard", "Race equality scorecard", "Download the scorecard brief (HTML)")):
        page.goto(server + path)
        page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
        with page.expect_download(timeout=60_000) as dl:
            page.get_by_role("button", name=button).first.click()
        got[path] = Path(dl.value.path()).read_bytes().decode("utf-8", errors="replace")
    assert all(len(text) > 200 for text in got.values()), {k: len(v) for k, v in got.items()}
    for where, text in got.items():
        # a whole name: "College 12" is sensitive, "College 120" is not
        assert not [name for name, _, _ in sensitive if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text)], where
        assert not [name for name, lat, lon in sensitive if pair_in(text, lat, lon)], where
    # the changes name sites: the public ones planted with the sensitive one are there (so the check can fail)
    assert HOSTILE_NAMES[0] in got["changes"] and HOSTILE_NAMES[1] in got["changes"]


def test_every_page_renders_passes_axe_core_and_nothing_leaves_localhost(server, page, requests_seen, snap):
    """Every page, in public mode: axe-core finds no serious or critical WCAG 2.2 AA violation
    (in the page, inside the map, in the map's table view); nothing is fetched from elsewhere;
    and nothing the server sends down the websocket (every frame of every page) or as the map's
    files holds a sensitive site's name or position."""
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
        payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload)))
    # and the map's files (dashboards/geo.py): wards, values, markers
    page.on("response", lambda r: frames.append(r.body().decode()) if "/assetmap/geo/" in r.url else None)
    open_map(page, server + "?layers=esol_provider,community_centre,place_of_worship,refugee_support")
    page.get_by_text("What to map").wait_for(timeout=30_000)
    found: dict[str, list[str]] = {}
    # inside the map, pins and clusters stand where their places are, some near each other: WCAG
    # 2.5.8 exempts targets whose position is essential, as on a map; the table view gives the same
    found["Map"] = serious_violations(page) + serious_violations(map_frame(page), skip=("target-size",))
    page.get_by_text("Table view of this map").click()
    table = page.locator("table").filter(has_text="Ward code").first  # a real table, read by screen readers
    table.wait_for(timeout=10_000)
    assert table.locator("tbody tr").count() == 60
    assert table.get_by_role("columnheader", name="Class", exact=True).count() == 1
    found["Map, table view"] = serious_violations(page, context={"exclude": [["iframe"]]})  # (the map: above)
    for title in ("Ward profile", "Gaps ranking", "What-if and siting", "Dispersal review", "Changes",
                  "Race equality scorecard", "Data and provenance", "Submit an asset", "Moderation"):
        page.get_by_role("link", name=title).click()
        page.get_by_role("heading", name=re.compile(title.split(" ")[0])).first.wait_for(timeout=30_000)
        time.sleep(1.0)
        assert not page.get_by_text("Traceback").count(), title
        found[title] = serious_violations(page)
        shot(page, "06-" + title.lower().replace(" ", "-"))
    assert not any(found.values()), {k: v for k, v in found.items() if v}
    hosts = {urlparse(u).hostname for u in requests_seen if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {"127.0.0.1"}, sorted(u for u in requests_seen if "127.0.0.1" not in u)[:10]
    assert len(requests_seen) > 50
    sensitive = snap.execute("SELECT name, ST_Y(p), ST_X(p) FROM (SELECT name, ST_Transform(geom, 'EPSG:27700', "
                             "'EPSG:4326', always_xy := true) AS p FROM assets WHERE sensitive)").fetchall()
    sent = "\n".join(frames)
    assert len(frames) > 20 and len(sent) > 100_000  # the pages' own data came this way
    assert SENSITIVE_PLANTED[0] not in sent
    assert not [name for name, lat, lon in sensitive if pair_in(sent, lat, lon)]
    # the check can fail: the public sites' positions are found in the same frames
    shown = snap.execute("SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', "
                         "always_xy := true) AS p FROM assets WHERE NOT sensitive AND category = 'esol_provider') "
                         "LIMIT 20").fetchall()
    assert sum(pair_in(sent, lat, lon) for lat, lon in shown) >= 10


def test_the_dispersal_review_draws_a_regions_trend_and_follows_the_region(server, page):
    page.goto(server + "dispersal")
    page.get_by_role("heading", name="Over time").wait_for(timeout=60_000)
    charts = page.locator(".vega-embed")
    charts.first.wait_for(timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= 2",
                           timeout=30_000)
    box = charts.first.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100
    grid = page.locator("[data-testid='stDataFrame']").first
    for name in ("Demoford (synthetic)", "Elsewhere 2 (synthetic)"):
        grid.get_by_text(name).first.wait_for(timeout=30_000, state="attached")
    assert not grid.get_by_text("Far Away (synthetic)").count()
    shot(page, "07-dispersal-region")
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()  # the region
    page.get_by_role("option", name="Another Synthetic Region").click()
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.get_by_text("Far Away (synthetic)").first.wait_for(timeout=30_000, state="attached")
    assert not page.get_by_text("Traceback").count()
    shot(page, "08-dispersal-other-region")


def test_a_website_is_a_link_only_when_it_is_http_mailto_or_tel(server, page, snap):
    """The popup shows a website as text (the stored javascript: one as its characters); the
    profile offers only the https one as a link; no element anywhere has a javascript: href."""
    lat, lon = 52.78053, -1.24907
    ward = snap.execute("SELECT ward_code FROM assets WHERE source_record_id = 'plant-2'").fetchone()[0]
    frame = open_map(page, server + f"?layers=esol_provider,community_centre&lat={lat}&lon={lon}&zoom=17&ward={ward}")
    pin = frame.locator(f"[title='{HOSTILE_NAMES[1]}']")
    pin.first.wait_for(timeout=30_000)
    pin.first.click(force=True)
    popup = frame.locator(".leaflet-popup-content", has_text=HOSTILE_NAMES[1])
    popup.wait_for(timeout=10_000)
    assert f"website: {BAD_LINK}" in popup.inner_text()
    assert popup.locator("a").count() == 0
    page.get_by_text("Assets within 1,600 m").first.wait_for(timeout=30_000)
    for f in page.frames:
        assert f.evaluate("document.querySelectorAll('a[href^=\"javascript\" i], a[href^=\"data\" i]').length") == 0
        assert f.evaluate("typeof window.__xss") == "undefined"
    assert page.dialogs == []  # type: ignore[attr-defined]
    from assetmap import queries

    listed, _ = queries.assets_in_reach(snap, ward)
    links = dict(zip(listed["name"], listed["website"], strict=True))
    assert links[HOSTILE_NAMES[0]] == GOOD_LINK and pd.isna(links[HOSTILE_NAMES[1]])


def test_subscribing_from_the_ward_profile_sends_the_confirmation_email(server, page, snap, home, tmp_path,
                                                                      monkeypatch):
    """The form on the ward profile leaves a request in the inbox; the pipeline's own flow (as
    plain Python, over this dashboard's store) sends the confirmation; its link, opened in the
    browser, shows a button that starts the alerts."""
    from assetmap import alerts
    from assetmap.db.store import Store
    from assetmap.settings import settings
    from pipelines.flows import ingest_file as flow
    from tests.mail_servers import Mailbox

    code, name = snap.execute("SELECT code, name FROM areas WHERE level = 'ward' ORDER BY code LIMIT 1 OFFSET 7"
                              ).fetchone()
    box = Mailbox(tmp_path / "tls").start()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for key, value in {"db_path": home / "assetmap.duckdb", "inbox_dir": home / "inbox", "smtp_url": box.url,
                       "public_url": server.rstrip("/")}.items():
        monkeypatch.setattr(settings, key, value)
    try:
        page.goto(server + f"profile?ward={code}")
        page.get_by_text(f"Ward profile: {name} ({code})").wait_for(timeout=30_000)
        page.get_by_text("Email me about changes here").click()
        page.get_by_label("Your email address").fill("neighbour@example.test")
        page.get_by_role("button", name="Email me").click()
        page.get_by_text("Nearly done").wait_for(timeout=15_000)
        [request] = (home / "inbox" / "submissions").glob("alert-*.json")
        assert json.loads(request.read_text())["wards"] == [code]
        out = flow.fn(str(request))
        assert out["status"] == "completed", out
        [mail] = box.messages
        assert str(mail["To"]) == "neighbour@example.test" and "confirm" in str(mail["Subject"]).lower()
        link = next(w for w in box.text_of(mail).split() if "/alerts/confirm?token=" in w)
        page.goto(link)
        page.get_by_role("button", name="Start my alerts").click()
        page.get_by_text("Your alerts are starting").wait_for(timeout=10_000)
        confirmed = list((home / "inbox" / "submissions").glob("alert-*.json"))
        assert len(confirmed) == 1
        assert flow.fn(str(confirmed[0]))["status"] == "completed"
        with Store(home / "assetmap.duckdb") as store:
            [sub] = [s for s in alerts.subscriptions(store.con, store.path) if s["address"] == "neighbour@example.test"]
        assert (sub["status"], sub["wards"], sub["role"]) == ("active", [code], "public")
        shot(page, "09-alerts-confirmed")
    finally:
        box.stop()
