"""The inbox is a trust boundary: only regular files inside it are read, a refused file's content
is never quoted, each file is claimed by exactly one run, and no dropped file stops the pipeline.

These run the flows in-process (no server); `test_pipelines_hostile.py` does the same against the
real `assetmap up`.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from pathlib import Path

import pytest

from assetmap.db.store import DATA_TABLES, Store
from assetmap.settings import settings
from assetmap.sources import sniff
from assetmap.sources._io import FileRefused, check_json_depth, json_depth, maybe_gunzip, read_bytes
from pipelines import inbox as inbox_mod
from pipelines.flows import ingest_file
from pipelines.inbox import InboxWatcher, claim, release
from tests.conftest import digest

SECRET = "OUTSIDE-SECRET-7f3a9c"  # stands in for /etc/passwd: it must never be read or quoted


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file and a folder outside the inbox that links will point at."""
    d = tmp_path / "outside"
    d.mkdir()
    f = d / "secret.csv"
    f.write_text(f"{SECRET}:x:0:0:root:/root:/bin/bash\nname,category\n")
    return f


def _old(path: Path) -> None:
    """Make an entry look completely written for a while (the batch takes settled entries)."""
    t = time.time() - 5
    os.utime(path, (t, t), follow_symlinks=False)


# -- reading: no links, no pipes, no folders, no hard links, limits --------------------------------
def test_a_symbolic_link_is_refused_whatever_it_points_at(tmp_path, outside):
    link = tmp_path / "passwd.csv"
    link.symlink_to(outside)
    with pytest.raises(FileRefused) as exc:
        read_bytes(link, no_follow=True)
    assert exc.value.reason_code == "symlink" and SECRET not in exc.value.message
    assert read_bytes(link).startswith(SECRET.encode())  # a user's own CLI path may be a link


def test_a_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("exc", _refusal(fifo)), daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive(), "reading a FIFO blocked"
    assert box["exc"].reason_code == "special_file"


def _refusal(path: Path) -> FileRefused:
    try:
        read_bytes(path, no_follow=True)
    except FileRefused as exc:
        return exc
    raise AssertionError(f"{path} was read")


def test_folders_hard_links_and_oversized_files_are_refused(tmp_path, outside):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert _refusal(folder).reason_code == "folder"
    hard = tmp_path / "hard.csv"
    os.link(outside, hard)  # another name of a file outside
    assert _refusal(hard).reason_code == "hard_link"
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    with pytest.raises(FileRefused) as exc:
        read_bytes(big, max_bytes=100)
    assert exc.value.reason_code == "too_large"


def test_a_gzip_bomb_is_refused_before_it_fills_memory(monkeypatch):
    bomb = gzip.compress(b"0" * 5_000_000)
    monkeypatch.setattr(settings, "max_unpacked_mb", 1.0)
    with pytest.raises(FileRefused) as exc:
        maybe_gunzip(bomb, "bomb.csv.gz")
    assert exc.value.reason_code == "too_large"
    two_members = gzip.compress(b"a,b\n") + gzip.compress(b"1,2\n")
    assert maybe_gunzip(two_members, "x.gz") == b"a,b\n1,2\n"
    with pytest.raises(FileRefused):
        maybe_gunzip(gzip.compress(b"x" * 1000)[:-12], "cut.gz")


def test_json_depth_is_counted_without_parsing(tmp_path):
    assert json_depth(b'{"a": "[[[[{{", "b": [1, [2, {"c": "\\\\"}]]}', 100) == 4
    assert json_depth(b'["\\"[[["]', 100) == 1
    deep = b"[" * 100_000 + b"]" * 100_000  # python's own parser would recurse into this
    assert json_depth(deep, 64) > 64
    with pytest.raises(FileRefused) as exc:
        check_json_depth(deep, "deep.json", 64)
    assert exc.value.reason_code == "too_deep"
    nested = json.dumps({"features": [{"geometry": {"coordinates": [[[[1, 2]]]]}}]}).encode()
    for step in (1, 3, 7, 1 << 24):  # the slices' seams fall anywhere
        assert json_depth(nested, 100, step=step) == 8


