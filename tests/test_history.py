"""Openings, closures and moves: every asset keeps its history, and the gap can be computed as at
a past date. A provider that re-sends its file over the years tells the story of its sites."""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
import sys

import pytest

from assetmap.analysis import recompute, recompute_as_at
from assetmap.cli import main
from assetmap.ingest import ingest_file
from assetmap.queries import change_records, changes, changes_by_ward, provision_timeline, tally_by_ward

# places inside the demo city; B moves 300 m east in 2021
A = (52.7800, -1.2500)
B = (52.7750, -1.2600)
B_MOVED = (52.7750, -1.2556)
C = (52.7820, -1.2450)
D = (52.7790, -1.2550)


def _file(tmp_path, name: str, rows: list[tuple]) -> str:
    lines = ["id,name,category,lat,lon,capacity,status"]
    lines += [",".join(str(v) for v in row) for row in rows]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _versions(store, record_id: str) -> list[tuple]:
    return store.con.execute(
        """SELECT v.change, v.status, strftime(v.valid_from, '%Y-%m-%d'), strftime(v.valid_to, '%Y-%m-%d')
           FROM asset_versions v WHERE v.source_record_id = ? ORDER BY v.version""", [record_id]).fetchall()


@pytest.fixture
def story(city_store, ingest, tmp_path):
    """One provider's file, re-sent in 2019, 2021 and 2023."""
    r1 = ingest(_file(tmp_path, "esol-2019.csv", [
        ("a", "Alpha ESOL", "esol_provider", *A, 12, "open"), ("b", "Beta ESOL", "esol_provider", *B, 10, ""),
        ("c", "Gamma ESOL", "esol_provider", *C, 8, "active")]), source="college", effective="2019-01-01")
    r2 = ingest(_file(tmp_path, "esol-2021.csv", [
        ("a", "Alpha ESOL", "esol_provider", *A, 12, "open"), ("b", "Beta ESOL", "esol_provider", *B_MOVED, 10, ""),
        ("c", "Gamma ESOL", "esol_provider", *C, 8, "closed"), ("d", "Delta ESOL", "esol_provider", *D, 15, "")]),
        source="college", effective="2021-06-01")
    r3 = ingest(_file(tmp_path, "esol-2023.csv", [
        ("a", "Alpha ESOL", "esol_provider", *A, 12, ""), ("d", "Delta ESOL", "esol_provider", *D, 15, "")]),
        source="college", effective="2023-01-01", closes_missing=True)
    assert [r.status for r in (r1, r2, r3)] == ["completed"] * 3, [r.message for r in (r1, r2, r3)]
    return city_store, (r1, r2, r3)


def test_each_site_keeps_its_versions_and_closed_ones_leave_the_map(story):
    store, (_, r2, r3) = story
    assert _versions(store, "a") == [("opened", "open", "2019-01-01", None)]
    assert _versions(store, "b") == [("opened", "open", "2019-01-01", "2021-06-01"),
                                     ("moved", "open", "2021-06-01", "2023-01-01"),
                                     ("closed", "closed", "2023-01-01", None)]
    assert _versions(store, "c") == [("opened", "open", "2019-01-01", "2021-06-01"),
                                     ("closed", "closed", "2021-06-01", None)]
    assert _versions(store, "d") == [("opened", "open", "2021-06-01", None)]
    # the map and the analysis read what is open
    assert sorted(r[0] for r in store.con.execute("SELECT source_record_id FROM assets").fetchall()) == ["a", "d"]
    assert "1 closed" in r2.message and "1 closed" in r3.message
    # a closure is a change the pipeline recomputes: its ward is named
    c_ward = store.scalar("SELECT ward_code FROM asset_versions WHERE source_record_id = 'c' AND version = 1")
    assert c_ward in r2.affected_wards


def test_changes_lists_openings_closures_and_moves_per_ward(story):
    store, _ = story
    period = changes(store.con, _dt.datetime(2020, 1, 1), _dt.datetime(2022, 12, 31))
    assert sorted(zip(period["change"], period["name"], strict=True)) == [
        ("closed", "Gamma ESOL"), ("moved", "Beta ESOL"), ("opened", "Delta ESOL")]
    moved = period[period["change"] == "moved"].iloc[0]
    assert 250 < moved["moved_m"] < 350  # 0.0044 degrees of longitude at 52.8 N
    by_ward = changes_by_ward(changes(store.con))
    # the command line's records (no pandas) count the same
    assert tally_by_ward(change_records(store.con)) == by_ward.to_dict("records")
    assert [r["name"] for r in change_records(store.con)] == changes(store.con)["name"].tolist()
    assert by_ward[["opened", "closed", "moved"]].sum().to_dict() == {"opened": 4, "closed": 2, "moved": 1}
    assert (by_ward["net"] == by_ward["opened"] + by_ward["reopened"] - by_ward["closed"]).all()
    # provision over time: 3 open in 2019, 3 in 2021 (one closed, one opened), 2 in 2023
    t = provision_timeline(store.con, ["esol_provider"])
    assert [(str(r.at)[:10], r.open_sites) for r in t.itertuples()] == [
        ("2019-01-01", 3), ("2021-06-01", 3), ("2023-01-01", 2)]


