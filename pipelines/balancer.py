"""Dashboard replicas behind HAProxy: how a room of sixty is served on one machine.

One Streamlit process serves its sessions one thread each behind one interpreter lock, so a
room of people opening the link together queues behind it. ``assetmap up`` therefore starts
``N`` dashboard servers (one per core by default, when HAProxy is installed) on loopback ports,
all with one shared ``server.cookieSecret``, and Debian's ``haproxy`` in front:

- cookie stickiness (``cookie ASSETMAP_REPLICA insert indirect nocache httponly``), not the
  source address, so a room behind one NAT still spreads over the replicas, and a session's
  websocket, media and uploads all reach the replica that holds it;
- health checks on ``/_stcore/health``; ``option redispatch``, so the visitors of a replica
  that stops land on another when they reload;
- ``timeout tunnel 1h`` for the websockets.

Without ``haproxy`` it runs one replica and says how to install it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

log = logging.getLogger("assetmap.up")

INSTALL_HAPROXY = "apt-get install haproxy"


# `--host 0.0.0.0` serves other machines, on purpose; only ever from the command line
_ANY_V4 = "0.0.0.0"  # noqa: S104

def haproxy_path() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)


def default_replicas() -> int:
    """One replica per core when HAProxy is installed, else one."""
    return max(1, os.cpu_count() or 1) if haproxy_path() else 1


def haproxy_config(bind_host: str, bind_port: int, backends: list[int]) -> str:
    """The HAProxy configuration: one front door, the replicas behind it, sticky by cookie."""
    servers = "\n".join(f"    server r{i + 1} 127.0.0.1:{port} check cookie r{i + 1}"
                        for i, port in enumerate(backends))
    return f"""# written by assetmap up: the dashboard's replicas behind one address
global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 30s
    option redispatch
    retries 2

frontend dashboard
    bind {bind_host}:{bind_port}
    default_backend replicas

backend replicas
    balance roundrobin
    cookie ASSETMAP_REPLICA insert indirect nocache httponly
    option httpchk GET /_stcore/health
    http-check expect status 200
    default-server inter 2s fall 2 rise 1
{servers}
"""


class Dashboards:
    """Start ``replicas`` dashboard servers (and HAProxy in front of more than one); stop them.

    Parameters
    ----------
    home
        The assetmap home: logs, ready files, the cookie secret and ``haproxy.cfg`` go there.
    env
        The environment of the servers (the store and home already set).
    replicas
        How many servers; more than one needs ``haproxy``.
    port
        The one address visitors use (HAProxy's with several replicas, else the server's own).
    host
        Where that address listens: loopback by default; another address opens it to a room's
        network.
    """

    def __init__(self, home: Path, env: dict[str, str], replicas: int = 1, port: int = 8501,
                 host: str = "127.0.0.1") -> None:
        from pipelines.processes import Children

        self.home, self.env, self.host, self.port = Path(home), dict(env), host, port
        self.replicas = max(1, replicas)
        if self.replicas > 1 and haproxy_path() is None:
            log.warning("haproxy is not installed, so the dashboard runs as one replica (a room of "
                        "more than about ten people will queue): install it with `%s`", INSTALL_HAPROXY)
            self.replicas = 1
        self.children = Children(self.home / "logs")
        self.backends: list[int] = []
        self.url = ""

    def start(self) -> Dashboards:
        from dashboards.serve import cookie_secret
        from pipelines.processes import dashboard_command, free_port, wait_file, wait_http

        env = {**self.env, "STREAMLIT_SERVER_COOKIE_SECRET": cookie_secret(self.home)}
        single = self.replicas == 1
        shown = "127.0.0.1" if self.host in (_ANY_V4, "::") else self.host
        if env.get("ASSETMAP_OIDC_METADATA_URL") and not env.get("ASSETMAP_OIDC_REDIRECT_URI"):
            # the identity provider sends the browser back to the front door, whichever replica asked
            env["ASSETMAP_OIDC_REDIRECT_URI"] = f"http://{shown}:{self.port}/oauth2callback"
        procs = []
        for i in range(self.replicas):
            port = self.port if single else free_port(0)
            ready = self.home / f"dashboard-{i + 1}.ready"
            ready.unlink(missing_ok=True)
            cmd = dashboard_command(port, host=self.host if single else "127.0.0.1")
            name = "dashboard" if single else f"dashboard-{i + 1}"
            runtime = self.home / "run" / name  # a confined replica writes only here
            proc = self.children.start(name, cmd, {**env, "ASSETMAP_DASHBOARD_READY": str(ready),
                                                   "ASSETMAP_RUNTIME_DIR": str(runtime)})
            procs.append((proc, port, ready))
            self.backends.append(port)
        for proc, port, ready in procs:
            wait_http(f"http://127.0.0.1:{port}/_stcore/health", 120, proc)
            wait_file(ready, 120, proc)  # it has served its home page once, to itself
        if not single:
            cfg = self.home / "haproxy.cfg"
            cfg.write_text(haproxy_config(self.host, self.port, self.backends), encoding="utf-8")
            proxy = self.children.start("haproxy", [haproxy_path() or "haproxy", "-db", "-f", str(cfg)], env)
            if self.host in ("127.0.0.1", _ANY_V4, "localhost"):
                wait_http(f"http://127.0.0.1:{self.port}/_stcore/health", 30, proxy)
            else:
                time.sleep(1.0)
        self.url = f"http://{shown}:{self.port}/"
        return self

    def stop(self) -> None:
        self.children.stop()

    def __enter__(self) -> Dashboards:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
