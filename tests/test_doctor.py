"""`assetmap doctor` names each part of a deployment that is not right, and what fixes it.

Each part is made to fail here the way it fails in the field: a store that is missing or was
written by an older assetmap, a Prefect API that refuses or hangs, a pool with no live worker, a
writer limit that lets two writers in, a bucket that refuses, does not exist or holds no
``LATEST``, an identity provider that lacks the groups claim, a replica that stopped, map
scripts that were altered. The whole deployment answering "fine" is checked against the real
servers in ``tests/test_deploy_guide.py``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from assetmap.settings import settings
from pipelines import doctor
from tests.servers import moto_s3


@contextlib.contextmanager
def answering(routes: dict[str, object]):
    """A local HTTP server answering ``routes`` (path -> JSON body, or an int status); its URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = routes.get(self.path.split("?")[0], 404)
            if isinstance(body, int):
                self.send_response(body)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextlib.contextmanager
def hanging():
    """A socket that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_the_store_missing_older_or_fine(analysed_store, tmp_path):
    missing = doctor.check_store(tmp_path / "none.duckdb")
    assert missing.ok is False and "does not exist" in missing.said and "assetmap ingest" in missing.fix
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute("CREATE TABLE schema_migrations (version INTEGER, applied_at TIMESTAMP)")
    con.execute("INSERT INTO schema_migrations VALUES (3, now())")
    con.close()
    older = doctor.check_store(old)
    assert older.ok is False and "schema version 3" in older.said and older.fix == f"`assetmap migrate --db {old}`"
    path = analysed_store.path
    analysed_store.close()
    fine = doctor.check_store(path)
    assert fine.ok is True and "schema version" in fine.said


def test_a_prefect_api_that_refuses_or_hangs_is_named_within_seconds(monkeypatch):
    import time

    monkeypatch.setattr(doctor, "TIMEOUT_S", 1.0)
    refused = doctor.check_prefect(_closed_port() + "/api")
    assert refused.ok is False and "does not answer" in refused.said and "assetmap up" in refused.fix
    with hanging() as url:
        t0 = time.monotonic()
        hung = doctor.check_prefect(url + "/api")
        assert time.monotonic() - t0 < 5
    assert hung.ok is False and "no answer within 1 s" in hung.said


def test_a_pool_without_live_workers_and_a_writer_limit_that_lets_two_in(tmp_path):
    """Answers in the shapes the Prefect API gives them (see the partnership test for the real one)."""
    db = tmp_path / "store.duckdb"
    limit = settings.writer_limit(db)
    routes: dict[str, object] = {
        "/api/work_pools/missing": 404,
        "/api/work_pools/assetmap": {"name": "assetmap", "type": "process"},
        "/api/work_pools/assetmap/workers/filter": [{"name": "w1", "status": "OFFLINE"}],
        "/api/deployments/filter": [{"name": "inbox", "status": "NOT_READY"}, {"name": "assets-changed"}],
        f"/api/v2/concurrency_limits/{limit.replace(':', '%3A')}": {"name": limit, "limit": 2, "active": True,
                                                                    "active_slots": 0},
    }
    with answering(routes) as url:
        api = url + "/api"
        none = doctor.check_pipeline(api, "missing")
        assert none.ok is False and "no work pool 'missing'" in none.said and "--pool missing" in none.fix
        offline = doctor.check_pipeline(api, "assetmap")
        assert offline.ok is False and "no live worker (1 offline)" in offline.said
        assert "assetmap worker --pool assetmap" in offline.fix
        served = doctor.check_pipeline(api, None)
        assert served.ok is False and "NOT_READY" in served.said
        two = doctor.check_writer(api, db)
        assert two.ok is False and "allows 2 writers" in two.said and "--limit 1" in two.fix
        routes["/api/work_pools/assetmap/workers/filter"] = [{"name": "w1", "status": "ONLINE"}]
        routes[f"/api/v2/concurrency_limits/{limit.replace(':', '%3A')}"] = {
            "name": limit, "limit": 1, "active": True, "active_slots": 1}
        routes[f"/api/variables/name/{settings.writer_holder_variable(db)}"] = {
            "value": {"worker": "w2", "flow_run_id": "abc", "since": 0}}
        assert doctor.check_pipeline(api, "assetmap").ok is True
        held = doctor.check_writer(api, db)
        assert held.ok is True and "held by w2 (flow run abc)" in held.said
        del routes[f"/api/v2/concurrency_limits/{limit.replace(':', '%3A')}"]
        gone = doctor.check_writer(api, db)
        assert gone.ok is False and "does not exist" in gone.said


def test_a_bucket_that_refuses_is_missing_or_holds_no_latest(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "bucket_timeout_s", 2.0)
    monkeypatch.setenv("AWS_ENDPOINT_URL", _closed_port())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    refused = doctor.check_bucket("s3://assetmap/wmsmp")
    assert refused.ok is False and "127.0.0.1" in refused.said and "AWS_ENDPOINT_URL" in refused.fix
    with moto_s3(tmp_path) as env:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        nosuch = doctor.check_bucket("s3://no-such-bucket/x")
        assert nosuch.ok is False and "NoSuchBucket" in nosuch.said and "make it" in nosuch.fix
        empty = doctor.check_bucket("s3://assetmap/wmsmp")
        assert empty.ok is False and "holds no LATEST" in empty.said and "assetmap publish" in empty.fix
        import boto3

        boto3.client("s3").put_object(Bucket="assetmap", Key="wmsmp/public/LATEST", Body=b"20261204T000000Z.duckdb")
        fine = doctor.check_bucket("s3://assetmap/wmsmp")
        assert fine.ok is True and "LATEST 20261204T000000Z.duckdb" in fine.said


def test_an_identity_provider_without_the_groups_claim_or_a_client(monkeypatch):
    meta = {"issuer": "http://idp", "authorization_endpoint": "http://idp/auth", "token_endpoint": "http://idp/token",
            "jwks_uri": "http://idp/jwks", "claims_supported": ["sub", "email"]}
    with answering({"/.well-known/openid-configuration": meta}) as url:
        metadata = url + "/.well-known/openid-configuration"
        monkeypatch.setattr(settings, "oidc", {"metadata_url": metadata, "client_id": "", "client_secret": "",
                                               "redirect_uri": "", "cookie_secret": ""})
        unset = doctor.check_identity(metadata)
        assert unset.ok is False and "ASSETMAP_OIDC_CLIENT_ID" in unset.said
        assert "one per replica reached directly" in unset.fix
        monkeypatch.setattr(settings, "oidc", {"metadata_url": metadata, "client_id": "assetmap", "client_secret": "s",
                                               "redirect_uri": "http://dash/", "cookie_secret": "c"})
        claimless = doctor.check_identity(metadata)
        assert claimless.ok is False and "'groups'" in claimless.said and "ASSETMAP_ROLES_CLAIM" in claimless.fix
        meta["claims_supported"].append("groups")
        assert doctor.check_identity(metadata).ok is True
    refused = doctor.check_identity(_closed_port() + "/.well-known/openid-configuration")
    assert refused.ok is False and "does not answer" in refused.said


def test_a_replica_that_stopped_behind_haproxy(tmp_path):
    with answering({"/_stcore/health": "ok"}) as front, answering({"/_stcore/health": "ok"}) as replica:
        dead = _closed_port()
        (tmp_path / "haproxy.cfg").write_text(
            "backend replicas\n"
            f"    server r1 {replica.removeprefix('http://')} check cookie r1\n"
            f"    server r2 {dead.removeprefix('http://')} check cookie r2\n")
        one_down = doctor.check_dashboard(front, tmp_path)
        assert one_down.ok is False and "1 of 2 replicas do not" in one_down.said
        (tmp_path / "haproxy.cfg").write_text(
            f"backend replicas\n    server r1 {replica.removeprefix('http://')} check cookie r1\n")
        assert doctor.check_dashboard(front, tmp_path).ok is True
    down = doctor.check_dashboard(_closed_port(), tmp_path)
    assert down.ok is False and "assetmap up" in down.fix


def test_altered_map_scripts(tmp_path):
    from dashboards import vendor

    copy = tmp_path / "vendor"
    shutil.copytree(vendor.VENDOR, copy)
    assert doctor.check_map_scripts(copy).ok is True
    victim = next(iter(vendor.FILES_SHA256))
    (copy / victim).write_text("// altered")
    altered = doctor.check_map_scripts(copy)
    assert altered.ok is False and victim in altered.said and altered.fix == vendor.FIX


def test_a_mail_server_that_speaks_starttls_or_does_not_answer(tmp_path):
    from tests.mail_servers import Mailbox

    box = Mailbox(tmp_path / "tls").start()
    try:
        ok = doctor.check_mail(box.url)
    finally:
        box.stop()
    assert ok.ok and "STARTTLS" in ok.said, ok
    gone = doctor.check_mail(f"smtp://127.0.0.1:{box.port}")
    assert gone.ok is False and f"127.0.0.1:{box.port}" in gone.said and "ASSETMAP_SMTP_URL" in gone.fix
    assert doctor.check_mail("http://mail.example.test").ok is False


def test_the_command_prints_a_line_per_part_and_fails_when_one_does(analysed_store, tmp_path):
    path = analysed_store.path
    analysed_store.close()
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith(("ASSETMAP_SNAPSHOT", "ASSETMAP_OIDC", "ASSETMAP_SMTP", "PREFECT_API"))}
    cli = Path(sys.executable).with_name("assetmap")
    out = subprocess.run([str(cli), "doctor", "--db", str(path), "--api", _closed_port() + "/api", "--no-dashboard"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    parts = [ln.split()[1] for ln in lines if ln.startswith(("ok", "FAIL", "--"))]
    assert parts == ["store", "prefect", "pipeline", "writer", "bucket", "identity", "mail", "dashboard", "map"], \
        lines
    assert lines[0].startswith("ok") and lines[1].startswith("FAIL") and "Traceback" not in out.stderr
    assert "1 part(s) need attention: prefect" in out.stdout
    as_json = subprocess.run([str(cli), "doctor", "--db", str(path), "--api", _closed_port() + "/api",
                              "--no-dashboard", "--json"], capture_output=True, text=True, env=env, timeout=120)
    checks = json.loads(as_json.stdout)
    assert [c["ok"] for c in checks if c["part"] in ("store", "prefect")] == [True, False]


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch):
    monkeypatch.setattr(settings, "snapshot_url", "")


def test_a_replica_machine_is_not_asked_for_a_store_or_prefect(tmp_path, monkeypatch):
    """`doctor --replica` on a machine that serves dashboards from the bucket: no store or Prefect
    API is expected there (they would fail: none is meant to be), but without a bucket it has
    nothing to serve, which it says."""
    monkeypatch.setattr(settings, "snapshot_url", "")
    checks = {c.part: c for c in doctor.run(tmp_path / "none.duckdb", "http://127.0.0.1:9/api", None, None,
                                            tmp_path, replica=True)}
    assert checks["store"].ok is False and "ASSETMAP_SNAPSHOT_URL" in checks["store"].fix
    assert checks["prefect"].ok is None and "pipeline" not in checks
    monkeypatch.setattr(settings, "snapshot_url", "s3://assetmap/x")
    monkeypatch.setattr(doctor, "check_bucket", lambda url: doctor.Check("bucket", True, url))
    checks = {c.part: c for c in doctor.run(tmp_path / "none.duckdb", "http://127.0.0.1:9/api", None, None,
                                            tmp_path, replica=True)}
    assert checks["store"].ok is None and checks["bucket"].ok is True
    assert not [c.part for c in checks.values() if c.ok is False]