def test_a_refusal_quotes_column_names_at_most(tmp_path):
    f = tmp_path / "passwd_copy.csv"
    data = f"{SECRET}:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1\n".encode()
    with pytest.raises(FileRefused) as exc:
        sniff(f, data)
    assert SECRET not in exc.value.message and "not a delimited header" in exc.value.message
    with pytest.raises(FileRefused) as exc:
        sniff(f, b"colour,shape\nred,round\n")
    assert "colour, shape" in exc.value.message  # a table's column names help the user


# -- claiming: exactly one run owns a file ---------------------------------------------------------
def test_exactly_one_run_claims_a_file(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "submissions").mkdir(parents=True)
    files = [inbox / "submissions" / f"s{i}.json" for i in range(200)]
    for f in files:
        f.write_text("{}")
    won: dict[str, list[Path]] = {"a": [], "b": []}

    def run(key: str) -> None:
        for f in files:
            c = claim(f, inbox, key)
            if c is not None:
                won[key].append(c)
    threads = [threading.Thread(target=run, args=(k,)) for k in won]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(c.name for c in won["a"] + won["b"])
    assert names == sorted(f.name for f in files)  # every file once, none twice
    assert not any(f.exists() for f in files)
    back = release(inbox, "a")  # what a run did not file away goes back to the inbox
    assert sorted(p.name for p in back) == sorted(c.name for c in won["a"])
    assert all(p.parent == inbox / "submissions" for p in back)
    assert not (inbox / ".claimed" / "a").exists()


def test_the_watcher_hands_on_links_pipes_and_folders_without_reading_them(tmp_path, outside):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    got: list[dict] = []
    w = InboxWatcher(inbox, got.append, stable_s=0.2, poll_s=0.05, scan_s=0.3)
    (inbox / "passwd.csv").symlink_to(outside)
    (inbox / "zero.csv").symlink_to("/dev/zero")
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "a_folder").mkdir()
    (inbox / "folder_link").symlink_to(outside.parent)
    (inbox / "empty.csv").write_text("")
    w.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(got) < 6:
            time.sleep(0.1)
    finally:
        w.stop()
    by_name = {Path(p.path).name: p for p in got}
    assert sorted(by_name) == ["a_folder", "empty.csv", "folder_link", "passwd.csv", "pipe.csv", "zero.csv"]
    assert all(p.sha256 is None for n, p in by_name.items() if n != "empty.csv")  # none was opened
    assert by_name["passwd.csv"].path == str(inbox.resolve() / "passwd.csv")  # the link, not its target


# -- the flows file every hostile entry away, and complete -----------------------------------------
def _reports(inbox: Path) -> dict[str, dict]:
    out = {}
    for sub in ("processed", "rejected"):
        for r in (inbox / sub).glob("*.report.json"):
            rep = json.loads(r.read_text())
            out[rep["file"]] = {**rep, "folder": sub}
    return out


def _store_text(db: Path) -> str:
    with Store(db) as s:
        rows = s.con.execute("SELECT payload::VARCHAR FROM events UNION ALL "
                             "SELECT coalesce(message, '') || path FROM ingests UNION ALL "
                             "SELECT raw::VARCHAR || message FROM quarantine UNION ALL "
                             "SELECT payload::VARCHAR FROM submissions").fetchall()
    return "\n".join(r[0] for r in rows)


