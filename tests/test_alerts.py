"""Alerts: a subscriber is told, once, what changed where they care, by a real SMTP server (with
STARTTLS) and a real webhook receiver on loopback ports; a public subscriber is never told where
a sensitive site is; a mail server that is down delays the message, and it goes once."""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from assetmap import alerts
from assetmap.analysis import recompute_affected
from assetmap.db.store import Store
from assetmap.ingest import ingest_file
from assetmap.settings import settings
from assetmap.snapshots import LATEST, open_snapshot, publish, snapshot_dir
from tests.mail_servers import Hooks, Mailbox

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def boxes(tmp_path, monkeypatch):
    """An SMTP server that insists on STARTTLS and a webhook receiver, with assetmap told of them."""
    box, hooks = Mailbox(tmp_path / "tls").start(), Hooks().start()
    monkeypatch.setattr(settings, "smtp_url", box.url)
    monkeypatch.setattr(settings, "mail_from", "alerts@assetmap.test")
    monkeypatch.setattr(settings, "public_url", "https://assetmap.test")
    monkeypatch.setattr(settings, "alert_backoff_s", 5.0)
    monkeypatch.setattr(settings, "alert_timeout_s", 3.0)
    yield box, hooks
    box.stop()
    hooks.stop()


def _opener(store: Store):
    @contextlib.contextmanager
    def open_store():
        yield store
    return open_store


FIELDS = ["id", "name", "category", "lat", "lon", "women_only", "capacity", "licence"]


def _classes(store: Store, capacity: str = "40") -> list[dict[str, str]]:
    """A college's ESOL classes: three in one ward (the third women-only, so sensitive) and one
    in another, placed inside their wards."""
    wards = store.con.execute(
        """SELECT code, ST_Y(p), ST_X(p) FROM (
               SELECT code, ST_Transform(ST_PointOnSurface(geom), 'EPSG:27700', 'EPSG:4326', always_xy := true) AS p
               FROM areas WHERE level = 'ward' ORDER BY code LIMIT 2)""").fetchall()
    (_w1, lat1, lon1), (_w2, lat2, lon2) = wards
    out = []
    for i, (lat, lon, women) in enumerate([(lat1, lon1, "no"), (lat1 + 0.0004, lon1, "no"),
                                           (lat1, lon1 + 0.0005, "yes"), (lat2, lon2, "no")]):
        out.append({"id": f"college-{i + 1}", "name": f"Riverside College ESOL {'ABCD'[i]}",
                    "category": "esol_provider",
                    "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "women_only": women, "capacity": capacity,
                    "licence": "test"})
    return out


def _drop(store: Store, tmp_path: Path, rows: list[dict[str, str]]) -> list[str]:
    """The college's file, taken as its whole list (what it no longer lists has closed); recompute
    what it reaches and publish, as the pipeline does. Returns the wards it touched."""
    folder = tmp_path / f"drop-{len(list(tmp_path.glob('drop-*')))}"
    folder.mkdir()
    path = folder / "riverside_college.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    r = ingest_file(store, path, kind="providers", closes_missing=True)
    assert r.status == "completed" and r.rows_quarantined == 0, r.message
    recompute_affected(store, r.affected_wards)
    publish(store, reason="test")
    return r.affected_wards


def _close(store: Store, tmp_path: Path, *ids: str) -> list[str]:
    return _drop(store, tmp_path, [r for r in _classes(store) if r["id"] not in ids])


def _site(store: Store, record_id: str) -> dict:
    aid, name, ward, sensitive = store.con.execute(
        "SELECT asset_id, name, ward_code, sensitive FROM assets WHERE source_record_id = ?", [record_id]).fetchone()
    return {"asset_id": aid, "name": name, "ward": ward, "sensitive": sensitive}


def _open_class(store: Store, sensitive: bool) -> tuple[str, dict]:
    rid = "college-3" if sensitive else "college-4"  # the women-only class; the only class in its ward
    return rid, _site(store, rid)


