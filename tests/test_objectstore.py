"""Snapshots on S3-compatible storage, against a real S3 endpoint (``moto_server``) started here:
``publish`` uploads each variant and then its ``LATEST``; a machine without the store (another
folder, another home) follows ``LATEST`` there; a dashboard served from that folder shows a
snapshot it only ever got from the bucket. Slow: run alone with ``pytest -m slow tests/test_objectstore.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

from assetmap import objectstore
from assetmap.db.store import connect
from assetmap.settings import settings
from assetmap.snapshots import latest_path, list_snapshots, open_snapshot, publish, upload_snapshot
from pipelines.processes import dashboard_command, free_port, wait_file, wait_http
from tests.conftest import REPO, wait_for
from tests.servers import moto_s3, stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto-logs")) as env:
        yield env


@pytest.fixture
def bucket(s3, monkeypatch, tmp_path):
    for k, v in s3.items():
        monkeypatch.setenv(k, v)
    url = f"s3://assetmap/{tmp_path.name}"  # a prefix of each test's own
    monkeypatch.setattr(settings, "snapshot_url", url)
    objectstore.forget()
    yield url
    objectstore.forget()


def _keys(prefix: str) -> dict[str, bytes]:
    client = boto3.client("s3")
    listed = client.list_objects_v2(Bucket="assetmap", Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) + 1:]: client.get_object(Bucket="assetmap", Key=o["Key"])["Body"].read()
            for o in listed}


def _elsewhere(monkeypatch, tmp_path: Path) -> Path:
    """This process as a machine without the working store: another home, no store file."""
    other = tmp_path / "elsewhere"
    monkeypatch.setattr(settings, "home", other / ".assetmap")
    monkeypatch.setattr(settings, "db_path", other / ".assetmap" / "assetmap.duckdb")
    objectstore.forget()
    return settings.db_path


def test_publish_uploads_each_variant_then_its_pointer(full_store, bucket, monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "keep_snapshots", 2)
    snaps = [publish(full_store, reason=f"upload {i}") for i in range(3)]
    prefix = bucket.split("/", 3)[3]
    objects = _keys(prefix)
    last = snaps[-1].snapshot_id
    for variant in ("public", "partner"):
        assert objects[f"{variant}/LATEST"].decode() == f"{last}.duckdb"
        kept = sorted(k for k in objects if k.startswith(variant + "/") and k.endswith(".duckdb"))
        assert kept == [f"{variant}/{s.snapshot_id}.duckdb" for s in snaps[-2:]]  # older ones pruned
        local = Path(list_snapshots(full_store.path, variant)[0]["path"]).read_bytes()
        assert objects[f"{variant}/{last}.duckdb"] == local
    assert snaps[-1].url == f"s3://assetmap/{prefix}/partner/{last}.duckdb"

    # another machine follows the bucket: what it opens is what was published, and only that
    db = _elsewhere(monkeypatch, tmp_path)
    assert not db.exists() and list_snapshots(db) == []
    public = latest_path(db, "public")
    assert public is not None and public.parent == objectstore.cache_dir("public") and public.name == f"{last}.duckdb"
    con = connect(public, read_only=True)
    try:
        assert con.execute("SELECT value FROM snapshot_info WHERE key = 'variant'").fetchone() == ("public",)
        assert con.execute("SELECT count(*) FROM assets WHERE sensitive").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM assets").fetchone()[0] == \
            full_store.scalar("SELECT count(*) FROM assets WHERE NOT sensitive")
    finally:
        con.close()
    assert not db.exists()  # following never makes a working store
    assert [s["variant"] for s in list_snapshots(db)] == ["public"]  # only what it asked for


def test_a_follower_takes_a_new_snapshot_once_and_keeps_serving_when_the_bucket_is_away(
        full_store, bucket, monkeypatch, tmp_path):
    first = publish(full_store, reason="one").snapshot_id
    db = _elsewhere(monkeypatch, tmp_path)
    assert latest_path(db, "public").stem == first
    monkeypatch.setattr(settings, "snapshot_poll_s", 3600.0)
    # published meanwhile, but asked again only after the poll interval
    second = publish(full_store, reason="two").snapshot_id
    assert latest_path(db, "public").stem == first
    objectstore.forget()
    # the copy in hand at once, the bucket asked in the background, the new one from then on
    assert latest_path(db, "public").stem == first
    wait_for(lambda: latest_path(db, "public").stem == second, 30, "the new snapshot downloaded in the background")
    assert sorted(p.stem for p in objectstore.cache_dir("public").glob("*.duckdb")) == sorted([first, second])

    # the bucket out of reach: the copy in hand is served; with none in hand, the error says what to check
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port(0)}")
    objectstore.forget()
    assert latest_path(db, "public").stem == second
    with pytest.raises(objectstore.ObjectStoreError, match="ASSETMAP_SNAPSHOT_URL, AWS_ENDPOINT_URL"):
        latest_path(db, "partner")


def test_a_visited_follower_downloads_a_publish_before_the_next_page_asks(full_store, bucket, monkeypatch, tmp_path):
    """While pages ask for a variant, the replica watches the bucket: a snapshot published
    meanwhile is downloaded in the background, so the next page (one load after the publish, not
    two) already opens it; nobody asking for ten minutes stops the watching."""
    first = publish(full_store, reason="one").snapshot_id
    db = _elsewhere(monkeypatch, tmp_path)
    monkeypatch.setattr(settings, "snapshot_poll_s", 0.5)
    assert latest_path(db, "public").stem == first  # a page asks once
    second = publish(full_store, reason="two").snapshot_id
    # no page asks; the new file arrives in the cache by itself
    wait_for(lambda: (objectstore.cache_dir("public") / f"{second}.duckdb").exists(), 30,
             "the publish downloaded without a page asking")
    assert latest_path(db, "public").stem == second  # the next page has it at once
    assert not (objectstore.cache_dir("partner")).exists()  # only the variant pages asked for
    monkeypatch.setattr(objectstore, "WATCH_IDLE_S", 0.0)
    wait_for(lambda: not any(t.is_alive() for t in list(objectstore._watchers.values())), 10, "the watch stopped")
    objectstore.forget()


@contextlib.contextmanager
def _hanging_endpoint():
    """An S3 endpoint that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop_now = threading.Event()

    def hold() -> None:
        server.settimeout(0.2)
        while not stop_now.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop_now.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_a_bucket_that_hangs_or_refuses_holds_up_no_writer_and_no_page(full_store, bucket, s3, monkeypatch, tmp_path):
    """Issue 25, item 2: the pipeline publishes locally, lets go of the store, then uploads (and
    fails loudly, naming the endpoint, within the client's timeouts); a follower serves the copy it
    has at once and asks the bucket in the background."""
    from pipelines import flows

    first = publish(full_store, reason="before the bucket hangs").snapshot_id
    db = full_store.path
    full_store.close()
    monkeypatch.setattr(settings, "db_path", db)
    monkeypatch.setattr(settings, "bucket_timeout_s", 1.0)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    real_upload, store_free = objectstore.upload, []

    def upload(*args, **kwargs):  # while the upload runs, can another process take the store?
        probe = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(db)!r}).close()"],
                               capture_output=True, timeout=60)
        store_free.append(probe.returncode == 0)
        return real_upload(*args, **kwargs)

    monkeypatch.setattr(objectstore, "upload", upload)
    with _hanging_endpoint() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        t0 = time.monotonic()
        with pytest.raises(objectstore.ObjectStoreError, match=re.escape(endpoint)), flows._writing() as store:
            snap = flows._publish(store, reason="while the bucket hangs")
        took = time.monotonic() - t0
        assert store_free == [True] and took < 30, (store_free, took)
        assert latest_path(db, "partner").stem == snap.snapshot_id  # published here all the same

        # a follower elsewhere with a copy in hand serves it at once
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3["AWS_ENDPOINT_URL"])
        other = _elsewhere(monkeypatch, tmp_path)
        assert latest_path(other, "public").stem == first
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        objectstore.forget()
        t0 = time.monotonic()
        assert latest_path(other, "public").stem == first
        assert time.monotonic() - t0 < 1.0
    # the bucket still names the snapshot from before: LATEST moves only after a whole upload
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3["AWS_ENDPOINT_URL"])
    assert _keys(bucket.split("/", 3)[3])["partner/LATEST"].decode() == f"{first}.duckdb"
    # an endpoint that refuses: named as quickly
    refused = f"http://127.0.0.1:{free_port(0)}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", refused)
    t0 = time.monotonic()
    with pytest.raises(objectstore.ObjectStoreError, match=re.escape(refused)):
        upload_snapshot(snap)
    assert time.monotonic() - t0 < 30


