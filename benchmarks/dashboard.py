"""Dashboard benchmarks.

1. **First map paint of the demo city** in headless chromium (Debian's, driven by playwright):
   from asking for the page to the first ward polygon in the map, once the server is up (as
   ``assetmap up`` announces it: answering, and its home page served once to itself). The
   first visitor after start, then fresh browser contexts (nothing cached). The browser has
   drawn the reference page first, so its own cold start is not counted as the server's. Timed
   two ways: by the page's own clock (a probe notes the animation frame in which the first ward
   polygon is in the document) and as the harness sees it (playwright polling the map's frame,
   which lags on a busy 2-core machine that also runs the server).
   Target: under 2 s. Reference in the same run: a bare Leaflet page drawing the same ward
   polygons from the same machine (no Streamlit), i.e. the floor for any Leaflet map.
2. **A region's and the nation's map** (the demo at a region's size, 420 wards and 18,900 OAs
   like the West Midlands; and the national demo, 7,602 wards): first paint in a cold browser
   (target < 2 s) and a warm one (its cache holding the map's files: target < 1 s), and switching
   measure in the page (target < 1 s). Reference in the same run: a bare Leaflet page drawing the
   same wards, cold, and restyling every ward.
3. **Map payload of the national-scale demo** (7,602 wards): the bytes the map page sends the
   browser for its map (the st_folium component's arguments), measured through the page's own
   code path (Streamlit's AppTest). Target: under 5 MB. Reference: the same wards' full
   geometry as GeoJSON, unsimplified.

Run: ``python benchmarks/dashboard.py`` (the national store comes from ``benchmarks/ingest.py``,
built when missing, then recomputed and published once; both cached in ``.assetmap/bench``).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, WORK, phase_from_argv, run_phase

CHROMIUM = os.environ.get("ASSETMAP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
VISITS = 11


def _city_home(scale: str = "city") -> Path:
    """A published demo store at ``scale`` (``city`` or ``region``), built once in the bench folder."""
    from assetmap.analysis import recompute
    from assetmap.db.store import Store
    from assetmap.demo import generate
    from assetmap.ingest import ingest_paths
    from assetmap.snapshots import latest_path, publish

    home = WORK / f"dashboard-{scale}"
    db = home / "assetmap.duckdb"
    if db.exists() and latest_path(db):
        return home
    shutil.rmtree(home, ignore_errors=True)
    generate(home / "demo", scale=scale)
    with Store(db) as store:
        ingest_paths(store, [home / "demo"])
        recompute(store)
        publish(store, reason="benchmark")
    return home


def _national_home() -> Path:
    from assetmap.analysis import recompute
    from assetmap.db.store import Store
    from assetmap.snapshots import latest_path, publish

    home = WORK / "dashboard-national"
    db = home / "assetmap.duckdb"
    if db.exists() and latest_path(db):
        return home
    source = WORK / "national.duckdb"
    if not source.exists():
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "ingest.py")], check=True)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, db)
    with Store(db) as store:
        recompute(store)
        publish(store, reason="benchmark")
    return home


#: Runs in every page the benchmark opens: on each animation frame, look for a ward polygon (in
#: the map's frame, or in the page itself for the reference) and note the page's clock when the
#: first is there, i.e. the frame that paints it. The browser's own measure, without the harness'
#: polling and its round trips on a busy 2-core machine.
_PAINT_PROBE = """
if (window.top === window) {
  (function tick() {
    if (window.__assetmapShell === undefined && document.querySelector('h1')) {
      window.__assetmapShell = performance.now();  // Streamlit's page: its heading is there
    }
    var f = document.querySelector("iframe[title='streamlit_folium.st_folium']");
    var doc = f ? f.contentDocument : document;
    // an SVG path per ward, or (a nation's wards, on a canvas) the map saying it has drawn them
    if (doc && doc.querySelector('path.leaflet-interactive, [data-assetmap-wards]')) {
      window.__assetmapPaint = performance.now();
    }
    else { requestAnimationFrame(tick); }
  })();
}
"""


def _time_paint(browser, url: str, frame_selector: str | None) -> tuple[float, float]:
    """Seconds to the first ward polygon: (in the page, by its own clock; as the harness saw it)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script(_PAINT_PROBE)
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    scope = page.frame_locator(frame_selector) if frame_selector else page
    scope.locator("path.leaflet-interactive, [data-assetmap-wards]").first.wait_for(timeout=60_000, state="attached")
    seen = time.perf_counter() - t0
    page.wait_for_function("window.__assetmapPaint !== undefined", timeout=10_000)
    in_page = page.evaluate("window.__assetmapPaint") / 1000
    ctx.close()
    return in_page, seen


