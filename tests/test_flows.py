"""The Prefect flows run in-process as plain Python, with no server: the same shells as the
served deployments, minus the run tracking."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from assetmap.db.store import Store
from assetmap.snapshots import list_snapshots
from pipelines.flows import ingest_file, recompute, refresh_all


def test_inbox_files_flow_through_without_a_server(wired):
    db, inbox = wired
    good = inbox / "update.csv"
    good.write_text("name,category,lat,lon,capacity\nFlow ESOL,esol_provider,52.78,-1.25,10\n")
    bad = inbox / "junk.csv"
    bad.write_bytes(b"\x00\x01\x02 not text")
    os.utime(bad, (time.time() - 5, time.time() - 5))  # complete for a while: the batch takes it
    out = ingest_file.fn(str(good))
    assert out["status"] == "completed" and out["batch"] == 2  # took the waiting junk too
    assert not good.exists() and not bad.exists()
    assert len(list((inbox / "processed").glob("*update.csv"))) == 1
    rejected = list((inbox / "rejected").glob("*junk.csv"))
    assert json.loads(rejected[0].with_name(rejected[0].name + ".report.json").read_text())["reason_code"] \
        == "binary_file"
    snaps = list_snapshots(db)
    assert snaps[0]["snapshot_id"] == out["snapshot"]
    assert ingest_file.fn(str(good))["status"] == "already_taken"

    assert out["recompute"] == "incremental"  # the batch analysed what it changed before publishing
    with Store(db) as s:
        counted = s.scalar("SELECT assets_in_unit FROM unit_access WHERE unit_level = 'ward' AND category = "
                           "'esol_provider' AND unit_code = (SELECT ward_code FROM assets WHERE name = 'Flow ESOL')")
        assert counted == s.scalar("SELECT count(*) FROM assets WHERE category = 'esol_provider' AND ward_code = "
                                   "(SELECT ward_code FROM assets WHERE name = 'Flow ESOL')")
    # the recompute the assets.changed event triggers, as the trigger passes it (JSON text):
    # the batch did it already, so nothing is recomputed and nothing published again
    res = recompute.fn(json.dumps(out["affected_wards"]), str(out["ingest_id"]))
    assert res["mode"] == "skipped" and "snapshot" not in res
    # asked without an ingest, it looks: the store knows the assets it analysed, none has changed
    res = recompute.fn(json.dumps(out["affected_wards"]))
    assert res["mode"] == "incremental" and res["units"] == 0
    with Store(db) as s:
        names = [r[0] for r in s.con.execute(
            "SELECT name FROM events WHERE occurred_at >= (SELECT min(occurred_at) FROM events "
            "WHERE name = 'assetmap.file.received') ORDER BY occurred_at").fetchall()]
    assert names == ["assetmap.file.received", "assetmap.ingest.completed", "assetmap.assets.changed",
                     "assetmap.file.received", "assetmap.ingest.failed",  # the junk, last in dependency order
                     "assetmap.snapshot.published",                       # one snapshot for the batch
                     "assetmap.snapshot.published"]                       # and one for the asked recompute


def test_a_retried_run_takes_back_what_its_lost_attempt_had_claimed(wired, monkeypatch):
    """An inbox run whose process was lost after it claimed its files is scheduled again with the
    same id (pipelines.recovery): the retry ingests and files away what the lost attempt had
    claimed, even though its own file is no longer in the inbox; another run's claims stay put."""
    from pipelines import flows
    from pipelines import inbox as inbox_mod

    db, inbox = wired
    for name, who in (("lost.csv", "Claimed before the crash"), ("sibling.csv", "Claimed beside it")):
        (inbox / name).write_text(f"name,category,lat,lon\n{who},esol_provider,52.78,-1.25\n")
        assert inbox_mod.claim(inbox / name, inbox, "run-1") is not None
    (inbox / "other.csv").write_text("name,category,lat,lon\nSomeone else's,esol_provider,52.78,-1.25\n")
    assert inbox_mod.claim(inbox / "other.csv", inbox, "run-2") is not None
    assert [f.name for f, _ in inbox_mod.claimed_by(inbox, "run-1")] == ["lost.csv", "sibling.csv"]

    monkeypatch.setattr(flows, "_run_key", lambda: "run-1")
    out = ingest_file.fn(str(inbox / "lost.csv"))
    assert out["status"] == "completed" and out["batch"] == 2
    assert sorted(p.name.split("_", 1)[1] for p in (inbox / "processed").glob("*.csv")) == ["lost.csv", "sibling.csv"]
    assert inbox_mod.claimed_by(inbox, "run-1") == []
    assert [f.name for f, _ in inbox_mod.claimed_by(inbox, "run-2")] == ["other.csv"]
    with Store(db) as s:
        assert s.scalar("SELECT count(*) FROM assets WHERE name IN ('Claimed before the crash', "
                        "'Claimed beside it')") == 2
        assert s.scalar("SELECT count(*) FROM assets WHERE name = 'Someone else''s'") == 0
    # run again (a second retry): nothing left to take, nothing doubled
    assert ingest_file.fn(str(inbox / "lost.csv"))["status"] == "already_taken"


