"""End to end with real components: `assetmap up` starts a Prefect server on 127.0.0.1, the
pipeline worker, the inbox watcher and the dashboard; files dropped into the inbox flow through
event-triggered deployments into the store and a new snapshot; SIGTERM stops everything."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from assetmap.db.store import DATA_TABLES, Store
from assetmap.snapshots import list_snapshots, open_snapshot
from tests.conftest import digest, in_latest_snapshot, post_json, wait_for

pytestmark = pytest.mark.slow

BOUND_INGEST_S = 30  # drop -> completed flow run, assets in a published snapshot
BOUND_RECOMPUTE_S = 45  # drop -> the recomputed snapshot


def _snapshot_query(db: Path, sql: str, params=None):
    return in_latest_snapshot(db, sql, params or [])


def _file_received_actions(api: str) -> int:
    """How many times the server acted on an ``assetmap.file.received`` event (each starts a run)."""
    found = post_json(api + "/events/filter", {"filter": {"event": {"name": ["prefect.automation.action.executed"]}},
                                               "limit": 50})
    return sum(1 for e in found["events"] if e["resource"].get("prefect.resource.name") == "file received")


def test_a_dropped_file_flows_through_to_a_snapshot_and_up_stops_cleanly(up):
    api, db, inbox = up["api"], up["db"], up["inbox"]
    # a second watcher on the same inbox, in a process of its own, as on a second machine sharing
    # it (the deployment guide has each store machine watch): each file still makes one run
    import os
    import subprocess
    import sys

    watcher = subprocess.Popen(
        [sys.executable, "-c", "import logging, time; logging.basicConfig(level=logging.INFO); "
         "from assetmap.settings import settings; from pipelines.deployments import emit_file_received; "
         "from pipelines.inbox import InboxWatcher; w = InboxWatcher(settings.inbox_dir, emit_file_received); "
         "w.start(); time.sleep(600)"],
        env={**os.environ, "PREFECT_API_URL": api, "ASSETMAP_INBOX": str(inbox), "ASSETMAP_DB": str(db)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (inbox / "submissions").exists(), 30, "the second watcher started")
        time.sleep(3)  # it is watching (its imports take a moment after it made the folders)
        before, t_ingest, t_recompute = _flow_through(up, api, db, inbox)
    finally:
        watcher.terminate()
        said = watcher.communicate(timeout=30)[1]
    # both watchers handed on both files; the server acted once on each
    assert said.count("file received: council_esol_update.csv") == 1, said
    assert said.count("file received: garbage.csv") == 1, said
    wait_for(lambda: _file_received_actions(api) >= 2, 20, "the server's actions on the files")
    time.sleep(2)  # a second action, were there one, would be here by now
    assert _file_received_actions(api) == 2

    # -- SIGTERM stops every process that up started -------------------------------------------
    proc = up["proc"]
    family = psutil.Process(proc.pid).children(recursive=True)
    assert len(family) >= 3  # server, worker, dashboard (and their own children)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    time.sleep(0.5)
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [(p.pid, p.name()) for p in alive]
    with Store(db) as s:  # the working store is free again, and the garbage left no data behind
        assert digest(s, DATA_TABLES) == before
        assert s.scalar("SELECT status FROM ingests ORDER BY ingest_id DESC LIMIT 1") == "refused"
    print(f"\nlive pipeline: drop -> snapshot with the assets {t_ingest:.1f} s; "
          f"-> recomputed snapshot {t_recompute:.1f} s")


def _flow_through(up, api, db, inbox) -> tuple[dict, float, float]:
    with urllib.request.urlopen(api + "/health", timeout=5) as r:
        assert r.status == 200
    with urllib.request.urlopen(up["dashboard"] + "/_stcore/health", timeout=5) as r:
        assert r.status == 200
    assert urllib.request.urlopen(api + "/health").geturl().startswith("http://127.0.0.1:")

    # -- a provider list arrives -------------------------------------------------------------
    drop = inbox / "council_esol_update.csv"
    tmp = inbox / ".council_esol_update.csv.tmp"
    tmp.write_text("name,category,lat,lon,capacity\n"
                   "Live test ESOL one,esol_provider,52.7800,-1.2500,20\n"
                   "Live test ESOL two,esol_provider,52.7900,-1.2600,15\n")
    t0 = time.monotonic()
    tmp.rename(drop)  # written elsewhere, then moved in whole
    rows = wait_for(lambda: (_snapshot_query(db, "SELECT count(*) FROM assets WHERE name LIKE 'Live test ESOL%'")
                          or [[0]])[0][0] == 2, BOUND_INGEST_S, "the assets in a published snapshot")
    t_ingest = time.monotonic() - t0
    runs = wait_for(lambda: [r for r in post_json(api + "/flow_runs/filter", {"limit": 50})
                          if r["parameters"].get("path", "").endswith("council_esol_update.csv")
                          and r["state_type"] == "COMPLETED"], BOUND_INGEST_S, "a completed ingest_file flow run")
    assert len(runs) == 1
    assert rows
    processed = list((inbox / "processed").glob("*council_esol_update.csv"))
    assert len(processed) == 1 and not drop.exists()
    report = json.loads(processed[0].with_name(processed[0].name + ".report.json").read_text())
    assert report["status"] == "completed" and report["rows_accepted"] == 2

    # -- the batch recomputed what the new classes reach before its one publish; the recompute
    # -- that assets.changed triggers finds that done and publishes nothing more ---------------
    snaps = list_snapshots(db)
    assert "incremental recompute" in (snaps[0].get("reason") or ""), snaps[0]
    t_recompute = time.monotonic() - t0
    recompute_runs = wait_for(lambda: [r for r in post_json(api + "/flow_runs/filter", {"limit": 50})
                                    if "wards" in r["parameters"] and r["state_type"] == "COMPLETED"],
                           BOUND_RECOMPUTE_S, "a completed recompute flow run")
    assert json.loads(recompute_runs[0]["parameters"]["wards"]) == report["affected_wards"]
    assert str(recompute_runs[0]["parameters"]["after_ingest"]) == str(report["ingest_id"])
    assert list_snapshots(db)[0]["snapshot_id"] == snaps[0]["snapshot_id"]  # skipped: no second publish
    names = [r[0] for r in _snapshot_query(
        db, "SELECT name FROM events WHERE occurred_at >= (SELECT max(occurred_at) FROM events "
            "WHERE name = 'assetmap.file.received') ORDER BY occurred_at")]
    # (a snapshot is copied before its own publish event is recorded, so it ends here)
    assert names == ["assetmap.file.received", "assetmap.ingest.completed", "assetmap.assets.changed"], names
    gap_rows = _snapshot_query(db, "SELECT count(*) FROM unit_gaps WHERE computed_at > "
                                   "(SELECT max(occurred_at) FROM events WHERE name = 'assetmap.ingest.completed')")
    assert gap_rows[0][0] > 0  # the wards the new classes reach were recomputed

    # -- a malformed file is rejected with a report and changes nothing ------------------------
    con = open_snapshot(db)
    before = digest(Store.over(con, db), DATA_TABLES)
    con.close()
    bad = inbox / "garbage.csv"
    bad.write_text("\x00\x01binary junk\x02" * 20)
    rejected = wait_for(lambda: list((inbox / "rejected").glob("*garbage.csv")), BOUND_INGEST_S, "garbage rejected")
    report = json.loads(rejected[0].with_name(rejected[0].name + ".report.json").read_text())
    assert report["status"] == "refused" and report["reason_code"] == "binary_file"

    return before, t_ingest, t_recompute