def _gaps(store: Store, ward: str) -> tuple[float, float]:
    """A ward's ESOL gap in the latest partner and public snapshots."""
    out = []
    for variant in ("partner", "public"):
        con = open_snapshot(store.path, variant=variant)
        try:
            out.append(con.execute("SELECT gap FROM unit_gaps WHERE unit_level = 'ward' AND unit_code = ? "
                                   "AND category = 'esol_provider'", [ward]).fetchone()[0])
        finally:
            con.close()
    return out[0], out[1]


@pytest.fixture
def published(analysed_store, tmp_path):
    """The analysed demo city with the college's four classes, published."""
    _drop(analysed_store, tmp_path, _classes(analysed_store))
    return analysed_store


#: The states of the college's list the world below has a published snapshot of.
STATES = {"open": (), "closed-4": ("college-4",), "closed-3": ("college-3",), "reopened": ()}


@pytest.fixture(scope="session")
def _world(tmp_path_factory, request) -> Path:
    """Built once: the analysed demo city and its snapshots after each of :data:`STATES` was
    ingested, recomputed and published in turn (their ids in ``states.json``), ``LATEST`` back at
    ``open``."""
    from tests.conftest import _built_once

    def build(out: Path) -> None:
        keep = settings.keep_snapshots
        settings.keep_snapshots = 50
        try:
            shutil.copy(request.getfixturevalue("_analysed_db"), out / "assetmap.duckdb")
            ids = {}
            with Store(out / "assetmap.duckdb") as store:
                for state, closed in STATES.items():
                    rows = [r for r in _classes(store, "41" if state == "reopened" else "40") if r["id"] not in closed]
                    _drop(store, out, rows)
                    ids[state] = (snapshot_dir(store.path, "partner") / LATEST).read_text().strip()
                store.con.execute("CHECKPOINT")
            (out / "states.json").write_text(json.dumps(ids))
            for v in ("partner", "public"):
                (snapshot_dir(out / "assetmap.duckdb", v) / LATEST).write_text(ids["open"])
            for folder in out.glob("drop-*"):
                shutil.rmtree(folder)
        finally:
            settings.keep_snapshots = keep

    return _built_once(tmp_path_factory, "alerts-world", build)


@pytest.fixture
def world(_world, tmp_path):
    """A store of its own over :func:`_world` (its snapshots linked, never written), the college's
    classes open in the latest snapshot; ``flip(world, STATE)`` publishes another state's."""
    def link_or_copy(src: str, dst: str) -> None:
        if "snapshots" in Path(src).parts and src.endswith(".duckdb"):  # (LATEST is written: a copy)
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(_world, tmp_path / "w", copy_function=link_or_copy)
    store = Store(tmp_path / "w" / "assetmap.duckdb")
    yield store
    store.close()


def flip(store: Store, state: str) -> None:
    """Publish ``state``'s snapshot as :func:`publish` does at the end: its name in ``LATEST``."""
    sid = json.loads((store.path.parent / "states.json").read_text())[state]
    for v in ("partner", "public"):
        (snapshot_dir(store.path, v) / LATEST).write_text(sid)