def _bare_leaflet_page(folder: Path, fc: dict) -> None:
    vendor = REPO / "dashboards" / "static" / "vendor" / "leaflet" / "dist"
    shutil.copy(vendor / "leaflet.js", folder / "leaflet.js")
    shutil.copy(vendor / "leaflet.css", folder / "leaflet.css")
    (folder / "wards.js").write_text("var wards = " + json.dumps(fc) + ";", encoding="utf-8")
    (folder / "index.html").write_text(
        """<!doctype html><html><head><link rel="stylesheet" href="leaflet.css"><script src="leaflet.js"></script>
        <script src="wards.js"></script></head><body><div id="m" style="height:560px"></div><script>
        var m = L.map('m', {maxZoom: 18}); var g = L.geoJSON(wards).addTo(m); m.fitBounds(g.getBounds());
        </script></body></html>""", encoding="utf-8")


def _serve_bare(folder: Path, fc: dict) -> tuple[socketserver.ThreadingTCPServer, str]:
    """The bare Leaflet page for ``fc`` served from ``folder``: the server and the page's URL."""
    folder.mkdir(exist_ok=True)
    _bare_leaflet_page(folder, fc)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/index.html"


def _stop(httpd: socketserver.ThreadingTCPServer, proc: subprocess.Popen, log: Any) -> None:
    httpd.shutdown()
    proc.terminate()
    proc.wait(15)
    log.close()