def test_a_dashboard_in_another_folder_serves_the_snapshot_it_got_from_the_bucket(
        full_store, bucket, s3, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

    snap = publish(full_store, reason="for the replica elsewhere")
    other = tmp_path / "replica"
    other.mkdir()
    port = free_port(0)
    ready = other / "ready"
    env = {**os.environ, **s3, "ASSETMAP_SNAPSHOT_URL": bucket, "ASSETMAP_HOME": str(other / ".assetmap"),
           "ASSETMAP_DB": str(other / ".assetmap" / "assetmap.duckdb"), "ASSETMAP_DASHBOARD_READY": str(ready),
           "PYTHONPATH": str(REPO)}
    env.pop("ASSETMAP_SNAPSHOTS", None)
    cmd = dashboard_command(port)
    proc = subprocess.Popen(cmd, cwd=other, env=env, stdout=open(other / "dashboard.log", "wb"),  # noqa: SIM115
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 120, proc)
        wait_file(ready, 120, proc)
        if not CHROMIUM.exists():
            pytest.skip("chromium is not installed (.ci/run installs it)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/provenance")
            page.get_by_text(f"snapshot {snap.snapshot_id}").first.wait_for(timeout=60_000)
            assert "public view" in page.inner_text("body")
            browser.close()
    finally:
        stop(proc)
    cached = list((other / ".assetmap" / "snapshot-cache" / "public").glob("*.duckdb"))
    assert [c.stem for c in cached] == [snap.snapshot_id]
    assert not (other / ".assetmap" / "assetmap.duckdb").exists()
    assert not (other / ".assetmap" / "snapshot-cache" / "partner").exists()  # a public replica holds no partner file
    from assetmap import confine

    if confine.available():  # and its process could not open one: it confined itself to the public cache
        assert "confined to the public snapshots" in (other / "dashboard.log").read_text(errors="replace")
    con = open_snapshot(full_store.path, snap.snapshot_id, variant="public")
    con.close()
