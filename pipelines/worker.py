"""``assetmap worker --pool NAME``: a Prefect process worker, on this machine or any other, that
runs the pipeline's deployments from work pool ``NAME`` against one Prefect API.

- The API is ``--api`` or ``PREFECT_API_URL`` (``http://host:4200/api``); it must answer first.
- ``--limit`` runs at most that many flow runs at once here. Always set: without it the first
  worker to poll takes every waiting run (measured; see ../shared/SCALE-OUT.md).
- The runs write the store named by ``ASSETMAP_DB`` here; whatever machine they run on, they
  take the store's writer limit first (:func:`pipelines.flows.ensure_writer_limit`), so two
  never write it at once.
- ``--watch`` also watches this machine's inbox (``ASSETMAP_INBOX``), for a store that lives
  here rather than beside the API.

The worker runs as a child in its own process group; SIGTERM or Ctrl-C stops it (TERM, then KILL
after a grace period: ``prefect worker start`` can ignore TERM for more than ten seconds). It is
started through util-linux's ``setpriv --pdeathsig KILL``, so the kernel stops it when this
process dies in any way, ``kill -9`` included: no orphaned Prefect worker keeps taking runs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

from assetmap.settings import settings

log = logging.getLogger("assetmap.worker")


def _api_answers(api: str) -> str | None:
    """None when the API's health check answers; else why not."""
    try:
        with urllib.request.urlopen(api.rstrip("/") + "/health", timeout=5) as r:  # noqa: S310 (configured URL)
            return None if r.status == 200 else f"status {r.status}"
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="assetmap worker")
    ap.add_argument("--pool", required=True, help="the work pool whose runs this worker takes")
    ap.add_argument("--limit", type=int, default=2, help="flow runs at once on this worker (default 2)")
    ap.add_argument("--name", default=None, help="this worker's name (default host:pid)")
    ap.add_argument("--api", default=None, help="the Prefect API (default PREFECT_API_URL)")
    ap.add_argument("--poll", type=float, default=1.0, help="seconds between asks for waiting runs (default 1)")
    ap.add_argument("--watch", action="store_true", help="also watch this machine's inbox (ASSETMAP_INBOX)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    api = args.api or os.environ.get("PREFECT_API_URL")
    if not api:
        log.error("no Prefect API: give --api http://HOST:PORT/api or set PREFECT_API_URL (the server is "
                  "started by `assetmap up --prefect-db postgresql+asyncpg://…` on its machine)")
        return 2
    why = _api_answers(api)
    if why:
        log.error("the Prefect API at %s does not answer (%s): start it with `assetmap up` on its machine, "
                  "or give the right --api", api, why)
        return 2
    if args.limit < 1:
        log.error("--limit must be at least 1")
        return 2
    if args.watch:
        from pipelines.inbox import claims_unsafe

        unsafe = claims_unsafe(settings.inbox_dir)
        if unsafe:
            log.error("cannot watch: %s", unsafe)
            return 2
    name = args.name or f"{socket.gethostname()}-{os.getpid()}"
    env = {**os.environ, "PREFECT_API_URL": api, "ASSETMAP_WORKER_NAME": name,
           "PREFECT_WORKER_QUERY_SECONDS": str(args.poll), "PREFECT_WORKER_PREFETCH_SECONDS": "5",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_CLI_PROMPT": "false",
           # its runs say they are alive: one lost with this machine is retried elsewhere
           "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(settings.heartbeat_s),
           "ASSETMAP_DB": str(settings.db_path.resolve()), "ASSETMAP_HOME": str(settings.home.resolve()),
           # the deployments' command is `python -m prefect.engine`: this interpreter's
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)])}
    os.environ.update({"PREFECT_API_URL": api})
    from pipelines.flows import ensure_writer_limit

    limit = ensure_writer_limit()
    cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", args.pool, "--type", "process",
           "--limit", str(args.limit), "--name", name]
    setpriv = shutil.which("setpriv")  # util-linux: the Prefect worker dies with us, even by kill -9
    if setpriv:
        # KILL, not TERM: on TERM Prefect's worker shuts down gracefully, which can take minutes
        # and meanwhile it went on taking runs (seen with runs in flight); its runs finish on their own
        cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
    else:
        log.warning("setpriv (util-linux) is not installed: if this process is killed, stop the Prefect worker "
                    "it started by hand")
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    log.info("worker %s on pool %s (at most %d runs at once), store %s behind %s", name, args.pool, args.limit,
             env["ASSETMAP_DB"], limit)
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher = None
    if args.watch:
        from pipelines.deployments import emit_file_received, run_at_work
        from pipelines.inbox import InboxWatcher

        watcher = InboxWatcher(settings.inbox_dir, emit_file_received, keep_claims=run_at_work)
        watcher.start()
        log.info("watching %s", settings.inbox_dir)
    try:
        while not stopping.wait(0.5):
            if proc.poll() is not None:
                log.error("the Prefect worker exited with status %s", proc.returncode)
                return 1
        return 0
    finally:
        if watcher is not None:
            watcher.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.info("worker %s stopped", name)


if __name__ == "__main__":
    sys.exit(main())