def phase_paint() -> dict:
    from playwright.sync_api import sync_playwright

    from assetmap import queries
    from assetmap.db.store import connect
    from assetmap.snapshots import latest_path
    from pipelines.processes import dashboard_command, free_port, wait_file, wait_http

    home = _city_home()
    db = home / "assetmap.duckdb"
    con = connect(latest_path(db), read_only=True)
    fc = queries.feature_collection(con, "ward", "detail")
    con.close()
    port = free_port(8660)
    ready = home / "dashboard.ready"
    ready.unlink(missing_ok=True)
    env = {**os.environ, "ASSETMAP_HOME": str(home), "ASSETMAP_DB": str(db), "ASSETMAP_MODE": "public",
           "ASSETMAP_DASHBOARD_READY": str(ready)}
    log = open(home / "dashboard.log", "wb")  # noqa: SIM115
    t_start = time.perf_counter()
    proc = subprocess.Popen(dashboard_command(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    httpd, ref_url = _serve_bare(home / "bare", fc)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 120, proc)
        health = time.perf_counter() - t_start
        wait_file(ready, 120, proc)  # as `assetmap up` does before it announces the dashboard
        startup = time.perf_counter() - t_start
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            url = f"http://127.0.0.1:{port}/"
            # the reference first: the browser's own first page (its process warming up) is then
            # not counted against the dashboard's first visitor
            reference = [_time_paint(browser, ref_url, None) for _ in range(VISITS)]
            first = _time_paint(browser, url, "iframe[title='streamlit_folium.st_folium']")
            later = [_time_paint(browser, url, "iframe[title='streamlit_folium.st_folium']") for _ in range(VISITS)]
            browser.close()
    finally:
        _stop(httpd, proc, log)
    return {"wards": len(fc["features"]), "startup_s": startup, "health_s": health, "first_s": first, "later_s": later,
            "reference_s": reference}


#: In the bare reference page: restyle every ward with new colours (what a switch of measure asks
#: of Leaflet at the least), seconds to the frame that paints it.
_BARE_SWITCH = """() => new Promise(done => {
  const t0 = performance.now();
  const colours = ['#f2f0f7', '#cbc9e2', '#9e9ac8', '#756bb1', '#54278f'];
  let i = 0;
  g.setStyle(() => ({fillColor: colours[(i++) % 5], fillOpacity: 0.75, weight: 0.6, color: '#555'}));
  requestAnimationFrame(() => requestAnimationFrame(() => done((performance.now() - t0) / 1000)));
})"""


def _serve_public(home: Path, port_hint: int):
    """The dashboard over ``home``'s store as ``assetmap up`` starts one replica, public mode."""
    from pipelines.processes import dashboard_command, free_port, wait_file, wait_http

    port = free_port(port_hint)
    ready = home / "dashboard.ready"
    ready.unlink(missing_ok=True)
    env = {**os.environ, "ASSETMAP_HOME": str(home), "ASSETMAP_DB": str(home / "assetmap.duckdb"),
           "ASSETMAP_MODE": "public", "ASSETMAP_DASHBOARD_READY": str(ready)}
    log = open(home / "dashboard.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(dashboard_command(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/_stcore/health", 300, proc)
    wait_file(ready, 300, proc)
    return proc, log, f"http://127.0.0.1:{port}/"


def phase_region(which: str) -> dict:
    """First paint (cold and warm browser) and a switch of measure on a region's or the nation's
    map, and the same on a bare Leaflet page drawing the same wards."""
    from playwright.sync_api import sync_playwright

    from assetmap.db.store import connect
    from assetmap.snapshots import PUBLIC, latest_path
    from dashboards import geo, maps

    home = _city_home("region") if which == "region" else _national_home()
    con = connect(latest_path(home / "assetmap.duckdb", PUBLIC), read_only=True)
    n = con.execute("SELECT count(*) FROM areas WHERE level = 'ward'").fetchone()[0]
    fc = geo.wards_document(con, maps.detail_for(n))
    con.close()
    httpd, ref_url = _serve_bare(home / "bare", fc)
    frame = "iframe[title='streamlit_folium.st_folium']"
    proc, log, url = _serve_public(home, 8670)
    url += "?layers=none&measure=gap&category=esol_provider"
    out: dict = {"wards": n, "geometry_bytes": len(json.dumps(fc))}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            out["reference_cold_s"] = [_time_paint(browser, ref_url, None)[0] for _ in range(5)]
            _time_paint(browser, url, frame)  # the server's first run of this view: not a visitor's
            out["cold_s"] = [_time_paint(browser, url, frame)[0] for _ in range(5)]
            # a warm browser: the same context, after one visit
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            ctx.add_init_script(_PAINT_PROBE)
            warm: list[float] = []
            shell: list[float] = []
            for i in range(6):
                page = ctx.new_page()
                page.goto(url, wait_until="commit")
                page.wait_for_function("window.__assetmapPaint !== undefined", timeout=120_000)
                if i:
                    warm.append(page.evaluate("window.__assetmapPaint") / 1000)
                    shell.append(page.evaluate("window.__assetmapShell || window.__assetmapPaint") / 1000)
                if i < 5:
                    page.close()
            out["warm_s"], out["shell_s"] = warm, shell
            # switching measure in the page: from the choice to the new view's colours drawn
            page.locator(frame).content_frame.locator(".leaflet-container[data-assetmap-view]").wait_for(
                timeout=60_000, state="attached")
            page.get_by_text("What to map").wait_for(timeout=60_000)
            switches = []
            for label, param in [("Segregation index", "measure=index"), ("Need", "measure=need"),
                                 ("Provision gap", "measure=gap")] * 2:
                page.locator("[data-testid='stSelectbox']").filter(has_text="Measure").first.click()
                t0 = time.perf_counter()
                page.get_by_role("option", name=label, exact=True).click()
                page.frame_locator(frame).locator(f".leaflet-container[data-assetmap-view*='{param}']").wait_for(
                    timeout=120_000, state="attached")
                switches.append(time.perf_counter() - t0)
                time.sleep(1.0)
            out["switch_s"] = switches
            ctx.close()
            ref = browser.new_page()
            ref.goto(ref_url)
            ref.locator("path.leaflet-interactive").first.wait_for(timeout=60_000, state="attached")
            out["reference_switch_s"] = [ref.evaluate(_BARE_SWITCH) for _ in range(6)]
            browser.close()
    finally:
        _stop(httpd, proc, log)
    return out


def phase_payload(which: str) -> dict:
    from streamlit.testing.v1 import AppTest

    from assetmap.db.store import connect
    from assetmap.settings import settings
    from assetmap.snapshots import latest_path

    home = _national_home() if which == "national" else _city_home()
    settings.db_path = home / "assetmap.duckdb"
    t = time.perf_counter()
    at = AppTest.from_file(str(REPO / "dashboards" / "views" / "map.py"), default_timeout=600)
    at.session_state["_map_reported"] = True  # the whole page, as after the map's first report
    at.run()
    run_s = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    (component,) = at.get("component_instance")
    payload = len(component.proto.json_args.encode("utf-8"))
    con = connect(latest_path(settings.db_path), read_only=True)
    full = con.execute("""SELECT sum(length(ST_AsGeoJSON(ST_Transform(geom, 'EPSG:27700', 'EPSG:4326',
                          always_xy := true)))) FROM areas WHERE level = 'ward'""").fetchone()[0]
    wards = con.execute("SELECT count(*) FROM areas WHERE level = 'ward'").fetchone()[0]
    assets = con.execute("SELECT count(*) FROM assets").fetchone()[0]
    con.close()
    return {"wards": wards, "assets": assets, "payload_bytes": payload, "full_geometry_bytes": int(full),
            "page_run_s": run_s}


def main() -> None:
    if phase_from_argv({"paint": phase_paint, "payload": phase_payload, "region": phase_region}):
        return
    print(f"assetmap dashboard benchmarks on {os.cpu_count()} cores")
    r = run_phase(__file__, "paint")
    print(f"\n[first map paint, demo city: {r['wards']} wards; server answering after {r['health_s']:.1f} s, up "
          f"(its home page served once to itself, as `assetmap up` waits for) after {r['startup_s']:.1f} s]")
    for i, how in enumerate(("in the page, by the browser's clock (the frame that paints the first ward)",
                             "as the harness saw it (playwright polling the map's frame)")):
        later = [t[i] for t in r["later_s"]]
        med, ref = statistics.median(later), statistics.median(t[i] for t in r["reference_s"])
        first = r["first_s"][i]
        print(f"  {how}:")
        print(f"    first visitor after start {first:.2f} s; fresh browsers after: median {med:.2f} s "
              f"(min {min(later):.2f}, max {max(later):.2f}, n={len(later)})")
        print(f"    reference, a bare Leaflet page with the same polygons: median {ref:.2f} s -> ours is "
              f"{med / ref:.1f}x the floor")
        print(f"    target < 2 s: first visitor {'MET' if first < 2 else 'MISSED'}, "
              f"median {'MET' if med < 2 else 'MISSED'}, slowest {'MET' if max(later) < 2 else 'MISSED'}")
    for which in ("region", "national"):
        r = run_phase(__file__, "region", which)
        med = statistics.median
        print(f"\n[a {which}'s map: {r['wards']:,} wards, their geometry {r['geometry_bytes'] / 1e6:.2f} MB as "
              f"JSON, fetched as a file and kept by the browser]")
        print(f"  first paint, cold browser: median {med(r['cold_s']):.2f} s (max {max(r['cold_s']):.2f}); "
              f"reference, a bare Leaflet page with the same wards: {med(r['reference_cold_s']):.2f} s -> "
              f"{med(r['cold_s']) / med(r['reference_cold_s']):.1f}x the floor; target < 2 s: "
              f"{'MET' if med(r['cold_s']) < 2 else 'MISSED'}")
        print(f"  first paint, warm browser (its cache holds the files): median {med(r['warm_s']):.2f} s "
              f"(max {max(r['warm_s']):.2f}); target < 1 s: {'MET' if med(r['warm_s']) < 1 else 'MISSED'}; of "
              f"which Streamlit's page before the map (its heading shown): {med(r['shell_s']):.2f} s")
        print(f"  switching measure: median {med(r['switch_s']):.2f} s (max {max(r['switch_s']):.2f}); reference, "
              f"restyling every ward of the bare page: {med(r['reference_switch_s']):.2f} s; target < 1 s: "
              f"{'MET' if med(r['switch_s']) < 1 else 'MISSED'}")
    for which in ("city", "national"):
        p = run_phase(__file__, "payload", which)
        mb = p["payload_bytes"] / 1e6
        print(f"\n[map payload, {which} demo: {p['wards']:,} wards, {p['assets']:,} assets]")
        print(f"  the map page sends {mb:.2f} MB for its map (ward polygons with their values and tooltips, legend, "
              f"markers; page run {p['page_run_s']:.1f} s); reference: the wards' stored geometry alone as GeoJSON "
              f"is {p['full_geometry_bytes'] / 1e6:.2f} MB ({p['payload_bytes'] / p['full_geometry_bytes']:.2f}x); "
              f"target < 5 MB: {'MET' if mb < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