def test_closing_a_class_sends_one_email_and_one_signed_webhook(published, boxes, tmp_path):
    store, (box, hooks) = published, boxes
    rid, site = _open_class(store, sensitive=False)
    gap_before, public_before = _gaps(store, site["ward"])
    mail = alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]], threshold=round(public_before + 0.01, 3)),
                            email="coordinator@college.test")
    hook = alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]], categories=["esol_provider"],
                                                 on=["opened", "closed", "moved"], role="partner"),
                            webhook=hooks.url)
    _close(store, tmp_path, rid)
    gap_after, public_after = _gaps(store, site["ward"])
    assert gap_after > gap_before and public_after > public_before  # closing a class widens the gap

    report = alerts.notify(_opener(store))
    assert (report.planned, report.sent, report.retry) == (2, 2, 0)
    assert len(box.messages) == 1 and box.sessions_tls == [True]  # sent over STARTTLS
    msg = box.messages[0]
    text = box.text_of(msg)
    ward_name = store.scalar("SELECT name FROM areas WHERE code = ?", [site["ward"]])
    assert msg["To"] == "coordinator@college.test" and "alerts@assetmap.test" in msg["From"]
    assert f"Closed: {site['name']} (ESOL classes), {ward_name} ({site['ward']})" in text
    # a public subscriber is told the public snapshot's figures (rounded by the disclosure rule)
    assert f"ESOL classes: {public_before:.3f} -> {public_after:.3f}  (rose past your threshold" in text
    assert f"https://assetmap.test/profile?ward={site['ward']}" in text
    # RFC 8058: a one-click unsubscribe, the link the text carries too
    link = msg["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://assetmap.test/alerts/unsubscribe?token=") and link in text
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    assert len(hooks.received) == 1
    path, headers, body = hooks.received[0]
    assert path == "/assetmap-hook"
    assert alerts.verify(hook["secret"], body["message"], headers[alerts.SIGNATURE_HEADER])
    assert not alerts.verify(mail["secret"], body["message"], headers[alerts.SIGNATURE_HEADER])
    data = json.loads(body["message"])
    said = [(c["change"], c["name"], c["ward_code"]) for c in data["changes"]]
    assert said == [("closed", site["name"], site["ward"])]
    [gap] = [g for g in data["gaps"] if g["category"] == "esol_provider"]
    assert gap["before"] == pytest.approx(gap_before, abs=1e-4) and gap["after"] == pytest.approx(gap_after, abs=1e-4)

    # running it again sends nothing again
    again = alerts.notify(_opener(store))
    assert (again.planned, again.sent) == (0, 0) and len(box.messages) == 1 and len(hooks.received) == 1

    # a file that changes nothing in the subscribed ward sends nothing
    touched = _close(store, tmp_path, rid, "college-1")  # a class in the other ward closes too
    assert site["ward"] not in touched
    quiet = alerts.notify(_opener(store))
    assert (quiet.planned, quiet.sent) == (0, 0) and len(box.messages) == 1 and len(hooks.received) == 1


def test_a_mail_server_that_is_down_delays_the_message_which_then_goes_once(world, boxes, tmp_path):
    store, (box, _hooks) = world, boxes
    _rid, site = _open_class(store, sensitive=False)
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]]), email="officer@council.test")
    flip(store, "closed-4")
    box.stop()
    t0 = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    down = alerts.notify(_opener(store), now=t0)
    assert (down.planned, down.sent, down.retry, down.pending) == (1, 0, 1, 1)
    err = store.scalar("SELECT error FROM deliveries")
    assert err and "ASSETMAP" not in err  # the sender's own words: a connection problem
    early = alerts.notify(_opener(store), now=t0 + _dt.timedelta(seconds=1))  # before its back-off
    assert (early.sent, early.retry) == (0, 0)
    box = Mailbox(tmp_path / "tls2", port=box.port).start()
    try:
        late = alerts.notify(_opener(store), now=t0 + _dt.timedelta(seconds=6))
        assert (late.sent, late.pending) == (1, 0)
        assert len(box.messages) == 1 and site["name"] in box.text_of(box.messages[0])
        alerts.notify(_opener(store), now=t0 + _dt.timedelta(minutes=5))
        assert len(box.messages) == 1
        assert store.con.execute("SELECT status, attempts FROM deliveries").fetchall() == [("sent", 2)]
    finally:
        box.stop()


