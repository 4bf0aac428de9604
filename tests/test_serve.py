"""How the dashboard is served: the options it always takes, whoever starts it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dashboards.serve import private
from pipelines.processes import free_port, wait_file, wait_http
from tests.conftest import REPO
from tests.servers import start, stop


def test_a_replica_takes_the_replica_options_unless_its_command_line_gives_them():
    from dashboards.serve import REPLICA_OPTIONS, with_replica_options

    got = with_replica_options(["--server.port", "9", "--client.toolbarMode=viewer"])
    assert got[:3] == ["--server.port", "9", "--client.toolbarMode=viewer"]
    added = dict(zip(got[3::2], got[4::2], strict=True))
    assert added == {k: v for k, v in REPLICA_OPTIONS.items() if k != "--client.toolbarMode"}
    assert added["--server.enableStaticServing"] == "true" and added["--server.headless"] == "true"


@pytest.mark.parametrize(("args", "kept"), [
    ([], []), (["--server.port", "9"], ["--server.port", "9"]), (["--browser.gatherUsageStats", "true"], []),
    (["--browser.gatherUsageStats=true", "--server.headless", "true"], ["--server.headless", "true"])])
def test_usage_statistics_are_off_whatever_the_options_say(args, kept):
    assert private(args) == [*kept, "--browser.gatherUsageStats", "false"]


@pytest.mark.slow
def test_a_replica_started_as_the_deployment_guide_says_collects_no_usage_statistics(analysed_store, tmp_path):
    """docs/deploy.md: `python -m dashboards.serve --server.address ... --server.port ...` and
    nothing else: Streamlit would say "Collecting usage statistics" (and send them) by default.
    A public replica started so also confines itself (``ASSETMAP_CONFINE=on``, as the guide
    says): its own process cannot open the working store or the partner snapshot, which it
    checks and logs, and it serves all the same."""
    from assetmap import confine
    from assetmap.snapshots import publish, snapshot_dir

    partner = Path(publish(analysed_store, reason="for the replica").path)
    analysed_store.close()
    home = tmp_path / "home"
    home.mkdir()
    port = free_port(8700)
    ready = home / "ready"
    env = {**os.environ, "ASSETMAP_HOME": str(home), "ASSETMAP_DB": str(analysed_store.path),
           "ASSETMAP_DASHBOARD_READY": str(ready), "ASSETMAP_MODE": "public",
           "ASSETMAP_INBOX": str(tmp_path / "inbox"), "ASSETMAP_RUNTIME_DIR": str(home / "run"),
           "ASSETMAP_CONFINE": "on" if confine.available() else "auto"}
    for var in ("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "ASSETMAP_MODERATOR_SECRET", "ASSETMAP_OIDC_METADATA_URL"):
        env.pop(var, None)
    log = tmp_path / "serve.log"
    proc = start([sys.executable, "-m", "dashboards.serve", "--server.address", "127.0.0.1", "--server.port",
                  str(port)], log, env, REPO)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 120, proc)
        wait_file(ready, 120, proc)
        # the guide's two options are enough: the server serves the map scripts (static serving on)
        wait_http(f"http://127.0.0.1:{port}/app/static/vendor/leaflet/dist/leaflet.js", 10, proc)
    finally:
        stop(proc)
    text = log.read_text(errors="replace")
    assert "You can now view your Streamlit app" in text or "URL" in text, text[-2000:]
    assert "usage statistics" not in text.lower()
    if confine.available():
        line = next(ln for ln in text.splitlines() if "confined to the public snapshots" in ln)
        assert f"checked: {analysed_store.path.name}, LATEST, {partner.name}" in line, line
        assert partner.parent == snapshot_dir(analysed_store.path, "partner")
        assert "Traceback" not in text and "Permission denied" not in text, text[-3000:]
