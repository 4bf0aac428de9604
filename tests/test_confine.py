"""Separation below the application: a public replica's own process cannot open the working store
or the partner snapshots, because the kernel (Landlock) refuses it, whatever a page might try.

Each confinement runs in a child process: the rules, once applied, hold for good. The real
replica, started as the deployment guide says, is checked in tests/test_serve.py; every browser
test of the public dashboard runs against a confined replica (tests/test_dashboard_browser.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assetmap import confine
from assetmap.settings import settings
from dashboards import serve
from pipelines.processes import free_port
from tests.conftest import REPO

needs_landlock = pytest.mark.skipif(not confine.available(), reason="this kernel has no Landlock")


def _home(tmp_path: Path) -> Path:
    """A home as `up` leaves it: the working store, both variants' snapshots, an inbox."""
    home = tmp_path / "home"
    for sub in ("snapshots/public", "snapshots/partner", "inbox/submissions"):
        (home / sub).mkdir(parents=True)
    (home / "assetmap.duckdb").write_text("working store")
    (home / "assetmap.duckdb.wal").write_text("its log")
    for variant in ("public", "partner"):
        (home / "snapshots" / variant / "20260101T000000Z.duckdb").write_text(f"{variant} snapshot")
        (home / "snapshots" / variant / "LATEST").write_text("20260101T000000Z.duckdb")
    (home / "inbox" / "partner_sites.csv").write_text("a provider file waiting in the inbox")
    (home / "inbox" / "submissions" / "someone_else.json").write_text('{"name": "their suggestion"}')
    (home / "cookie_secret").write_text("the replicas' shared secret")
    return home


PROBE = textwrap.dedent("""
    import json, os, socket, sys
    from pathlib import Path
    from assetmap.confine import confine_public_replica
    home = Path(sys.argv[1])
    said = confine_public_replica(home / "assetmap.duckdb", home / "snapshots/public", home / "inbox",
                                  int(sys.argv[2]), mode="on")
    def opens(p):
        try:
            with open(p, "rb") as fh:
                fh.read(1)
            return True
        except PermissionError:
            return False
    out = {"said": said, "opens": {}}
    for rel in ("assetmap.duckdb", "assetmap.duckdb.wal", "snapshots/partner/LATEST",
                "snapshots/partner/20260101T000000Z.duckdb", "snapshots/public/LATEST",
                "snapshots/public/20260101T000000Z.duckdb", "inbox/partner_sites.csv",
                "inbox/submissions/someone_else.json", "cookie_secret"):
        out["opens"][rel] = opens(home / rel)
    out["opens"]["another process's environment"] = opens(f"/proc/{os.getppid()}/environ")
    try:
        os.listdir(home / "snapshots/partner")
        out["lists_partner"] = True
    except PermissionError:
        out["lists_partner"] = False
    mine = home / "inbox/submissions/mine.json"
    mine.write_text('{"name": "a suggestion"}')
    out["submits"] = mine.exists()
    try:
        (home / "assetmap.duckdb").write_text("overwritten")
        out["writes_store"] = True
    except PermissionError:
        out["writes_store"] = False
    import tempfile
    with tempfile.NamedTemporaryFile() as fh:
        out["tmp"] = fh.name
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(sys.argv[3])))
        out["calls_out"] = True
    except PermissionError:
        out["calls_out"] = False
    from assetmap.db.store import connect  # DuckDB and its spatial extension still load
    out["duckdb"] = connect(None).execute("SELECT ST_AsText(ST_Point(1, 2))").fetchone()[0]
    print(json.dumps(out))
""")


@needs_landlock
def test_a_confined_process_reads_the_public_snapshots_and_nothing_of_the_partners(tmp_path):
    home = _home(tmp_path)
    other = free_port(0)
    env = {**os.environ, "ASSETMAP_RUNTIME_DIR": str(home / "run" / "r1")}
    done = subprocess.run([sys.executable, "-c", PROBE, str(home), str(free_port(0)), str(other)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["said"].startswith("confined to the public snapshots")
    assert "assetmap.duckdb" in out["said"] and "LATEST" in out["said"]  # what it checked itself
    opens = out["opens"]
    assert opens.pop("snapshots/public/LATEST") and opens.pop("snapshots/public/20260101T000000Z.duckdb")
    assert opens == dict.fromkeys(opens, False), opens  # everything else refused by the kernel
    assert out["lists_partner"] is False and out["writes_store"] is False
    assert out["submits"] is True  # the Suggest page still drops its file
    assert out["tmp"].startswith(str(home / "run" / "r1"))
    assert out["calls_out"] is False
    assert out["duckdb"] == "POINT (1 2)"
    # the files are as they were
    assert (home / "assetmap.duckdb").read_text() == "working store"


def test_a_replica_that_serves_partners_or_moderators_is_not_confined_and_on_refuses(monkeypatch):
    monkeypatch.setattr(settings, "moderator_secret", "s3cret")
    assert serve.confine([]) == "not confined: this replica also serves moderators (ASSETMAP_MODERATOR_SECRET)"
    monkeypatch.setattr(settings, "moderator_secret", "")
    monkeypatch.setattr(settings, "dashboard_mode", "partner")
    monkeypatch.setattr(settings, "confine", "on")
    with pytest.raises(confine.ConfinementError, match="serve the public from replicas of their own"):
        serve.confine([])


def test_confine_off_is_said_and_a_bad_value_is_refused(monkeypatch):
    assert confine.confine_public_replica(Path("x.duckdb"), Path("p"), None, None, mode="off").startswith(
        "not confined (ASSETMAP_CONFINE=off)")
    monkeypatch.setenv("ASSETMAP_CONFINE", "maybe")
    with pytest.raises(ValueError, match="ASSETMAP_CONFINE must be auto, on or off"):
        type(settings)()


@needs_landlock
def test_a_rule_that_leaves_the_store_open_stops_the_replica(tmp_path):
    """Fail closed: if the rules ever let the working store through, the replica will not serve."""
    home = _home(tmp_path)
    code = textwrap.dedent(f"""
        from pathlib import Path
        from assetmap.confine import ConfinementError, Plan, apply
        home = Path({str(home)!r})
        try:
            apply(Plan(read=[home], denied=[home / "assetmap.duckdb"]))
        except ConfinementError as exc:
            print("refused:", exc)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "refused: confined, yet" in done.stdout and "assetmap.duckdb" in done.stdout, done.stdout + done.stderr
