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