def test_a_message_is_given_up_after_the_set_number_of_tries_and_recorded(world, boxes, tmp_path,
                                                                        monkeypatch):
    store, (_box, hooks) = world, boxes
    monkeypatch.setattr(settings, "alert_tries", 3)
    _rid, site = _open_class(store, sensitive=False)
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]]), webhook=hooks.url)
    flip(store, "closed-4")
    hooks.fail = True
    t = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    outcomes = []
    for _ in range(5):
        outcomes.append(alerts.notify(_opener(store), now=t).as_dict())
        t += _dt.timedelta(minutes=10)
    assert [o["retry"] for o in outcomes] == [1, 1, 0, 0, 0] and [o["given_up"] for o in outcomes] == [0, 0, 1, 0, 0]
    status, attempts, error = store.con.execute("SELECT status, attempts, error FROM deliveries").fetchone()
    assert (status, attempts) == ("given_up", 3)
    assert "503" in error or "error" in error.lower()
    assert hooks.received == []


def test_the_unsubscribe_link_stops_further_mail(world, boxes, tmp_path):
    store, (box, _hooks) = world, boxes
    _rid, site = _open_class(store, sensitive=False)
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]]), email="resident@example.test")
    flip(store, "closed-4")
    alerts.notify(_opener(store))
    token = box.messages[0]["List-Unsubscribe"].strip("<>").split("token=", 1)[1]
    ended = alerts.take_request(store, alerts.request("unsubscribe", token=token))
    assert ended["status"] == "unsubscribed"
    flip(store, "reopened")  # everything back: the class reopens
    assert alerts.notify(_opener(store)).planned == 0
    assert len(box.messages) == 1
    with pytest.raises(alerts.AlertError, match="not one this service sent"):
        alerts.take_request(store, alerts.request("unsubscribe", token="forged-" + token))


def test_a_public_message_never_names_or_locates_a_sensitive_site(world, boxes, tmp_path):
    store, (box, _hooks) = world, boxes
    rid, site = _open_class(store, sensitive=True)
    assert site["sensitive"]
    lat, lon = next((r["lat"], r["lon"]) for r in _classes(store) if r["id"] == rid)
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]]), email="public@example.test")
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]], role="partner"), email="partner@council.test")
    flip(store, "closed-3")
    alerts.notify(_opener(store))
    by_to = {str(m["To"]): box.text_of(m) + str(m["Subject"]) for m in box.messages}
    assert site["name"] in by_to["partner@council.test"]
    public = by_to.get("public@example.test", "")
    for secret in (site["name"], site["asset_id"], lat[:7], lon[:7]):
        assert secret not in public
    # nor in what the store plans for the public subscriber, nor in either snapshot's bytes
    for body, data in store.con.execute(
            "SELECT d.body, d.data FROM deliveries d JOIN subscriptions s USING (subscription_id) "
            "WHERE s.role = 'public'").fetchall():
        assert site["name"] not in body + (data or "")


def test_fifty_publishes_in_digest_mode_give_one_message(world, boxes, tmp_path):
    """Each publish flips the snapshot pointer to a new file, as :func:`publish` does; the daily
    subscriber hears once, after a day, of what changed across all fifty."""
    store, (box, _hooks) = world, boxes
    _rid, site = _open_class(store, sensitive=False)
    t0 = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]], mode="daily"), email="digest@example.test", now=t0)
    before = {v: (snapshot_dir(store.path, v) / (snapshot_dir(store.path, v) / LATEST).read_text().strip())
              for v in ("partner", "public")}
    flip(store, "closed-4")
    after = {v: (snapshot_dir(store.path, v) / (snapshot_dir(store.path, v) / LATEST).read_text().strip())
             for v in ("partner", "public")}
    for i in range(50):
        sid = f"2099010{1 + i // 24}T{i % 24:02d}0000000000Z"
        for v in ("partner", "public"):
            folder = snapshot_dir(store.path, v)
            os.link((after if i >= 20 else before)[v], folder / f"{sid}.duckdb")  # a new file, as publish makes
            (folder / LATEST).write_text(f"{sid}.duckdb")
        assert alerts.notify(_opener(store), now=t0 + _dt.timedelta(minutes=20 * (i + 1))).planned == 0
    assert box.messages == []
    day = alerts.notify(_opener(store), now=t0 + _dt.timedelta(hours=24, minutes=1))
    assert (day.planned, day.sent) == (1, 1)
    [msg] = box.messages
    assert "daily digest" in str(msg["Subject"]) and f"Closed: {site['name']}" in box.text_of(msg)
    assert alerts.notify(_opener(store), now=t0 + _dt.timedelta(hours=30)).planned == 0


