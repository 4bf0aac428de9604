"""Alerts through the real pipeline: `assetmap up` (a Prefect server, its worker and watcher) with an
SMTP server (STARTTLS) and a webhook receiver on loopback ports. A provider file dropped into the
inbox that closes an ESOL class in a subscribed ward is told, once, by email and by a signed webhook,
within 30 s of the snapshot that shows it; a file that changes nothing there sends nothing."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assetmap import alerts
from assetmap.snapshots import open_snapshot
from assetmap.store import Store
from tests.conftest import running_up, wait_for
from tests.mail_servers import Hooks, Mailbox
from tests.test_alerts import FIELDS, _classes

pytestmark = pytest.mark.slow

WITHIN_S = 30.0


def _drop(inbox: Path, name: str, rows: list[dict[str, str]]) -> None:
    tmp = inbox / f".{name}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=[*FIELDS, "status"])
        w.writeheader()
        w.writerows(rows)
    tmp.rename(inbox / name)


def _open_in_snapshot(db: Path, name: str) -> int:
    try:
        con = open_snapshot(db)
    except Exception:
        return -1
    try:
        return int(con.execute("SELECT count(*) FROM assets WHERE name = ?", [name]).fetchone()[0])
    finally:
        con.close()


def _assetmap(*args: str, db: Path) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("assetmap")
    return subprocess.run([str(cli), *args, "--db", str(db)], capture_output=True, text=True, timeout=180)


def test_closing_a_class_through_the_inbox_tells_its_subscribers_once_within_30_s(tmp_path, _analysed_db):
    with Store(_analysed_db, read_only=True) as template:
        classes = _classes(template)
    ward = None
    box, hooks = Mailbox(tmp_path / "tls").start(), Hooks().start()
    env = {"ASSETMAP_SMTP_URL": box.url, "ASSETMAP_PUBLIC_URL": "https://assetmap.test",
           "ASSETMAP_MAIL_FROM": "alerts@assetmap.test"}
    try:
        with running_up(tmp_path, _analysed_db, "--no-dashboard", env_extra=env) as up:
            db, inbox = up["db"], up["inbox"]
            _drop(inbox, "riverside_college.csv", classes)
            target = classes[3]  # the only class in its ward
            wait_for(lambda: _open_in_snapshot(db, target["name"]) == 1, 90, "the college's classes published")
            con = open_snapshot(db)
            ward = con.execute("SELECT ward_code FROM assets WHERE name = ?", [target["name"]]).fetchone()[0]
            con.close()
            mail = _assetmap("subscribe", "--email", "coordinator@college.test", "--ward", ward, db=db)
            hook = _assetmap("subscribe", "--webhook", hooks.url, "--ward", ward, "--partner", db=db)
            assert mail.returncode == 0 and hook.returncode == 0, mail.stderr + hook.stderr
            secret = hook.stdout.rsplit(": ", 1)[1].strip()

            _drop(inbox, "riverside_college.update.csv", [{**target, "status": "closed"}])
            wait_for(lambda: _open_in_snapshot(db, target["name"]) == 0, 90, "the closure published")
            t_published = time.monotonic()
            wait_for(lambda: box.messages and hooks.received, WITHIN_S, "an email and a webhook")
            took = time.monotonic() - t_published
            time.sleep(5)  # and nothing more comes
            assert len(box.messages) == 1 and len(hooks.received) == 1
            text = box.text_of(box.messages[0])
            assert f"Closed: {target['name']} (ESOL classes)" in text and f"({ward}), ESOL classes: " in text
            assert box.messages[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            _path, headers, body = hooks.received[0]
            assert alerts.verify(secret, body["message"], headers[alerts.SIGNATURE_HEADER])
            data = json.loads(body["message"])
            assert [c["name"] for c in data["changes"]] == [target["name"]]
            [gap] = data["gaps"]
            assert gap["after"] > gap["before"]

            # a file that changes nothing in the subscribed ward sends nothing
            _drop(inbox, "riverside_college.more.csv", [{**classes[0], "name": "Riverside College ESOL E",
                                                         "id": "college-5", "status": "open"}])
            wait_for(lambda: _open_in_snapshot(db, "Riverside College ESOL E") == 1, 90, "the other ward's class")
            time.sleep(8)
            assert len(box.messages) == 1 and len(hooks.received) == 1
            print(f"\nalerts: email and webhook {took:.1f} s after the snapshot was published")
    finally:
        box.stop()
        hooks.stop()
