"""``assetmap up``: start everything, ingest the demo through the pipeline, serve, stop cleanly.

1. a Prefect server on 127.0.0.1 (SQLite under ``.assetmap/prefect``, analytics off), waited
   for until ``/api/health`` answers;
2. the demo data (generated on first use) through the same flows the inbox uses, as flow runs
   the server records, then a full recompute and a published snapshot;
3. the worker (``python -m pipelines.deployments``): deployments triggered by events, and the inbox
   watcher;
4. the dashboard (Streamlit on 127.0.0.1), reading the published snapshots.

Each child runs in its own process group; Ctrl-C or SIGTERM stops every one of them (SIGTERM,
then SIGKILL after a grace period) and nothing is left running.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from assetmap import up_options
from assetmap.settings import settings
from pipelines.processes import Children, free_port, wait_http

log = logging.getLogger("assetmap.up")


def prefect_env(home: Path, port: int, database_url: str | None = None, shared: bool = False) -> dict[str, str]:
    """The Prefect server's and clients' settings: its state in SQLite under the home, or in the
    PostgreSQL database at ``database_url`` (``postgresql+asyncpg://user:pass@host:port/db``);
    ``shared``: workers on other machines may take its runs."""
    prefect_home = home / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    return {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url or f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_CLI_PROMPT": "false",
        # a run waiting for the store's writer limit asks again within about 2 s (Prefect's
        # default lets it sleep up to 30 s after the store was freed)
        "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
        # a dead holder's expired lease is swept within 5 s (Prefect's default: 15 s)
        "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "5",
        # on SQLite, no "Late" service: runs queue behind the store's writer limit by design, and
        # marking each waiting run Late (every 5 s) raced a flood's own writes into "database is
        # locked" tracebacks in the server's log (seen with 200 submissions and 100 files at once)
        **({"PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false"} if not database_url else {}),
        # where workers elsewhere hold the writer limit's leases, they are kept on disk, so a server
        # that restarts still lets a dead holder's lease run out (in memory it would not)
        **({"PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem"}
           if database_url or shared else {}),
        # where workers may be elsewhere, flow runs say they are alive, so a run whose process or
        # machine is lost is noticed (pipelines.recovery.ensure_recovery_automations) and retried
        **({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(settings.heartbeat_s)} if database_url or shared else {}),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="assetmap up")
    ap.add_argument("--db", default=None)
    up_options.add_arguments(ap)
    args = ap.parse_args(argv)
    if args.prefect_db and not args.prefect_db.startswith("postgresql+asyncpg://"):
        ap.error("--prefect-db takes a PostgreSQL URL for asyncpg: postgresql+asyncpg://USER[:PASSWORD]@HOST:PORT/DB")
    if args.no_watch and not args.pool:
        ap.error("--no-watch goes with --pool (without a pool, this machine's watcher is the pipeline's only one)")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)

    db = Path(args.db or settings.db_path).resolve()
    home = Path(settings.home).resolve()
    inbox = Path(settings.inbox_dir).resolve()
    env = dict(os.environ)
    env.update({"ASSETMAP_DB": str(db), "ASSETMAP_HOME": str(home), "ASSETMAP_INBOX": str(inbox),
                "PYTHONUNBUFFERED": "1"})
    from pipelines.inbox import claims_unsafe

    unsafe = claims_unsafe(inbox)
    if unsafe:
        print(f"assetmap up: {unsafe} (ASSETMAP_INBOX sets where it is)", file=sys.stderr)
        return 2
    port = free_port(args.prefect_port)
    env.update(prefect_env(home, port, args.prefect_db, shared=bool(args.pool)))
    os.environ.update(env)
    children = Children(home / "logs")
    stopping = {"now": False}

    def on_signal(signum, frame):
        stopping["now"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # also when started from a script that left SIGINT ignored (as shells do for background jobs)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server = children.start("prefect-server", [sys.executable, "-m", "prefect", "server", "start",
                                                   "--host", args.prefect_host, "--port", str(port)], env)
        # on a new PostgreSQL database the server first makes its tables (about 30 s on 2 cores)
        wait_http(f"http://127.0.0.1:{port}/api/health", 240 if args.prefect_db else 120, server)
        where = "PostgreSQL" if args.prefect_db else "SQLite"
        print(f"Prefect server:  http://127.0.0.1:{port} (API /api, state in {where}; logs {home / 'logs'})",
              flush=True)
        from pipelines.recovery import recover

        # its own server, before any worker of ours: no run can be writing now (unless workers on
        # other machines serve a pool: their leases run out instead)
        for line in recover(db, settings.writer_limit(db), own_server=not (args.prefect_db or args.pool)):
            print(f"Recovered:       {line}", flush=True)

        if not args.no_demo:
            _load_demo()
        (inbox / "submissions").mkdir(parents=True, exist_ok=True)
        worker, watching = _start_pipeline(args, children, env, home, inbox, port)
        if not args.no_dashboard:
            _start_dashboard(args, children, env, home)
        if args.pool and args.workers <= 0 and not watching:
            print("Store:           on the store machines (their ASSETMAP_DB; none here)", flush=True)
        else:
            print(f"Store:           {db} (snapshots in {db.parent / 'snapshots'})", flush=True)
        print("assetmap is up. Ctrl-C stops everything.", flush=True)
        if args.exit_after_start:
            return 0
        return _watch(children, worker)
    except KeyboardInterrupt:
        print("stopping...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        children.stop()
        print("stopped.", flush=True)


def _load_demo() -> None:
    """Generate the synthetic demo city when missing, and ingest, recompute and publish it."""
    from assetmap.demo import generate

    demo = Path(settings.demo_dir)
    if not (demo / "MANIFEST.json").exists():
        log.info("generating the synthetic demo city in %s", demo)
        generate(demo, scale="city")
    from pipelines.flows import refresh_all

    out = refresh_all(str(demo))
    taken = sum(1 for r in out["ingests"] if r["status"] in ("completed", "unchanged"))
    print(f"Demo data:       {taken} of {len(out['ingests'])} files taken, "
          f"{out['recompute']['units']} wards analysed; snapshot {out['recompute']['snapshot']}", flush=True)


def _start_pipeline(args: argparse.Namespace, children: Children, env: dict[str, str], home: Path, inbox: Path,
                    port: int) -> tuple[subprocess.Popen[bytes], bool]:
    """Start the deployments' worker (and, unless told not to, the inbox watcher) and wait until it
    is serving, then the pool's local workers; return it and whether this machine watches."""
    ready = home / "worker.ready"
    ready.unlink(missing_ok=True)
    env["ASSETMAP_WORKER_READY"] = str(ready)
    watching = not (args.pool and args.no_watch)
    worker = children.start("pipeline-worker", [sys.executable, "-m", "pipelines.deployments",
                                                *(["--pool", args.pool] if args.pool else []),
                                                *([] if watching else ["--no-watch"])], env)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if worker.poll() is not None or time.monotonic() > deadline:
            msg = f"the pipeline worker did not start (see {home / 'logs' / 'pipeline-worker.log'})"
            raise RuntimeError(msg)
        time.sleep(0.2)
    if watching:
        print(f"Inbox watcher:   drop files into {inbox} (processed/ and rejected/ beside them)", flush=True)
    if args.pool:
        for i in range(max(0, args.workers)):
            children.start(f"worker-{i + 1}", [sys.executable, "-m", "pipelines.worker", "--pool", args.pool,
                                               "--name", f"{socket.gethostname()}-local-{i + 1}"], env)
        print(f"Work pool:       {args.pool} ({max(0, args.workers)} worker(s) here; on other machines: "
              f"`assetmap worker --pool {args.pool} --api http://<this host>:{port}/api`)", flush=True)
    return worker, watching


def _start_dashboard(args: argparse.Namespace, children: Children, env: dict[str, str], home: Path) -> None:
    """Start the dashboard's replicas (behind HAProxy when more than one) and say where it is."""
    from pipelines.balancer import Dashboards, default_replicas

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the dashboard listens on %s: anyone who can reach this machine there can open "
                    "it (public mode shows no sensitive locations; keep partner mode on loopback)",
                    args.host)
    dash = Dashboards(home, env, replicas=args.replicas or default_replicas(),
                      port=free_port(args.dashboard_port), host=args.host)
    dash.children = children  # stopped with the rest
    dash.start()
    behind = f" ({dash.replicas} replicas behind HAProxy)" if dash.replicas > 1 else ""
    print(f"Dashboard:       {dash.url.rstrip('/')}{behind}", flush=True)


def _watch(children: Children, worker: subprocess.Popen[bytes]) -> int:
    """Keep watch until a part stops: a dashboard replica may (the others serve its visitors);
    anything else stops everything (status 1)."""
    lost: set[str] = set()
    while True:
        replicas = [(n, pr) for n, pr in children.procs if n.startswith("dashboard-")]
        for name, proc in children.procs:
            if proc.poll() is None or name in lost:
                continue
            if (name, proc) in replicas and any(pr.poll() is None for _, pr in replicas):
                # HAProxy sends its visitors to the replicas still up (they reload onto one)
                log.warning("%s exited with status %s; the other replicas serve its visitors",
                            name, proc.returncode)
                lost.add(name)
                continue
            log.error("%s exited with status %s; stopping", name, proc.returncode)
            return 1
        if worker.poll() is not None:
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