def test_a_repeated_file_does_nothing_and_submissions_wait(wired, tmp_path):
    db, inbox = wired
    body = "name,category,lat,lon\nOnce only,esol_provider,52.78,-1.25\n"
    (inbox / "a.csv").write_text(body)
    first = ingest_file.fn(str(inbox / "a.csv"))
    (inbox / "a.csv").write_text(body)
    again = ingest_file.fn(str(inbox / "a.csv"))
    assert first["status"] == "completed" and again["status"] == "unchanged" and "snapshot" not in again
    sub = inbox / "submissions" / "s.json"
    sub.write_text(json.dumps({"name": "Sewing circle", "category": "community_centre", "lat": 52.78, "lon": -1.25}))
    out = ingest_file.fn(str(sub))
    assert out["status"] == "completed" and out["submission_id"].startswith("sub-")
    with Store(db) as s:
        assert s.scalar("SELECT status FROM submissions") == "pending"
        assert s.scalar("SELECT count(*) FROM assets WHERE name = 'Sewing circle'") == 0


def test_refresh_all_ingests_a_folder_in_order_and_recomputes(wired, demo_dir, tmp_path):
    db, _ = wired
    out = refresh_all.fn(str(demo_dir / "assets"))
    files = [f for f in (demo_dir / "assets").rglob("*") if f.is_file()]  # today's three and the history
    assert [r["status"] for r in out["ingests"]] == ["unchanged"] * len(files) and len(files) == 11
    assert out["recompute"]["mode"] == "full" and out["recompute"]["units"] == 60
    with Store(db) as s:  # a city's full recompute carries bootstrap intervals for D
        lo, hi, _d = s.con.execute(
            "SELECT ci_low, ci_high, value FROM unit_indices WHERE index_name = 'dissimilarity' "
            "AND focal_group = 'white_british' ORDER BY unit_code LIMIT 1").fetchone()
        assert lo is not None and lo <= hi


def test_refresh_all_publishes_once_after_its_recompute(wired, tmp_path):
    db, _ = wired
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(3):
        (folder / f"list{i}.csv").write_text(f"name,category,lat,lon\nHall {i},community_centre,52.78,-1.2{i}\n")
    with Store(db) as s:
        published = s.scalar("SELECT count(*) FROM events WHERE name = 'assetmap.snapshot.published'")
    out = refresh_all.fn(str(folder))
    assert [r["status"] for r in out["ingests"]] == ["completed"] * 3
    with Store(db) as s:
        assert s.scalar("SELECT count(*) FROM events WHERE name = 'assetmap.snapshot.published'") == published + 1
        last_publish, last_analysis = s.con.execute(
            """SELECT (SELECT max(occurred_at) FROM events WHERE name = 'assetmap.snapshot.published'),
                      (SELECT max(computed_at) FROM unit_gaps)""").fetchone()
        assert last_analysis <= last_publish
    assert out["recompute"]["snapshot"] == list_snapshots(db)[0]["snapshot_id"]


def test_refresh_all_builds_a_sources_history_from_its_dated_folders(wired, demo_dir, tmp_path):
    """The demo's dated provider files through the pipeline, as `make up` loads them: oldest
    first, each as at its date, today's file last, none refused as out of order."""
    folder = tmp_path / "college"
    for f in (demo_dir / "assets").rglob("esol_providers.csv"):  # another source's copy of the history
        target = folder / f.relative_to(demo_dir / "assets").with_name("college.csv")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read_bytes().replace(b"esol-", b"college-"))
    out = refresh_all.fn(str(folder))
    statuses = [(Path(r["path"]).parent.name, r["status"]) for r in out["ingests"]]
    assert statuses == [(d.name, "completed") for d in sorted((folder / "history").iterdir())] + \
        [("college", "completed")], statuses
    db, _ = wired
    with Store(db) as store:
        first = store.scalar("SELECT min(valid_from) FROM asset_versions WHERE source = 'college'")
        closed = store.scalar("SELECT count(*) FROM asset_versions WHERE source = 'college' AND change = 'closed'")
    assert str(first.date()) == "2023-12-31" and closed == 9  # the plan's eight classes and the cut centre


def test_a_flow_run_imports_the_readers_and_the_analysis_only_when_it_needs_them():
    """Every flow run is a new process that imports the flows' module. Loading it imports neither the
    readers (geopandas) nor the analysis (pandas, SciPy): a notify run, or a recompute that finds its
    ingest's batch did the work, goes without; an ingest run imports them in the background, and waits
    for them before its writer section."""
    import subprocess
    import sys

    heavy = ("geopandas", "pandas", "scipy", "pandana", "assetmap.sources", "assetmap.ingest", "assetmap.analysis")
    probe = (f"import sys; import pipelines.flows as f; loaded = [m for m in {heavy!r} if m in sys.modules]; "
             "f._warm('assetmap.ingest', 'assetmap.analysis'); f._warmed(); "
             f"print(loaded, [m for m in {heavy[4:]!r} if m not in sys.modules], f._WARMING)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] [] []"
