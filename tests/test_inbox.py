"""The inbox watcher hands on each complete file once; temporary and hidden files never."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pipelines.inbox import InboxWatcher, file_away, is_candidate


def test_which_files_are_candidates(tmp_path):
    inbox = tmp_path / "inbox"
    for name, want in [("providers.csv", True), (".hidden.csv", False), ("upload.csv.part", False),
                       ("x.tmp", False), ("doc.crdownload", False), ("notes.txt~", False), ("~$sheet.xlsx", False),
                       ("processed/old.csv", False), ("rejected/bad.csv", False), ("submissions/s.json", True),
                       ("deep/er/file.csv", False), ("a.csv.report.json", False)]:
        assert is_candidate(inbox / name, inbox) is want, name
    assert not is_candidate(tmp_path / "elsewhere.csv", inbox)


def test_a_file_is_handed_on_once_when_completely_written(tmp_path):
    inbox = tmp_path / "inbox"
    got: list[dict] = []
    w = InboxWatcher(inbox, got.append, stable_s=0.4, poll_s=0.05)
    (tmp_path / "inbox").mkdir()
    (inbox / "waiting.csv").write_text("name,category\n")  # there before the watcher started
    w.start()
    try:
        slow = inbox / "slow.csv"
        with slow.open("w") as fh:  # written in pieces, slower than the stability window's polls
            for i in range(6):
                fh.write(f"row {i}\n" * 200)
                fh.flush()
                time.sleep(0.15)
        (inbox / ".~lock.slow.csv#").write_text("lock")
        (inbox / "copying.csv.part").write_text("partial")
        (inbox / "submissions").mkdir(exist_ok=True)
        (inbox / "submissions" / "s1.json").write_text(json.dumps({"name": "x"}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(got) < 3:
            time.sleep(0.1)
        time.sleep(0.8)  # nothing more comes
    finally:
        w.stop()
    names = sorted(Path(p.path).name for p in got)
    assert names == ["s1.json", "slow.csv", "waiting.csv"]
    slow_payload = next(p for p in got if p.path.endswith("slow.csv"))
    assert slow_payload.size == slow.stat().st_size == 6 * 200 * len("row 0\n")
    assert len(slow_payload.sha256) == 64


def test_filing_away_keeps_a_report_beside_the_file(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    f = inbox / "bad.csv"
    f.write_text("junk")
    moved = file_away(f, inbox, ok=False, report={"status": "refused", "reason_code": "unknown_format"})
    assert moved.parent == inbox / "rejected" and moved.read_text() == "junk" and not f.exists()
    report = json.loads(moved.with_name(moved.name + ".report.json").read_text())
    assert report["reason_code"] == "unknown_format" and report["file"] == "bad.csv"
    f.write_text("again")  # the same name again does not overwrite the first
    second = file_away(f, inbox, ok=False, report={})
    assert second != moved and moved.exists()


def test_two_watchers_name_one_file_by_one_event_id_and_a_new_drop_by_another(tmp_path):
    """Two machines watching one shared inbox (here: the same folder reached by two paths) send
    the same event id for a file, so the Prefect server acts on it once; the same bytes dropped
    again later are a new event."""
    import os
    import time

    from assetmap.events import FileReceived
    from pipelines.inbox import event_id, file_received

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mount = tmp_path / "mounted-elsewhere"
    mount.symlink_to(inbox)  # another machine's mount point of the same folder
    f = inbox / "providers.csv"
    f.write_text("name,category,lat,lon\nA,esol_provider,52.78,-1.25\n")
    here = file_received(f)
    there = FileReceived(str(mount / "providers.csv"), here.sha256, here.size)  # as the other watcher says it
    first = event_id(here, inbox)  # each watcher names the file as it hands it on
    assert event_id(there, mount) == first
    other = inbox / "other.csv"
    other.write_text(f.read_text())  # the same bytes under another name: another file
    assert event_id(file_received(other), inbox) != first
    later = time.time() + 5
    os.utime(f, (later, later))  # dropped again
    assert event_id(file_received(f), inbox) != first


def test_a_starting_watcher_leaves_the_claims_of_runs_still_at_work(tmp_path):
    """What a stopped run claimed goes back into the inbox when a watcher starts; what a run
    still at work claimed (another machine's, on a shared inbox) stays with it."""
    from pipelines.inbox import CLAIMED, claim, release

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, run in (("stopped.csv", "run-stopped"), ("working.csv", "run-working")):
        (inbox / name).write_text("x\n")
        claim(inbox / name, inbox, run)
    back = release(inbox, keep=lambda run: run == "run-working")
    assert [p.name for p in back] == ["stopped.csv"] and (inbox / "stopped.csv").exists()
    assert (inbox / CLAIMED / "run-working" / "working.csv").exists() and not (inbox / "working.csv").exists()


def test_an_inbox_where_rename_is_a_copy_is_refused_with_what_to_do(tmp_path, monkeypatch):
    """Claims are atomic renames: on an object store or a sync folder mounted through FUSE a
    rename is a copy, so two runs could both take a file. Such an inbox is refused, naming the
    file system and what to do; a local disk (or NFS) is fine."""
    from collections import namedtuple

    import psutil
    import pytest

    from pipelines.inbox import InboxUnsafe, claims_unsafe

    part = namedtuple("part", "device mountpoint fstype opts")
    inbox = tmp_path / "shared" / "inbox"
    inbox.mkdir(parents=True)
    assert claims_unsafe(inbox) is None  # this machine's own disk
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: [
        part("/dev/sda1", "/", "ext4", "rw"), part("bucket", str(tmp_path / "shared"), "fuse.s3fs", "rw"),
        part("nfs:/x", str(tmp_path / "sharedelsewhere"), "nfs4", "rw")])
    said = claims_unsafe(inbox)
    assert said and "fuse.s3fs" in said and "local disk, or an NFS or SMB share" in said
    with pytest.raises(InboxUnsafe, match="rename is a copy"):
        InboxWatcher(inbox, lambda event: None).start()
    other = tmp_path / "sharedelsewhere" / "inbox"
    other.mkdir(parents=True)
    assert claims_unsafe(other) is None  # NFS: the server renames in one step