def test_a_move_keeps_how_far_it_went_with_its_version(story):
    """The distance is written with the version a move begins (so `assetmap changes` needs no spatial function):
    the same as measuring between the two versions' points, and only for moves."""
    store, _ = story
    pairs = store.con.execute(
        """SELECT v.moved_m, ST_Distance(p.geom, v.geom) FROM asset_versions v
           JOIN asset_versions p ON p.asset_id = v.asset_id AND p.version = v.version - 1
           WHERE v.change = 'moved'""").fetchall()
    assert len(pairs) == 1 and abs(pairs[0][0] - pairs[0][1]) < 1e-9
    assert store.scalar("SELECT count(*) FROM asset_versions WHERE change <> 'moved' AND moved_m IS NOT NULL") == 0


def test_the_changes_command(story, capsys):
    store, _ = story
    store.close()
    assert main(["changes", "--db", str(store.path), "--from", "2021-06-01", "--to", "2021-06-01", "--json"]) == 0
    def strict(token: str) -> None:
        raise ValueError(f"{token} is not JSON")

    out = json.loads(capsys.readouterr().out, parse_constant=strict)  # a distance not moved is null, not NaN
    assert sorted(c["change"] for c in out["changes"]) == ["closed", "moved", "opened"]
    assert [c["moved_m"] is None for c in out["changes"]].count(False) == 1
    assert sum(w["opened"] + w["moved"] + w["closed"] for w in out["by_ward"]) == len(out["changes"])
    assert main(["--db", str(store.path), "changes", "--category", "esol_provider"]) == 0
    text = capsys.readouterr().out
    assert "Gamma ESOL" in text and "closed" in text and "(" in text  # the move's distance
    assert main(["changes", "--db", str(store.path), "--from", "last tuesday"]) == 2
    assert "neither a date" in capsys.readouterr().err


