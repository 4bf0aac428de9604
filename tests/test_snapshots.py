"""Snapshots readers never wait for, the writer's lock, submissions, and crash safety."""

from __future__ import annotations

import contextlib
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from assetmap import events
from assetmap.cli import main
from assetmap.db.store import DATA_TABLES, Store, StoreBusy
from assetmap.ingest import ingest_file
from assetmap.settings import settings
from assetmap.snapshots import list_snapshots, open_snapshot, publish
from assetmap.submissions import SubmissionError, approve, reject, submit
from tests.conftest import digest

PY = sys.executable


def _hold_lock(db: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the working store open for writing."""
    code = textwrap.dedent(f"""
        import sys, time
        from assetmap.db.store import Store
        s = Store({str(db)!r})
        print("locked", flush=True)
        time.sleep({seconds})
        s.close()
    """)
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@contextlib.contextmanager
def _busy(store: Store):
    """The store published once, then held open for writing by another process."""
    publish(store, reason="before")
    db = store.path
    store.close()
    holder = _hold_lock(db, 30)
    try:
        yield db
    finally:
        holder.kill()
        holder.wait()


def test_publish_writes_a_read_only_copy_and_an_atomic_pointer(full_store, monkeypatch):
    monkeypatch.setattr(settings, "keep_snapshots", 3)
    snaps = [publish(full_store, reason=f"n{i}") for i in range(5)]
    for variant in ("partner", "public"):
        kept = list_snapshots(full_store.path, variant)
        assert [k["snapshot_id"] for k in kept] == [s.snapshot_id for s in reversed(snaps[-3:])]
        assert kept[0]["latest"] and not any(k["latest"] for k in kept[1:])
        assert all(k["variant"] == variant and Path(k["path"]).parent.name == variant for k in kept)
    assert len(list_snapshots(full_store.path)) == 6  # both variants, each with its path
    con = open_snapshot(full_store.path)
    try:
        assert con.execute("SELECT count(*) FROM assets").fetchone()[0] == \
            full_store.scalar("SELECT count(*) FROM assets")
        with pytest.raises(Exception, match="read-only"):
            con.execute("DELETE FROM assets")
    finally:
        con.close()
    names = [json.loads(p)["snapshot_id"] for (p,) in full_store.con.execute(
        "SELECT payload FROM events WHERE name = ? ORDER BY occurred_at", [events.SNAPSHOT_PUBLISHED]).fetchall()]
    assert names == [s.snapshot_id for s in snaps]


def test_status_works_while_another_process_writes(full_store, capsys):
    with _busy(full_store) as db:
        t = time.monotonic()
        assert main(["--db", str(db), "status", "--json"]) == 0
        assert time.monotonic() - t < 10  # never waits for the writer
        status = json.loads(capsys.readouterr().out)
        assert status["source"].startswith("latest snapshot")
        assert status["tables"]["assets"] > 500 and len(status["snapshots"]) == 2  # public and partner


def test_a_writer_waits_its_turn_then_fails_clearly(tmp_path, monkeypatch):
    db = tmp_path / "s.duckdb"
    Store(db).close()
    holder = _hold_lock(db, 1.5)
    t = time.monotonic()
    with Store(db) as s:  # waits for the holder to let go
        assert time.monotonic() - t > 0.5 and s.scalar("SELECT 1") == 1
    holder.wait()
    holder = _hold_lock(db, 30)
    monkeypatch.setattr(settings, "lock_wait_s", 0.5)
    try:
        with pytest.raises(StoreBusy, match="in use by another process"):
            Store(db)
    finally:
        holder.kill()
        holder.wait()


def test_submissions_stay_pending_and_unpublished_until_approved(full_store, capsys):
    payload = {"name": "Tuesday ESOL at the library", "category": "esol_provider",
               "lat": 52.78, "lon": -1.25, "capacity": 12, "submitted_by": "organiser@example.org"}
    sid = submit(full_store, payload)
    assert submit(full_store, dict(payload)) == sid  # the same submission twice is one
    bad = submit(full_store, {"name": "Nowhere", "category": "esol_provider", "lat": 10, "lon": 10})
    with pytest.raises(SubmissionError):
        submit(full_store, {"name": "x", "category": "pub"})
    with pytest.raises(SubmissionError, match="unknown field"):
        submit(full_store, {"name": "x", "category": "esol_provider", "evil": "<script>"})
    snap = publish(full_store)
    con = open_snapshot(full_store.path, snap.snapshot_id)
    try:
        assert con.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
    finally:
        con.close()
    n_assets = full_store.scalar("SELECT count(*) FROM assets")
    n_ingests = full_store.scalar("SELECT count(*) FROM ingests")
    d = approve(full_store, sid, publish=False)
    r = d.ingest
    assert r.rows_accepted == 1 and r.affected_wards and d.snapshot_id is None
    assert d.recomputed_units >= len(r.affected_wards)  # the gaps are never left stale
    assert full_store.scalar("SELECT count(*) FROM ingests") == n_ingests + 1
    row = full_store.con.execute("SELECT status, asset_id FROM submissions WHERE submission_id = ?", [sid]).fetchone()
    assert row[0] == "approved" and full_store.scalar("SELECT name FROM assets WHERE asset_id = ?", [row[1]]) \
        == payload["name"]
    assert full_store.scalar("SELECT count(*) FROM assets") == n_assets + 1
    changed = full_store.con.execute(
        "SELECT payload FROM events WHERE name = ? ORDER BY occurred_at DESC LIMIT 1",
        [events.ASSETS_CHANGED]).fetchone()
    assert json.loads(changed[0])["ward_codes"] == r.affected_wards
    with pytest.raises(SubmissionError, match="already approved"):
        approve(full_store, sid)
    before = digest(full_store, tables=("assets", "ingests", "quarantine", "events", "submissions"))
    with pytest.raises(SubmissionError, match=r"does not pass validation.*not in the United Kingdom"):
        approve(full_store, bad)  # outside the UK: stays pending for the moderator
    assert digest(full_store, tables=("assets", "ingests", "quarantine", "events", "submissions")) == before
    with pytest.raises(SubmissionError, match="needs a reason"):
        reject(full_store, bad, " ")
    reject(full_store, bad, "not in our area")
    snap = publish(full_store)
    con = open_snapshot(full_store.path, snap.snapshot_id)
    try:
        rows = con.execute("SELECT submission_id, status FROM submissions").fetchall()
        assert rows == [(sid, "approved")]
        assert "organiser@example.org" not in json.dumps(
            con.execute("SELECT * FROM assets WHERE source = 'community_submissions'").df().to_dict(), default=str)
    finally:
        con.close()
    db = str(full_store.path)
    full_store.close()
    assert main(["--db", db, "submissions", "--status", "all", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in listed} == {"approved", "rejected"}


def test_approving_from_the_cli_recomputes_and_publishes_as_the_dashboard_does(analysed_store, capsys):
    """One path: the CLI's approve leaves neither stale gaps nor an unpublished asset."""
    sid = submit(analysed_store, {"name": "Thursday conversation club", "category": "esol_provider",
                                  "lat": 52.78, "lon": -1.25, "capacity": 40})
    db = str(analysed_store.path)
    analysed_store.close()
    assert main(["approve", sid, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "units recomputed" in out and "published snapshot" in out
    with Store(db, read_only=True) as store:
        asset, ward = store.con.execute(
            "SELECT asset_id, ward_code FROM assets WHERE source_record_id = ?", [sid]).fetchone()
        counted = store.scalar("SELECT assets_in_unit FROM unit_access WHERE unit_level = 'ward' AND unit_code = ? "
                               "AND category = 'esol_provider'", [ward])
        assert counted == store.scalar("SELECT count(*) FROM assets WHERE ward_code = ? "
                                       "AND category = 'esol_provider'", [ward])
    snap = open_snapshot(db)
    try:
        assert snap.execute("SELECT count(*) FROM assets WHERE asset_id = ?", [asset]).fetchone()[0] == 1
    finally:
        snap.close()


INGESTS = 8


def test_eight_ingests_while_another_process_reads_snapshots(full_store, tmp_path, monkeypatch):
    """A reader querying the latest snapshot in a loop never fails while the writer publishes.

    With three snapshots kept, eight publications prune old ones under the reader six times
    (twenty publications took 86 s of a suite with a 20-minute budget)."""
    monkeypatch.setattr(settings, "keep_snapshots", 3)
    publish(full_store, reason="start")
    stop = tmp_path / "stop"
    code = textwrap.dedent(f"""
        import json, time
        from pathlib import Path
        from assetmap.snapshots import open_snapshot
        ok = failed = 0
        errors = []
        while not Path({str(stop)!r}).exists():
            try:
                con = open_snapshot({str(full_store.path)!r})
                con.execute("SELECT count(*) FROM assets").fetchone()
                con.close()
                ok += 1
            except Exception as exc:
                failed += 1
                errors.append(repr(exc))
            time.sleep(0.1)  # a busy dashboard, not a spin that takes a whole core from the writer
        print(json.dumps({{"ok": ok, "failed": failed, "errors": errors[:3]}}))
    """)
    reader = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    before = full_store.scalar("SELECT count(*) FROM assets")
    try:
        for i in range(INGESTS):
            f = tmp_path / f"drop_{i:02d}.csv"
            f.write_text(f"name,category,lat,lon\nClass {i},esol_provider,{52.75 + i * 0.003:.4f},-1.25\n")
            r = ingest_file(full_store, f)
            assert r.status == "completed"
            publish(full_store, reason=f"ingest {i}")
    finally:
        stop.write_text("stop")
        out = json.loads(reader.communicate(timeout=60)[0])
    assert out["failed"] == 0, out["errors"]
    assert out["ok"] > 2 * INGESTS
    con = open_snapshot(full_store.path)
    try:
        assert con.execute("SELECT count(*) FROM assets").fetchone()[0] == before + INGESTS
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.concurrent
@pytest.mark.xdist_group("kill9")
def test_kill_9_at_twelve_random_moments_leaves_a_consistent_store(tmp_path, _base_db, demo_dir):
    """An ingest killed at random moments leaves a store that opens, is consistent, and
    completes the same ingest on rerun with no duplicates."""
    files = [demo_dir / "census/ts021_ethnic_group_2021.csv", demo_dir / "assets/esol_providers.csv",
             demo_dir / "assets/osm_places.json"]
    reference = tmp_path / "reference.duckdb"
    shutil.copy(_base_db, reference)
    cli = Path(sys.executable).with_name("assetmap")
    # the same command left alone: what it stores, and how long it takes on this machine (the
    # kills are spread over that, so that a slower machine is cut at the same stages)
    t0 = time.monotonic()
    subprocess.run([str(cli), "--db", str(reference), "ingest", *map(str, files)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    whole = time.monotonic() - t0
    with Store(reference) as s:
        assert s.scalar("SELECT count(*) FROM ingests WHERE status = 'completed' AND kind <> 'boundaries' "
                        "AND kind <> 'lookup' AND kind <> 'postcodes'") == len(files)
        want = digest(s, DATA_TABLES)
    rng = random.Random(20261123)
    db = tmp_path / "killed.duckdb"
    moments, states = [], []
    kills = 12
    for i in range(kills):
        shutil.copy(_base_db, db)
        last = i == kills - 1
        t_start = time.monotonic()
        proc = subprocess.Popen([str(cli), "--db", str(db), "ingest", *map(str, files)],
                                stdout=subprocess.PIPE if last else subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                text=True)
        if last:
            # the last kill lands just after the command says its first file is in, whatever the
            # machine's load did to the timing the others were spread over
            for line in proc.stdout:
                if line.startswith("ingested "):
                    break
            delay = time.monotonic() - t_start
        else:
            # one random moment in each twelfth of the command's run, from a fifth of it (the
            # interpreter starting) to its end: the whole ingest is covered evenly (twenty wholly
            # random moments took 64 s of a suite with a 20-minute budget)
            delay = whole * (0.2 + (i + rng.random()) * 0.8 / kills)
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        moments.append(round(delay, 2))
        with Store(db) as s:  # opens (DuckDB replays or discards its WAL)
            bad = s.scalar("SELECT count(*) FROM ingests WHERE rows_read <> rows_accepted + rows_quarantined")
            orphans = s.scalar("SELECT count(*) FROM quarantine q LEFT JOIN ingests i USING (ingest_id) "
                               "WHERE i.ingest_id IS NULL")
            done = s.scalar("SELECT count(*) FROM ingests WHERE status = 'completed' AND kind <> 'boundaries' "
                            "AND kind <> 'lookup' AND kind <> 'postcodes'")
            # a half-done file left nothing behind: the stored census counts are whole files
            census_rows = s.scalar("SELECT count(*) FROM population")
            assert bad == 0 and orphans == 0
            states.append(done)
            assert census_rows in (0, want["population"][0])
            for f in files:  # the rerun completes
                assert ingest_file(s, f).status in ("completed", "unchanged")
            assert digest(s, DATA_TABLES) == want, f"kill {i} at {delay:.2f} s ({done} files done)"
    # the planned moments are all different (the last one, measured, may round to one of them)
    assert len(set(moments[:-1])) == kills - 1
    # the kills landed before, between and inside the files, not only after the end
    assert len(set(states)) >= 2 and min(states) < len(files), states


def test_read_commands_fall_back_to_the_snapshot_while_the_store_is_busy(analysed_store, capsys):
    with _busy(analysed_store) as db:
        assert main(["--db", str(db), "gaps", "--category", "esol_provider", "--top", "3", "--json"]) == 0
        assert len(json.loads(capsys.readouterr().out)["units"]) == 3
        # status says where its figures come from; changes reads the snapshot too
        assert main(["--db", str(db), "status"]) == 0
        assert "from its latest snapshot (the working store is busy)" in capsys.readouterr().out
        assert main(["--db", str(db), "changes", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["changes"]


def test_a_store_from_an_older_assetmap_is_named_with_the_command_that_brings_it_up_to_date(tmp_path, capsys):
    """A reader cannot migrate a store: it says so, and `assetmap migrate` does it."""
    from assetmap.db.store import MIGRATIONS, connect

    db = tmp_path / "old.duckdb"
    con = connect(db)  # as an assetmap of schema version 6 left it
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP "
                "NOT NULL DEFAULT current_timestamp)")
    for version, sql in MIGRATIONS[:6]:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])
    con.close()
    for command in (["gaps", "--category", "esol_provider"], ["status"], ["changes"]):
        assert main([*command, "--db", str(db)]) == 2
        err = capsys.readouterr().err
        flat = "".join(err.split())  # the log wraps long lines
        assert "olderassetmap" in flat and f"assetmapmigrate--db{db}" in flat, command  # not "busy"
        assert "Traceback" not in err
    assert main(["migrate", "--db", str(db)]) == 0
    assert main(["gaps", "--category", "esol_provider", "--db", str(db)]) == 2  # readable now: no gaps yet
    assert "olderassetmap" not in "".join(capsys.readouterr().err.split())


# -- public and partner variants -------------------------------------------------------------

def _text_values(con) -> str:
    """Every text and JSON value of every table a connection reads, as one string."""
    parts = []
    for table, column in con.execute(
            """SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = 'main' AND data_type IN ('VARCHAR', 'JSON')
                 AND table_name IN (SELECT table_name FROM information_schema.tables
                                    WHERE table_schema = 'main' AND table_type = 'BASE TABLE')""").fetchall():
        parts += [str(v) for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall()]
    return "\n".join(parts)


def test_the_public_snapshot_holds_no_sensitive_site_only_its_counts(analysed_store):
    from assetmap.snapshots import PUBLIC_TABLES

    sensitive = analysed_store.con.execute(
        "SELECT asset_id, name, address, postcode, ward_code FROM assets WHERE sensitive").fetchall()
    assert len(sensitive) > 20  # the demo's refugee support venues
    snap = publish(analysed_store, reason="variants")
    partner = open_snapshot(analysed_store.path, snap.snapshot_id, variant="partner")
    public = open_snapshot(analysed_store.path, snap.snapshot_id, variant="public")
    try:
        assert public.execute("SELECT value FROM snapshot_info WHERE key = 'variant'").fetchone() == ("public",)
        assert public.execute("SELECT count(*) FROM assets WHERE sensitive").fetchone() == (0,)
        assert public.execute("SELECT count(*) FROM assets").fetchone()[0] == \
            analysed_store.scalar("SELECT count(*) FROM assets WHERE NOT sensitive")
        # not a name, address or id of one, in any text of any table (postcodes are all in the
        # public postcode directory the store holds)
        text = _text_values(public)
        # (the demo's made-up addresses repeat: one that a public site has too is public)
        public_values = {v for row in analysed_store.con.execute(
            "SELECT name, address FROM assets WHERE NOT sensitive").fetchall() for v in row}
        leaked = [v for row in sensitive for v in row[:3] if v and v not in public_values
                  and re.search(rf"(?<!\w){re.escape(str(v))}(?!\w)", text)]
        assert leaked == []
        assert any(str(row[1]) in _text_values(partner) for row in sensitive)  # the check can fail
        # nor the distances from which one could be found again
        assert public.execute("SELECT count(*) FROM oa_access WHERE category = 'refugee_support'").fetchone() == (0,)
        assert public.execute("SELECT count(*) FROM unit_access WHERE category = 'refugee_support' "
                              "AND nearest_m IS NOT NULL").fetchone() == (0,)
        assert partner.execute("SELECT count(*) FROM oa_access WHERE category = 'refugee_support'").fetchone()[0] > 0
        # the counts per ward, the same in both, and as the working store has them
        counts = "SELECT ward_code, category, in_ward, in_reach FROM sensitive_site_counts ORDER BY ALL"
        want = analysed_store.con.execute(
            "SELECT ward_code, category, count(*) FROM assets WHERE sensitive GROUP BY ALL ORDER BY ALL").fetchall()
        got = public.execute(counts).fetchall()
        assert got == partner.execute(counts).fetchall()
        assert [(w, c, n) for w, c, n, _ in got if n] == want
        assert all(reach >= n for _, _, n, reach in got)
        # pending submissions are in neither; the partner one is the store less them
        assert public.execute("SELECT count(*) FROM submissions").fetchone() == (0,)
    finally:
        partner.close()
        public.close()
    # every table of the store is accounted for: a new one must say what the public may see of it
    tables = {t for (t,) in analysed_store.con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE'").fetchall()}
    assert tables <= set(PUBLIC_TABLES)


def test_a_table_nobody_classified_stops_the_publication(analysed_store):
    from assetmap.db.store import StoreError

    analysed_store.con.execute("CREATE TABLE partner_notes (ward_code VARCHAR, note VARCHAR)")
    with pytest.raises(StoreError, match="partner_notes"):
        publish(analysed_store)


def test_two_stores_side_by_side_never_publish_into_one_folder(tmp_path, capsys):
    """`snapshots/` is beside the store: a second store in the same folder would move the first one's
    `LATEST` (its dashboard showing the other place) and prune its snapshots. It is refused, in one line,
    and the first store's snapshots are as they were."""
    with Store(tmp_path / "cardiff.duckdb") as cardiff:
        first = publish(cardiff, reason="Cardiff")
    kept = sorted(p.name for p in (tmp_path / "snapshots").rglob("*"))
    assert main(["publish", "--db", str(tmp_path / "newport.duckdb")]) == 2
    err = "".join(capsys.readouterr().err.split())
    assert "holdsthesnapshotsofanotherstore,cardiff.duckdb" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "snapshots").rglob("*")) == kept
    assert (tmp_path / "snapshots" / "partner" / "LATEST").read_text().strip() == Path(first.path).name
    # the same store publishes again; a store in its own folder has its own snapshots
    with Store(tmp_path / "cardiff.duckdb") as cardiff:
        publish(cardiff, reason="Cardiff again")
    (tmp_path / "newport").mkdir()
    assert main(["publish", "--db", str(tmp_path / "newport" / "newport.duckdb")]) == 0


def test_status_lists_each_snapshot_with_its_variant_and_path(full_store, capsys):
    snap = publish(full_store, reason="status")
    full_store.close()
    assert main(["status", "--json", "--db", str(full_store.path)]) == 0
    listed = json.loads(capsys.readouterr().out)["snapshots"]
    mine = {s["variant"]: s for s in listed if s["snapshot_id"] == snap.snapshot_id}
    assert set(mine) == {"public", "partner"}
    assert mine["partner"]["path"] == snap.path and Path(mine["public"]["path"]).exists()
    assert mine["public"]["path"] != mine["partner"]["path"] and all(s["latest"] for s in mine.values())
