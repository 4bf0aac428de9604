"""Commands that run the service: up, doctor, worker (each hands over to :mod:`pipelines`)."""

from __future__ import annotations

import argparse
import os
import sys

from assetmap import up_options


def cmd_up(args: argparse.Namespace) -> int:
    """Run the main job: hand over to ``pipelines.up`` (Prefect server, flows, watcher, dashboard).

    The process is replaced, so Ctrl-C and SIGTERM reach ``pipelines.up`` directly; the library
    itself never imports Prefect.
    """
    argv = [sys.executable, "-m", "pipelines.up"]
    if getattr(args, "db", None):
        argv += ["--db", args.db]
    argv += up_options.to_argv(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, an argument list)
    return 0  # not reached


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check a deployment's parts (``pipelines.doctor``; nothing there imports Prefect)."""
    from pipelines.doctor import main

    argv = ["--db", args.db] if args.db else []
    argv += ["--api", args.api] if args.api else []
    argv += ["--pool", args.pool] if args.pool else []
    argv += ["--dashboard", args.dashboard] if args.dashboard else []
    argv += ["--no-dashboard"] if args.no_dashboard else []
    argv += ["--json"] if args.json else []
    argv += ["--replica"] if args.replica else []
    return main(argv)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a Prefect process worker for the pipeline's work pool: hand over to ``pipelines.worker``."""
    argv = [sys.executable, "-m", "pipelines.worker", "--pool", args.pool, "--limit", str(args.limit),
            "--poll", str(args.poll)]
    argv += ["--name", args.name] if args.name else []
    argv += ["--api", args.api] if args.api else []
    argv += ["--watch"] if args.watch else []
    if args.db:
        os.environ["ASSETMAP_DB"] = args.db
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, an argument list)
    return 0  # not reached