def test_status_and_changes_read_the_store_without_the_spatial_extension_or_pandas(story):
    """`assetmap status` and `changes` start in under 0.3 s (issue 26, item 5; benchmarks/commands.py): they
    call no spatial function (loading the extension is 0.2 s) and bind no parameter (DuckDB's Python client
    imports pandas to bind one, 0.2 s). Here loading spatial is refused outright: both still answer, with the
    extent of the areas and the distance of a move."""
    store, _ = story
    store.close()
    path = str(store.path)
    probe = f"""
import contextlib, io, json, sys
import assetmap.db.store as s
loads = []
s.load_spatial = lambda con: loads.append(1)
from assetmap.cli import main
said = []
for command in (["status", "--json"], ["changes"]):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["--db", {path!r}, *command])
    said.append((code, out.getvalue()))
print(json.dumps([said, loads, "pandas" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    [(status_code, status), (changes_code, changes)], loads, pandas = json.loads(out.strip().splitlines()[-1])
    assert (status_code, changes_code, loads, pandas) == (0, 0, [], False)
    assert json.loads(status)["extent"] is not None
    assert " m)  [" in changes  # a move, with how far it went


def test_history_goes_in_oldest_first_and_a_rerun_changes_nothing(story, ingest, tmp_path):
    store, _ = story
    before = store.con.execute("SELECT * FROM asset_versions ORDER BY ALL").fetchall()
    late = ingest(_file(tmp_path, "esol-2018.csv", [("a", "Alpha ESOL", "esol_provider", *B, 12, "")]),
                  source="college", effective="2018-01-01")
    assert late.status == "refused" and late.reason_code == "out_of_order"
    assert "oldest first" in late.message
    again = ingest(str(tmp_path / "esol-2023.csv"), source="college", effective="2023-01-01", closes_missing=True)
    assert again.status == "unchanged"
    assert store.con.execute("SELECT * FROM asset_versions ORDER BY ALL").fetchall() == before


def test_a_bad_status_is_quarantined_and_a_partial_file_closes_nothing(story, ingest, tmp_path):
    store, _ = story
    r = ingest(_file(tmp_path, "esol-2024.csv", [
        ("a", "Alpha ESOL", "esol_provider", *A, 12, "mothballed"),  # neither open nor closed
        ("d", "Delta ESOL", "esol_provider", *D, 15, "open"),
    ]), source="college", effective="2024-01-01", closes_missing=True)
    assert r.status == "completed" and r.rows_quarantined == 1
    reason = store.con.execute("SELECT reason_code, message FROM quarantine WHERE ingest_id = ?",
                               [r.ingest_id]).fetchone()
    assert reason[0] == "invalid_value" and "status must be open or closed" in reason[1]
    # with a row quarantined, "what the file does not list has closed" would close Alpha: not applied
    assert "closures of unlisted sites not applied" in r.message
    assert store.scalar("SELECT count(*) FROM assets WHERE source = 'college'") == 2


def test_the_gap_as_at_a_past_date_is_the_gap_computed_then(full_store, tmp_path):
    store = full_store
    recompute(store)
    then = store.con.execute("SELECT unit_code, category, need, supply, gap, rank FROM unit_gaps "
                             "WHERE unit_level = 'ward' ORDER BY unit_code, category").fetchall()
    moment = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    # later, a provider closes half its ESOL classes
    rows = store.con.execute(
        """SELECT source_record_id, name, ST_Y(p), ST_X(p) FROM (SELECT *, ST_Transform(geom, 'EPSG:27700',
           'EPSG:4326', always_xy := true) AS p FROM assets WHERE category = 'esol_provider'
           AND source = 'esol_providers') ORDER BY source_record_id""").fetchall()
    closing = rows[::2]
    path = _file(tmp_path, "closures.csv", [(rid, name, "esol_provider", lat, lon, "", "closed")
                                            for rid, name, lat, lon in closing])
    r = ingest_file(store, path, source="esol_providers")
    assert r.status == "completed" and f"{len(closing)} closed" in r.message, r.message
    recompute(store)
    now = {(u, c): g for u, c, _, _, g, _ in store.con.execute(
        "SELECT unit_code, category, need, supply, gap, rank FROM unit_gaps WHERE unit_level = 'ward'").fetchall()}
    res = recompute_as_at(store, moment)
    assert res.mode == "as_at" and res.units > 10
    as_at = store.con.execute(
        "SELECT unit_code, category, need, supply, gap, rank FROM unit_gaps_as_at WHERE as_at = ? "
        "ORDER BY unit_code, category", [moment]).fetchall()
    assert len(as_at) == len(then)
    for old, past in zip(then, as_at, strict=True):
        assert old[:2] == past[:2] and old[5] == past[5]
        assert past[2:5] == pytest.approx(old[2:5], abs=1e-12)
    # the ESOL gap rose where the classes closed, and nowhere fell
    rises = [now[(u, c)] - g for u, c, _, _, g, _ in as_at if c == "esol_provider"]
    assert max(rises) > 0.05 and min(rises) > -1e-9


def test_the_demo_has_two_years_of_history_as_its_files_say(full_store, demo_dir):
    """The demo's dated provider files load as the history the generator wrote (its plan in
    MANIFEST.json): each class opening, moving and closing in its quarter, the cut centre among them."""
    plan = json.loads((demo_dir / "MANIFEST.json").read_text(encoding="utf-8"))["history"]
    got = full_store.con.execute(
        """SELECT source_record_id, change, strftime(valid_from, '%Y-%m-%d') FROM asset_versions
           WHERE source = 'esol_providers' AND change IN ('opened', 'moved', 'closed')""").fetchall()
    first = plan["quarters"][0]
    for change in ("opened", "moved", "closed"):
        seen = {rid: when for rid, c, when in got if c == change and when <= plan["quarters"][-1]}
        if change == "opened":
            seen = {rid: when for rid, when in seen.items() if when != first}  # the first file opens the rest
        assert seen == plan[change], change
    cut = full_store.con.execute("SELECT name, status FROM asset_versions WHERE source_record_id = 'esol-h-cut' "
                                 "ORDER BY version DESC LIMIT 1").fetchone()
    assert cut == (plan["cut"]["name"], "closed")
    assert full_store.scalar("SELECT count(*) FROM assets WHERE source_record_id LIKE 'esol-h-%'") == 0


def test_a_folder_named_for_a_date_is_when_its_files_take_effect(tmp_path):
    from assetmap.ingest import effective_of, expand_paths

    today = tmp_path / "assets" / "esol.csv"
    older = tmp_path / "assets" / "history" / "2024-03-31" / "esol.csv"
    oldest = tmp_path / "assets" / "history" / "2023-12-31" / "esol.csv"
    for p in (today, older, oldest):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("name,category,lat,lon\nA,esol_provider,52.8,-1.3\n", encoding="utf-8")
    assert effective_of(older) == "2024-03-31" and effective_of(today) is None
    assert effective_of(tmp_path / "2024-02-30" / "x.csv") is None  # not a date
    assert expand_paths([tmp_path]) == [oldest, older, today]
