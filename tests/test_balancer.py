"""A room through the balancer: `assetmap up --replicas 2` serves the dashboard as two Streamlit
replicas behind Debian's HAProxy. Four browsers (Debian's chromium) land on both replicas, each
keeps its replica (the sticky cookie rides every request and the websocket), no request fails,
every map paints; when one replica stops, its visitors reload onto the other."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from assetmap.db.store import Store
from assetmap.snapshots import publish
from pipelines.balancer import haproxy_config, haproxy_path
from tests.conftest import running_up
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, MAP_FRAME, shot

pytestmark = pytest.mark.slow


def test_the_haproxy_config_is_sticky_by_cookie_and_checks_health():
    cfg = haproxy_config("0.0.0.0", 8501, [41001, 41002])
    assert "cookie ASSETMAP_REPLICA insert indirect nocache httponly" in cfg
    assert "balance roundrobin" in cfg and "source" not in cfg  # a room behind one NAT still spreads
    assert "option httpchk GET /_stcore/health" in cfg and "option redispatch" in cfg
    assert "server r1 127.0.0.1:41001 check cookie r1" in cfg and "server r2 127.0.0.1:41002 check cookie r2" in cfg
    assert "bind 0.0.0.0:8501" in cfg and "timeout tunnel 1h" in cfg


@pytest.fixture
def browser():
    if not CHROMIUM.exists() or haproxy_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and haproxy are needed: .ci/run installs them")
        pytest.skip("chromium or haproxy is not installed (apt-get install chromium haproxy)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _visit(browser, url: str, failures: list[str]):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    pg.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    pg.goto(url)
    pg.frame_locator(MAP_FRAME).locator("path.leaflet-interactive").first.wait_for(timeout=90_000, state="attached")
    return ctx, pg


def _replica(ctx) -> str:
    return next(c["value"] for c in ctx.cookies() if c["name"] == "ASSETMAP_REPLICA")


def test_four_sessions_spread_over_two_replicas_stay_put_and_survive_one_stopping(tmp_path, _analysed_db, browser):
    with running_up(tmp_path, _analysed_db, "--replicas", "2") as up:
        assert "(2 replicas behind HAProxy)" in up["text"]
        with Store(up["db"]) as store:  # the analysed demo city, published (the pipeline is idle)
            publish(store, reason="for the room")
        url = up["dashboard"] + "/"
        failures: list[str] = []
        visits = [_visit(browser, url, failures) for _ in range(4)]
        where = [_replica(ctx) for ctx, _ in visits]
        assert sorted(set(where)) == ["r1", "r2"] and where.count("r1") == 2, where  # round robin, by cookie
        one_each = [where.index("r1"), where.index("r2")]
        for (ctx, pg), r in [(visits[i], where[i]) for i in one_each]:  # a reload keeps the replica: websocket
            pg.reload()  # and all (a session on each replica)
            pg.frame_locator(MAP_FRAME).locator("path.leaflet-interactive").first.wait_for(timeout=60_000,
                                                                                          state="attached")
            assert _replica(ctx) == r
        assert not failures, failures[:5]
        shot(visits[0][1], "09-through-haproxy")

        # the published sites' Open Referral UK API answers through the balancer too, as the
        # standard's Page, from the snapshot just published
        from assetmap import openreferral

        with urllib.request.urlopen(up["dashboard"] + "/openreferral/v3/services?per_page=5", timeout=30) as resp:
            listed = json.load(resp)
        assert openreferral._validators()["page3"].is_valid(listed) and listed["size"] == 5
        assert listed["total_items"] > 400

        # one replica stops: its visitors reload onto the other
        cfg = (up["home"] / "haproxy.cfg").read_text()
        port = int(re.search(r"server r1 127\.0\.0\.1:(\d+)", cfg).group(1))
        pid = next(c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port
                   and c.status == psutil.CONN_LISTEN)
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        time.sleep(5)  # two failed health checks at 2 s
        for (ctx, pg), r in zip(visits, where, strict=False):
            if r != "r1":
                continue
            pg.reload()
            pg.frame_locator(MAP_FRAME).locator("path.leaflet-interactive").first.wait_for(timeout=60_000,
                                                                                          state="attached")
            assert _replica(ctx) == "r2"
        for ctx, _ in visits:
            ctx.close()
        assert Path(up["home"] / "logs" / "haproxy.log").exists()
