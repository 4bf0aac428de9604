"""Starting and stopping the processes a deployment runs: each child in its own process group
(:class:`Children`), waiting for one to answer or to say it is ready, a free loopback port, and
how a dashboard replica is started. ``assetmap up`` and the balancer both use these.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("assetmap.up")
REPO = Path(__file__).resolve().parents[1]


def dashboard_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """How the dashboard is served: on ``host`` (loopback unless a room's network is asked for);
    ``dashboards.serve`` adds the rest of a replica's options itself (headless, no usage
    statistics, the static folder served, modules warmed first), however it is started."""
    return [sys.executable, "-m", "dashboards.serve", "--server.address", host, "--server.port", str(port)]


def free_port(preferred: int) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    msg = "no free port on 127.0.0.1"
    raise RuntimeError(msg)


def _shown(proc: subprocess.Popen) -> str:
    """The start of a child's command line, for a message."""
    args = proc.args
    return str(list(args[:4]) if isinstance(args, list | tuple) else args)


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            msg = f"{_shown(proc)} exited with status {proc.returncode} before {url} answered"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (our loopback servers)
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.3)
    msg = f"{url} did not answer within {timeout:.0f} s"
    raise TimeoutError(msg)


def wait_file(path: Path, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Wait for ``path`` to appear with something in it (a child's "ready"; a confined replica
    opens it empty before confining itself), failing early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size > 0):
        if proc is not None and proc.poll() is not None:
            msg = f"{_shown(proc)} exited with status {proc.returncode} before it was ready"
            raise RuntimeError(msg)
        if time.monotonic() > deadline:
            msg = f"{path} did not appear within {timeout:.0f} s"
            raise TimeoutError(msg)
        time.sleep(0.1)


class Children:
    """The processes ``up`` started, each in its own process group."""

    def __init__(self, logs: Path) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child's life)
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, proc))
        log.info("started %s (pid %d): %s", name, proc.pid, " ".join(cmd[:6]))
        return proc

    def stop(self, grace: float = 8.0) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, proc in reversed(self.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # whatever is left in the group (the child's own children too) goes now
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            log.info("stopped %s", name)
