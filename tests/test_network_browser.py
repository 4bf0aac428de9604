"""Newport's real streets in a real browser: the map of walking minutes, the profile's two
distances and a provider's walking area, served by Streamlit from a published snapshot."""

from __future__ import annotations

import gzip
import json
import os
import re
import time

import pytest

from assetmap.analysis import recompute
from assetmap.db.store import Store
from assetmap.ingest import ingest_file
from assetmap.snapshots import publish
from tests.conftest import real_data
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, MAP_FRAME, served, shot

pytestmark = [pytest.mark.slow, pytest.mark.realdata, pytest.mark.concurrent,
              pytest.mark.xdist_group("network_browser")]


@pytest.fixture(scope="module")
def newport(tmp_path_factory):
    home = tmp_path_factory.mktemp("newport")
    # Newport's rows of the national census file (the whole file costs 10 s to ingest here)
    areas = json.loads(real_data("newport", "oa_2011.geojson").read_text())["features"]
    oas = {f["properties"]["OA11CD"] for f in areas}
    with gzip.open(real_data("census2011", "oa_ethnic_group_2011_ew.csv.gz"), "rt", newline="") as fh:
        header = fh.readline()
        rows = [line for line in fh if line.split(",", 1)[0].strip('"') in oas]
    assert len(rows) == len(oas)
    census = home / "newport_ethnic_group_2011.csv"
    census.write_text(header + "".join(rows))
    with Store(home / "assetmap.duckdb") as store:
        for path in (real_data("newport", "wards_2013.geojson"), real_data("newport", "oa_2011.geojson"), census,
                     real_data("newport-network", "newport-2023-06-13.osm.pbf")):
            assert ingest_file(store, path).status == "completed"
        recompute(store)
        publish(store, reason="Newport on foot")
        # a central ward, well inside the extract, and its walk to the nearest place of worship
        ward, name, crow, walk, minutes = store.con.execute(
            """SELECT u.unit_code, a.name, u.crow_m, u.nearest_m, u.nearest_min FROM unit_access u
               JOIN areas a ON a.code = u.unit_code AND a.level = 'ward'
               WHERE u.category = 'place_of_worship' AND u.access_mode = 'network'
               ORDER BY u.nearest_m / u.crow_m DESC LIMIT 1""").fetchone()
    return home, ward, name, crow, walk, minutes


@pytest.fixture(scope="module")
def server(newport):
    with served(newport[0], 8750) as url:
        yield url


def test_newport_maps_walking_minutes_and_the_profile_says_both_distances(server, newport):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed")
    _, ward, name, crow, walk, minutes = newport
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        page.goto(server + f"?measure=access&field=nearest_min&category=place_of_worship&layers=place_of_worship"
                           f"&ward={ward}")
        frame = page.frame_locator(MAP_FRAME)
        frame.locator("path.leaflet-interactive").first.wait_for(timeout=90_000, state="attached")
        page.get_by_text("Walking minutes to the nearest").first.wait_for(timeout=30_000)
        assert frame.locator("path.leaflet-interactive").count() == 20  # Newport's 2013 wards
        legend = frame.locator(".leaflet-bottom.leaflet-right").first.inner_text(timeout=30_000)
        assert "Walking minutes" in legend
        # the profile of the ward where the walk is longest against the line
        page.get_by_text(f"Ward profile: {name} ({ward})").first.wait_for(timeout=60_000)
        page.get_by_text("Nearest place of worship:").first.wait_for(timeout=60_000)
        body = page.locator("body").inner_text()
        line = next(x for x in body.splitlines() if x.startswith("Nearest place of worship:"))
        assert "as the crow flies" in line and "on foot" in line and f"({minutes:.0f} minutes' walk)" in line
        assert re.search(r"\d[\d.,]* k?m as the crow flies, \d[\d.,]* k?m on foot", line)
        assert walk > crow
        assert "Distances are walks along the street network" in body
        shot(page, "20-newport-walking-minutes")
        # a provider's walking area
        walk = page.locator("[data-testid='stExpander']").filter(has_text="Walking area around a provider")
        walk.locator("summary").click()
        box = walk.get_by_role("combobox")
        caption = page.get_by_text("Streets within 10 minutes' walk")
        for _ in range(4):  # a rerun of the page (the map reporting its view) may close the list: again
            try:
                box.click()
                page.get_by_role("option").first.wait_for(timeout=5_000)
                page.get_by_role("option").first.click()
                caption.wait_for(timeout=15_000)
                break
            except Exception:  # noqa: S112 (try again, then fail below)
                continue
        caption.wait_for(timeout=20_000)
        assert walk.locator("iframe").count() == 1  # the walking area's own map
        time.sleep(1.0)
        shot(page, "21-newport-walking-area")
        assert all(u.startswith(("http://127.0.0.1", "data:", "blob:", "about:")) for u in seen), \
            [u for u in seen if not u.startswith(("http://127.0.0.1", "data:", "blob:", "about:"))][:5]
        browser.close()