def test_hostile_entries_are_filed_away_and_nothing_outside_is_read(wired, outside):
    db, inbox = wired
    with Store(db) as s:
        before = digest(s, DATA_TABLES)
    (inbox / "passwd.csv").symlink_to(outside)
    (inbox / "zero.csv").symlink_to("/dev/zero")
    (inbox / "folder_link").symlink_to(outside.parent)
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "a_folder").mkdir()
    (inbox / "a_folder" / "inside.csv").write_text("name,category\n")
    os.link(outside, inbox / "hard.csv")
    (inbox / "notes.csv").write_text(f"{SECRET}\nnothing,to see\n")  # not a table: not quoted
    trigger = inbox / "deep.json"
    trigger.write_bytes(b"[" * 50_000 + b"]" * 50_000)
    for p in inbox.iterdir():
        if p.name != "submissions":
            _old(p)
    out = ingest_file.fn(str(trigger))
    assert out["status"] == "refused" and out["reason_code"] == "too_deep"
    assert out["batch"] == 8  # the whole hostile inbox in one run

    assert sorted(p.name for p in inbox.iterdir()) == ["rejected", "submissions"]  # the inbox is empty
    reports = _reports(inbox)
    codes = {name: r["reason_code"] for name, r in reports.items()}
    assert codes == {"passwd.csv": "symlink", "zero.csv": "symlink", "folder_link": "symlink",
                     "pipe.csv": "special_file", "a_folder": "folder", "hard.csv": "hard_link",
                     "notes.csv": "unknown_format", "deep.json": "too_deep"}
    assert all(r["folder"] == "rejected" for r in reports.values())
    # the links themselves were moved; their targets are where they were, untouched
    assert (inbox / "rejected").joinpath(Path(reports["passwd.csv"]["moved_to"]).name).is_symlink()
    assert outside.read_text().startswith(SECRET)
    everything = "".join(r.read_text() for r in (inbox / "rejected").glob("*.report.json"))
    assert SECRET not in everything and SECRET not in _store_text(db)
    with Store(db) as s:
        assert digest(s, DATA_TABLES) == before  # nothing of it reached the data


def test_every_hostile_submission_is_filed_away_and_the_flow_completes(wired, outside):
    db, inbox = wired
    subs = inbox / "submissions"
    good = {"name": "Hostile test centre", "category": "community_centre", "lat": 52.78, "lon": -1.25}
    cases = {
        "nested.json": b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "huge_field.json": json.dumps({**good, "name": "x" * 100_000}).encode(),
        "wrong_type.json": json.dumps({**good, "name": {"first": "a"}}).encode(),
        "twice.json": b'{"name": "a", "name": "b", "category": "community_centre"}',
        "unknown.json": json.dumps({**good, "admin": True}).encode(),
        "not_json.json": b"{name: oops",
        "binary.json": b"\x00\x01\x02\xff",
        "huge_file.json": json.dumps({**good, "notes": "y" * 400_000}).encode(),
        "good.json": json.dumps(good).encode(),
    }
    for name, data in cases.items():
        (subs / name).write_bytes(data)
    (subs / "link.json").symlink_to(outside)
    for p in subs.iterdir():
        _old(p)
    out = ingest_file.fn(str(subs / "nested.json"))
    assert out["status"] == "refused" and out["batch"] == len(cases) + 1
    assert list(subs.iterdir()) == []
    reports = _reports(inbox)
    assert reports.pop("good.json")["status"] == "completed"
    assert set(reports) == set(cases) - {"good.json"} | {"link.json"}
    assert all(r["folder"] == "rejected" and r["reason_code"] == "invalid_submission" for r in reports.values())
    assert "nested more than" in reports["nested.json"]["message"]
    assert "longer than" in reports["huge_field.json"]["message"]
    assert "given twice" in reports["twice.json"]["message"]
    assert "links are never followed" in reports["link.json"]["message"]
    assert SECRET not in json.dumps(reports) and SECRET not in _store_text(db)
    with Store(db) as s:
        assert s.scalar("SELECT count(*) FROM submissions WHERE status = 'pending'") == 1


def test_a_run_that_finds_its_file_gone_moves_on(wired):
    _, inbox = wired
    out = ingest_file.fn(str(inbox / "submissions" / "gone.json"))
    assert out["status"] == "already_taken"
    out = ingest_file.fn(str(inbox / "gone.csv"))
    assert out["status"] == "already_taken"


def test_claimed_files_left_by_a_stopped_run_go_back_to_the_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    f = inbox / "left.csv"
    f.write_text("name,category\n")
    claimed = claim(f, inbox, "run-that-died")
    assert claimed is not None and not f.exists()
    got: list[dict] = []
    w = InboxWatcher(inbox, got.append, stable_s=0.1, poll_s=0.05)
    w.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not got:
            time.sleep(0.05)
    finally:
        w.stop()
    assert f.exists() and [Path(p.path).name for p in got] == ["left.csv"]
    assert not (inbox / inbox_mod.CLAIMED).exists()
