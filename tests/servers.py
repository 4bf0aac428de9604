"""Real servers the partnership tests start, on loopback ports chosen free, and stop:

- :func:`moto_s3`: ``moto_server`` (moto 5.2.5) as the S3 endpoint;
- :func:`postgres`: a throwaway PostgreSQL 15 cluster (Debian's ``postgresql``; ``initdb`` as the
  ``postgres`` user when the tests run as root, which it refuses to be);
- :func:`oidc_provider`: ``oidc-provider-mock`` 0.3.4 as the identity provider, with users and
  their claims given.

Each names the command that installs it when it is missing, and skips rather than fails only
when that cannot be done here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.processes import free_port, wait_http

BIN = Path(sys.executable).parent
PG_BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None) \
    if Path("/usr/lib/postgresql").exists() else None


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a server started in its own process group: TERM, then KILL after ``grace``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 (the child's log, open for its life)
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env, cwd=cwd)


@contextlib.contextmanager
def moto_s3(logs: Path, bucket: str | None = "assetmap") -> Iterator[dict[str, str]]:
    """An S3 endpoint with ``bucket`` made (none: no bucket yet); yields the ``AWS_*`` variables
    that reach it."""
    exe = BIN / "moto_server"
    if not exe.exists():
        pytest.fail("moto_server is missing: run `make test` once (it installs moto from constraints.txt)")
    port = free_port(0)
    proc = start([str(exe), "-H", "127.0.0.1", "-p", str(port)], logs / "moto.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", 60, proc)
        env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "assetmap-test",
               "AWS_SECRET_ACCESS_KEY": "assetmap-test-secret", "AWS_DEFAULT_REGION": "eu-west-2"}
        import boto3

        if bucket:
            boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"]
                         ).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        yield env
    finally:
        stop(proc)


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres(logs: Path, database: str | None = "prefect") -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port with a ``database`` (none: only the
    cluster, whose superuser ``postgres`` is trusted on loopback); yields its SQLAlchemy URL for
    Prefect (``postgresql+asyncpg://postgres@127.0.0.1:PORT/DATABASE``). Removed afterwards."""
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL is missing: `apt-get install postgresql` (.ci/run does it)")
    data = Path(tempfile.mkdtemp(prefix="assetmap-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port(0)
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data / "db"), "-U", "postgres",
                                     "--auth=trust", "--no-sync"]),
                       check=True, capture_output=True, cwd="/")
        opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data} -c fsync=off"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-o", opts,
                                     "-l", str(data / "pg.log"), "-w", "start"]),
                       check=True, capture_output=True, cwd="/")
        if database:
            subprocess.run(_as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                                         "-U", "postgres", database]), check=True, capture_output=True, cwd="/")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database or 'postgres'}"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"]),
                       capture_output=True, cwd="/")
        with contextlib.suppress(OSError):
            logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(data / "pg.log", logs / "postgres.log")
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def oidc_provider(logs: Path, users: list[dict]) -> Iterator[str]:
    """``oidc-provider-mock`` with these users (each a dict of claims with ``sub``) offered on its
    authorisation page; yields its issuer URL."""
    exe = BIN / "oidc-provider-mock"
    if not exe.exists():
        pytest.fail("oidc-provider-mock is missing: run `make test` once (it installs it from constraints.txt)")
    port = free_port(0)
    cmd = [str(exe), "-H", "127.0.0.1", "-p", str(port), "--require-nonce", "true"]
    for user in users:
        cmd += ["--user-claims", json.dumps(user)]
    proc = start(cmd, logs / "oidc.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/.well-known/openid-configuration", 60, proc)
        yield url
    finally:
        stop(proc)


def wait_until(check, timeout: float, every: float = 0.5, what: str = "condition"):
    """Poll ``check()`` until it returns something true; return it (fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} not met within {timeout:.0f} s")


@contextlib.contextmanager
def assetmap_workers(tmp_path: Path, api: str, env: dict[str, str], names: list[str], pool: str,
                     limit: int = 2) -> Iterator[list[subprocess.Popen]]:
    """``assetmap worker --pool POOL`` once per name, each in a folder (and home) of its own, as
    on machines of their own sharing the store; yielded once all are online, stopped at the end."""
    procs: list[subprocess.Popen] = []
    try:
        for name in names:
            folder = tmp_path / name
            folder.mkdir()
            cli = Path(sys.executable).with_name("assetmap")
            procs.append(start([str(cli), "worker", "--pool", pool, "--limit", str(limit), "--name", name,
                                "--api", api, "--poll", "1"], folder / "worker.log",
                               env={**env, "ASSETMAP_HOME": str(folder / ".assetmap")}, cwd=folder))

        def online() -> bool:
            if any(p.poll() is not None for p in procs):
                pytest.fail("a worker exited: see its worker.log")
            req = urllib.request.Request(f"{api}/work_pools/{pool}/workers/filter", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                seen = {w["name"] for w in json.loads(r.read()) if w.get("status") == "ONLINE"}
            return set(names) <= seen

        wait_until(online, 90, what="the workers online")
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                stop(p, grace=12)