def test_a_dashboard_subscription_is_confirmed_by_a_link_before_anything_else_is_sent(world, boxes,
                                                                                    tmp_path):
    store, (box, _hooks) = world, boxes
    _rid, site = _open_class(store, sensitive=False)
    made = alerts.take_request(store, alerts.request("subscribe", email="volunteer@charity.test",
                                                     wards=[site["ward"]], categories=["esol_provider"]))
    assert made["status"] == "pending"
    alerts.notify(_opener(store))
    [first] = box.messages
    assert "confirm" in str(first["Subject"]).lower() and "List-Unsubscribe" not in first
    link = next(w for w in box.text_of(first).split() if "/alerts/confirm?token=" in w)
    flip(store, "closed-4")
    assert alerts.notify(_opener(store)).sent == 0  # not confirmed: nothing but the confirmation
    alerts.take_request(store, alerts.request("confirm", token=link.split("token=", 1)[1]))
    flip(store, "reopened")  # the class reopens
    alerts.notify(_opener(store))
    assert len(box.messages) == 2 and f"Opened: {site['name']}" in box.text_of(box.messages[1])
    assert "Closed" not in box.text_of(box.messages[1])  # before the confirmation: not news


def test_subscribers_are_sealed_in_the_store_and_absent_from_both_snapshots(published, boxes, tmp_path):
    store, (_box, hooks) = published, boxes
    rid, site = _open_class(store, sensitive=False)
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]]), email="private.person@example.test")
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]]), webhook=hooks.url)
    _close(store, tmp_path, rid)
    alerts.notify(_opener(store))
    store.con.execute("CHECKPOINT")
    files = [store.path, *snapshot_dir(store.path).rglob("*.duckdb")]
    for f in files:
        raw = Path(f).read_bytes()
        assert b"private.person@example.test" not in raw and hooks.url.encode() not in raw, f
    listed = alerts.subscriptions(store.con, store.path)
    assert {s["address"] for s in listed} == {"private.person@example.test", hooks.url}
    assert all("secret" not in s and "token" not in s for s in listed)
    assert oct(alerts.key_path(store.path).stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(("who", "where", "said"), [
    ({"email": "not-an-address"}, {"wards": ["E05900001"]}, "is not an email address"),
    ({"webhook": "ftp://example.test/x"}, {"wards": ["E05900001"]}, "is not a webhook URL"),
    ({"email": "a@b.test"}, {}, "say where"),
    ({"email": "a@b.test"}, {"wards": ["E05999999"]}, "no ward E05999999"),
    ({"email": "a@b.test"}, {"wards": ["E05900001"], "on": ["vanished"]}, "--on takes"),
    ({"email": "a@b.test"}, {"wards": ["E05900001"], "categories": ["pubs"]}, "no category pubs"),
    ({"email": "a@b.test", "webhook": "http://x.test/"}, {"wards": ["E05900001"]}, "one of --email or --webhook"),
])
def test_a_subscription_that_cannot_be_taken_says_why(world, who, where, said):
    with pytest.raises(alerts.AlertError, match=said):
        alerts.subscribe(world, alerts.Wanted(**where), **who)
    assert world.scalar("SELECT count(*) FROM subscriptions") == 0


def _cli(*args: str, env_db: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assetmap.cli", *args, "--db", str(env_db)], capture_output=True,
                          text=True, timeout=120, cwd=REPO)


def test_the_command_line_subscribes_lists_notifies_and_unsubscribes(world, boxes, tmp_path,
                                                                    monkeypatch):
    store, (box, _hooks) = world, boxes
    _rid, site = _open_class(store, sensitive=False)
    db = store.path
    store.close()
    monkeypatch.setenv("ASSETMAP_SMTP_URL", box.url)
    made = _cli("subscribe", "--email", "lead@partnership.test", "--ward", site["ward"], "--on", "opened,closed",
                "--category", "esol_provider", "--threshold", "0.2", env_db=db)
    assert made.returncode == 0, made.stderr
    sid = made.stdout.split()[1].rstrip(":")
    listed = _cli("subscriptions", "--json", env_db=db)
    [row] = json.loads(listed.stdout)
    assert (row["subscription_id"], row["address"], row["triggers"], row["threshold"]) == \
        (sid, "lead@partnership.test", ["closed", "opened"], 0.2)
    bad = _cli("subscribe", "--email", "lead@partnership.test", "--ward", "E05999999", env_db=db)
    assert bad.returncode == 2 and "no ward E05999999" in bad.stderr and "Traceback" not in bad.stderr
    with Store(db) as s:
        flip(s, "closed-4")
    sent = _cli("notify", "--json", env_db=db)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["sent"] == 1 and len(box.messages) == 1
    assert json.loads(_cli("notify", "--json", env_db=db).stdout)["sent"] == 0
    gone = _cli("unsubscribe", sid, env_db=db)
    assert gone.returncode == 0 and "ended" in gone.stdout
    assert json.loads(_cli("subscriptions", "--json", env_db=db).stdout) == []



# -- the dashboard's side: its links' pages, and requests carried out by the pipeline's flow ------

@pytest.fixture
def links(tmp_path, monkeypatch):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from dashboards import alert_links

    monkeypatch.setattr(settings, "inbox_dir", tmp_path / "inbox")
    with TestClient(Starlette(routes=alert_links.routes())) as client:
        yield client, tmp_path / "inbox" / "submissions"


def test_following_a_link_changes_nothing_until_its_button_is_pressed(links):
    client, folder = links
    for action in ("confirm", "unsubscribe"):
        page = client.get(f"/alerts/{action}", params={"token": "tok-123"})
        assert page.status_code == 200 and "<form method='post'" in page.text and "no-store" in page.headers[
            "cache-control"]
        assert not folder.exists() or not list(folder.iterdir())  # a mail scanner's GET does nothing
    done = client.post("/alerts/confirm?token=tok-123")
    assert done.status_code == 200 and "starting" in done.text
    [req] = folder.glob("alert-*.json")
    assert json.loads(req.read_text()) == {alerts.REQUEST_KEY: "confirm", "token": "tok-123"}
    client.post("/alerts/confirm?token=tok-123")  # the button pressed twice is one request
    assert len(list(folder.glob("alert-*.json"))) == 1


def test_one_click_unsubscribe_as_rfc_8058_posts_it(links):
    client, folder = links
    done = client.post("/alerts/unsubscribe?token=abc", content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "Unsubscribed" in done.text
    [req] = folder.glob("alert-*.json")
    assert json.loads(req.read_text())[alerts.REQUEST_KEY] == "unsubscribe"


def test_a_hostile_token_is_escaped_and_a_missing_one_is_said(links):
    client, _folder = links
    page = client.get("/alerts/unsubscribe", params={"token": "\"><script>alert(1)</script>"})
    assert "<script>alert(1)" not in page.text
    assert client.get("/alerts/confirm").status_code == 400
    assert client.get("/alerts/delete-everything?token=x").status_code == 404


def test_a_dashboard_request_goes_through_the_inbox_flow_to_a_confirmation_email(wired, boxes):
    """The request the dashboard's form leaves in the inbox is taken by the pipeline's own flow
    (as plain Python), which stores it pending and sends the confirmation at once; the
    confirmation, dropped the same way, starts it; a forged one is refused in its report."""
    from pipelines.flows import ingest_file as flow

    db, inbox = wired
    box, _hooks = boxes
    with Store(db) as store:
        ward = store.scalar("SELECT min(code) FROM areas WHERE level = 'ward'")
    path = alerts.to_inbox(alerts.request("subscribe", email="form@example.test", wards=[ward]), inbox)
    out = flow.fn(str(path))
    assert out["status"] == "completed" and out["alert"] == "subscribe", out
    [mail] = box.messages
    link = next(w for w in box.text_of(mail).split() if "/alerts/confirm?token=" in w)
    token = urllib.parse.unquote(link.split("token=", 1)[1])
    forged = flow.fn(str(alerts.to_inbox(alerts.request("confirm", token=token + "x"), inbox)))
    assert forged["status"] == "refused" and forged["reason_code"] == "invalid_alert_request"
    assert flow.fn(str(alerts.to_inbox(alerts.request("confirm", token=token), inbox)))["status"] == "completed"
    with Store(db) as store:
        [sub] = alerts.subscriptions(store.con, store.path)
    assert (sub["address"], sub["status"], sub["made_by"], sub["role"]) == \
        ("form@example.test", "active", "dashboard", "public")
    assert len(box.messages) == 1  # nothing but the confirmation yet


def test_the_form_cannot_flood_an_inbox_with_confirmations(world, boxes):
    store, (box, _hooks) = world, boxes
    ward = store.scalar("SELECT min(code) FROM areas WHERE level = 'ward'")
    ask = alerts.request("subscribe", email="Target@Example.test", wards=[ward])
    first = alerts.take_request(store, ask)
    again = alerts.take_request(store, alerts.request("subscribe", email="target@example.test", wards=[ward]))
    assert again["subscription_id"] == first["subscription_id"]  # the same request: the same subscription
    for cats in (["esol_provider"], ["place_of_worship"]):
        alerts.take_request(store, alerts.request("subscribe", email="target@example.test", wards=[ward],
                                                  categories=cats))
    with pytest.raises(alerts.AlertError, match="waiting for confirmation already"):
        alerts.take_request(store, alerts.request("subscribe", email="target@example.test", wards=[ward],
                                                  categories=["community_centre"]))
    alerts.notify(_opener(store))
    assert len(box.messages) == 3


def test_two_notifiers_at_once_send_each_message_once(world, boxes, monkeypatch):
    """Two workers (here two `assetmap notify` processes) run for the same snapshot at once: the
    store lets one plan and claim at a time, so the message goes once."""
    store, (box, _hooks) = world, boxes
    _rid, site = _open_class(store, sensitive=False)
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]]), email="twice@example.test")
    flip(store, "closed-4")
    db = store.path
    store.close()
    env = {**os.environ, "ASSETMAP_SMTP_URL": box.url}
    cli = Path(sys.executable).with_name("assetmap")
    procs = [subprocess.Popen([str(cli), "notify", "--json", "--db", str(db)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert sorted(o["sent"] for o in outs) == [0, 1] and sorted(o["planned"] for o in outs) == [0, 1]
    assert len(box.messages) == 1


def test_a_claim_whose_process_was_lost_is_never_sent_again(world, boxes):
    """A notifier killed between claiming a message and recording it may have sent it: the claim
    runs out and the message is marked interrupted, at most once rather than twice."""
    store, (box, _hooks) = world, boxes
    _rid, site = _open_class(store, sensitive=False)
    alerts.subscribe(store, alerts.Wanted(wards=[site["ward"]]), email="lost@example.test")
    flip(store, "closed-4")
    t0 = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    alerts.plan(store, t0)
    assert len(alerts.claim(store, t0, who="killed")) == 1  # ... and the process dies here
    assert alerts.claim(store, t0 + _dt.timedelta(seconds=60)) == []  # still its claim
    later = alerts.notify(_opener(store), now=t0 + _dt.timedelta(seconds=alerts.CLAIM_LEASE_S + 1))
    assert later.sent == 0 and box.messages == []
    assert store.con.execute("SELECT status FROM deliveries").fetchall() == [("interrupted",)]
