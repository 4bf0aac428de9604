"""Alerts through the real pipeline: `assetmap up` (a Prefect server, its worker and watcher) with an
SMTP server (STARTTLS) and a webhook receiver on loopback ports. A provider file dropped into the
inbox that closes an ESOL class in a subscribed ward is told, once, by email and by a signed webhook,
within 30 s of the snapshot that shows it; a file that changes nothing there sends nothing."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assetmap import alerts
from assetmap.db.store import Store
from assetmap.snapshots import open_snapshot
from tests.conftest import in_latest_snapshot, post_json, running_up, wait_for
from tests.mail_servers import Hooks, Mailbox
from tests.test_alerts import FIELDS, _classes

pytestmark = [pytest.mark.slow, pytest.mark.concurrent, pytest.mark.xdist_group("alerts_live")]

WITHIN_S = 30.0


def _drop(inbox: Path, name: str, rows: list[dict[str, str]]) -> None:
    tmp = inbox / f".{name}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=[*FIELDS, "status"])
        w.writeheader()
        w.writerows(rows)
    tmp.rename(inbox / name)


def _open_in_snapshot(db: Path, name: str) -> int:
    rows = in_latest_snapshot(db, "SELECT count(*) FROM assets WHERE name = ?", [name])
    return -1 if rows is None else int(rows[0][0])


def _notify_runs(api: str) -> list[tuple[_dt.datetime, str]]:
    """When each notify run (one per published snapshot) was made, and its state; the hourly
    runs the scheduler made for later aside."""
    runs = post_json(f"{api}/flow_runs/filter", {"flows": {"name": {"any_": ["notify"]}}, "limit": 200})
    return [(_dt.datetime.fromisoformat(r["created"]), r["state_type"]) for r in runs if not r.get("auto_scheduled")]


def _assetmap(*args: str, db: Path) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("assetmap")
    return subprocess.run([str(cli), *args, "--db", str(db)], capture_output=True, text=True, timeout=180)


def test_closing_a_class_through_the_inbox_tells_its_subscribers_once_within_30_s(tmp_path, _analysed_db):
    with Store(_analysed_db, read_only=True) as template:
        classes = _classes(template)
    ward = None
    box, hooks = Mailbox(tmp_path / "tls").start(), Hooks().start()
    env = {"ASSETMAP_SMTP_URL": box.url, "ASSETMAP_PUBLIC_URL": "https://assetmap.test",
           "ASSETMAP_MAIL_FROM": "alerts@assetmap.test", "ASSETMAP_ALERT_BACKOFF_S": "5",
           "ASSETMAP_ALERT_TIMEOUT_S": "3"}
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
            wait_for(lambda: all(state == "COMPLETED" for _at, state in _notify_runs(up["api"])), 60,
                     "every notify run finished")
            assert len(box.messages) == 1 and len(hooks.received) == 1  # and nothing more came
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
            seen = _dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=2)
            wait_for(lambda: any(at > seen and state == "COMPLETED" for at, state in _notify_runs(up["api"])), 60,
                     "the notify run of that publish finished")
            assert len(box.messages) == 1 and len(hooks.received) == 1

            # the mail server down when the class reopens: the webhook goes, the email waits; the
            # run that failed asks Prefect for another at the back-off's end, and that one sends it
            port = box.port
            box.stop()
            _drop(inbox, "riverside_college.reopen.csv", [{**target, "capacity": "41", "status": "open"}])
            wait_for(lambda: len(hooks.received) == 2, 90, "the reopening's webhook")
            box = Mailbox(tmp_path / "tls2", port=port).start()
            t_back = time.monotonic()
            wait_for(lambda: box.messages, 60, "the email, once the mail server is back")
            late = time.monotonic() - t_back
            wait_for(lambda: all(state in ("COMPLETED", "SCHEDULED") for _at, state in _notify_runs(up["api"]))
                     and not any(state == "SCHEDULED" and at < _dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=5)
                                 for at, state in _notify_runs(up["api"])), 60, "the notify runs settled")
            assert len(box.messages) == 1 and "Opened: " + target["name"] in box.text_of(box.messages[0])
            assert len(hooks.received) == 2
            server_log = (up["home"] / "logs" / "prefect-server.log").read_text(errors="replace")
            assert server_log.count("Traceback") == 0, server_log[-2000:]  # (a cron schedule would leave one)
            print(f"\nalerts: email and webhook {took:.1f} s after the snapshot was published; with the mail "
                  f"server down, the email went {late:.1f} s after it came back")
    finally:
        box.stop()
        hooks.stop()
