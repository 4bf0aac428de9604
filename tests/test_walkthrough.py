"""README's "Your own place", by hand: the commands printed there, run literally on Cardiff from
../shared/geodata-sources (its boundaries, the national 2011 census file and a directory's warm
spaces through --map), then `assetmap up` serving it, and the map drawing Cardiff's wards in a
real browser."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, real_data
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, MAP_FRAME, shot

pytestmark = [pytest.mark.slow, pytest.mark.realdata, pytest.mark.concurrent,
              pytest.mark.xdist_group("walkthrough")]


def readme_commands() -> list[str]:
    """The shell lines of README's by-hand walkthrough, continuation lines joined."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"`tests/test_walkthrough\.py` runs it:\s*```sh\n(.*?)```", text, re.S).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_readme_walkthrough_loads_and_serves_cardiff(tmp_path):
    real_data("cardiff", "oa_2011.geojson")
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed")
    lines = readme_commands()
    assert lines[-1].startswith("assetmap up")
    home = tmp_path / "home"
    env = {**os.environ, "ASSETMAP_HOME": str(home), "ASSETMAP_INBOX": str(tmp_path / "inbox"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env.pop("ASSETMAP_DB", None)
    script = "set -euo pipefail\n" + "\n".join(lines[:-1]) + "\n"
    done = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert re.search(r"ingested .*oa_ethnic_group_2011_ew\.csv\.gz", done.stdout)
    assert "quarantined" in done.stdout  # the directory's venues outside Cardiff, with the reason

    # the last line serves it (ports chosen free: 4200 and 8501 may be taken on this machine)
    up = subprocess.Popen(["bash", "-c", lines[-1] + " --prefect-port 0 --dashboard-port 0"], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any("assetmap is up" in x for x in out):
            line = up.stdout.readline()
            if not line:
                break
            out.append(line)
        text = "".join(out)
        assert "assetmap is up" in text, text
        url = re.search(r"Dashboard:\s+(http://127\.0\.0\.1:\d+)", text).group(1)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(url + "/?layers=none")
            frame = page.frame_locator(MAP_FRAME)
            frame.locator("path.leaflet-interactive").first.wait_for(timeout=90_000, state="attached")
            time.sleep(0.5)
            assert frame.locator("path.leaflet-interactive").count() == 29  # Cardiff's 2013 wards
            shot(page, "10-walkthrough-cardiff")
            browser.close()
    finally:
        family = psutil.Process(up.pid).children(recursive=True)
        os.killpg(up.pid, 15)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
        for proc in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
