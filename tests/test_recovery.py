"""A pipeline that survives a killed process without a human (issue 25, item 1): the pipeline
worker and its flow run are killed with ``kill -9`` while the run writes a snapshot, `up` is
started again at once, and it comes up on its own: the writer slot the dead run held is freed,
the run is marked Crashed, the half-written snapshot files are gone, and the next file dropped
flows through to a snapshot."""

from __future__ import annotations

import signal
import time

import psutil
import pytest

from assetmap.db.store import Store
from assetmap.snapshots import VARIANTS, snapshot_dir
from pipelines.recovery import partial_snapshots
from tests.conftest import in_latest_snapshot, post_json, running_up, wait_for


def _drop(inbox, name: str, rows: list[str]) -> None:
    tmp = inbox / f".{name}.tmp"
    tmp.write_text("name,category,lat,lon,capacity\n" + "\n".join(rows) + "\n")
    tmp.rename(inbox / name)


def _pipeline_processes(up_proc) -> list[psutil.Process]:
    """`up`'s pipeline worker and the flow runs' processes it started (killed together, as the
    kernel's OOM killer or a power cut would, nobody is left to mark the run Crashed)."""
    family = psutil.Process(up_proc.pid).children(recursive=True)
    workers = [p for p in family if "pipelines.deployments" in " ".join(p.cmdline())]
    return [*workers, *(c for w in workers for c in w.children(recursive=True))]


def _states(api: str, run_id: str) -> list[dict]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{api}/flow_run_states/?flow_run_id={run_id}", timeout=10) as r:
        return json.loads(r.read())


def _in_snapshot(db, name: str) -> int:
    rows = in_latest_snapshot(db, "SELECT count(*) FROM assets WHERE name = ?", [name])
    return 0 if rows is None else rows[0][0]


@pytest.mark.slow
def test_a_flow_killed_while_it_publishes_and_up_restarted_at_once_recovers_on_its_own(tmp_path, _analysed_db):
    t0 = time.monotonic()
    with running_up(tmp_path, _analysed_db, "--no-dashboard") as up:
        first_start = time.monotonic() - t0
        db, inbox = up["db"], up["inbox"]
        partner = snapshot_dir(db, "partner")
        _drop(inbox, "killed_mid_publish.csv", ["Killed mid-publish ESOL,esol_provider,52.7800,-1.2500,20"])
        # the moment the partner snapshot is being written: its hidden .tmp file is there
        killed = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            if list(partner.glob(".*.tmp")):
                for proc in _pipeline_processes(up["proc"]):
                    proc.send_signal(signal.SIGKILL)
                    killed.append(proc.pid)
            time.sleep(0.005)
        assert killed, "no publication was seen to start"
        time.sleep(1.0)
        left = partial_snapshots(db)
        assert left, "the kill came after the publication finished: nothing half-written to recover from"
        if up["proc"].poll() is None:  # `up` stops when its worker dies; else stop it as a user would
            up["proc"].send_signal(signal.SIGTERM)
        up["proc"].wait(timeout=60)
    with Store(db) as s:  # the ingest itself committed before the publication was killed
        assert s.scalar("SELECT count(*) FROM assets WHERE name = 'Killed mid-publish ESOL'") == 1

    t1 = time.monotonic()
    with running_up(tmp_path, _analysed_db, "--no-dashboard") as again:
        restart = time.monotonic() - t1
        text = again["text"]
        assert "Recovered:" in text and "freed the store's writer limit" in text, text
        assert "as Crashed" in text and "half-written snapshot file" in text, text
        assert not partial_snapshots(db) and not [p for v in VARIANTS for p in snapshot_dir(db, v).glob(".*")]
        # the killed run was marked Crashed (and, being safe to repeat, may be retried already)
        runs = post_json(again["api"] + "/flow_runs/filter", {"limit": 50})
        history = [st for r in runs for st in _states(again["api"], r["id"])]
        assert any(st["type"] == "CRASHED" and "assetmap up started again" in (st["message"] or "")
                   for st in history), [(st["name"], st["message"]) for st in history]
        # it is as quick as the first start (which made Prefect's database: slower, if anything)
        assert restart < first_start + 10, (restart, first_start)
        # and the store takes writes: the next file flows through to a snapshot, with the first
        _drop(again["inbox"], "after_restart.csv", ["After restart ESOL,esol_provider,52.7810,-1.2510,15"])
        wait_for(lambda: _in_snapshot(db, "After restart ESOL") == 1, 60, "the next file in a snapshot")
        assert _in_snapshot(db, "Killed mid-publish ESOL") == 1
    print(f"\nrecovery: killed {len(killed)} pipeline process(es) mid-publish leaving {len(left)} half-written "
          f"file(s); first start {first_start:.1f} s, restart {restart:.1f} s")


def test_half_written_snapshot_files_are_removed_only_while_no_one_else_has_the_store(analysed_store):
    """What a killed publication leaves (the hidden copy and its log) goes when `up` starts, but
    never while another process has the store open (a publication may be under way)."""
    import subprocess
    import sys

    from pipelines.recovery import remove_partial_snapshots

    db = analysed_store.path
    analysed_store.close()
    partner = snapshot_dir(db, "partner")
    partner.mkdir(parents=True, exist_ok=True)
    halves = [partner / ".20260101T000000Z.tmp", partner / ".20260101T000000Z.tmp.wal"]
    for p in halves:
        p.write_bytes(b"half")
    kept = partner / "20251231T000000Z.duckdb"
    kept.write_bytes(b"a whole snapshot")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from assetmap.db.store import Store; "
                               f"s = Store({str(db)!r}); print('open', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert remove_partial_snapshots(db) == [] and all(p.exists() for p in halves)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(remove_partial_snapshots(db)) == sorted(halves)
    assert not any(p.exists() for p in halves) and kept.exists()

