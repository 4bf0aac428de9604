"""The options of ``assetmap up``, defined once.

The command line (``assetmap up --help`` lists them, and they work with or without a ``--`` before them) and
``pipelines.up`` read the same definitions. Nothing here imports Prefect.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

#: (flag, argparse keywords) of each option, in the order ``--help`` lists them
OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--prefect-port", {"type": int, "default": 4200,
                        "help": "the Prefect server's port (default 4200; another free one when taken; 0: any)"}),
    ("--dashboard-port", {"type": int, "default": 8501,
                          "help": "the dashboard's port (default 8501; another free one when taken; 0: any)"}),
    ("--no-dashboard", {"action": "store_true", "help": "start no dashboard"}),
    ("--no-demo", {"action": "store_true", "help": "do not ingest the demo data"}),
    ("--replicas", {"type": int, "default": None,
                    "help": "dashboard servers behind HAProxy (default: one per core when haproxy is installed)"}),
    ("--host", {"default": "127.0.0.1",
                "help": "where the dashboard listens (default loopback; e.g. 0.0.0.0 for a workshop's network)"}),
    ("--prefect-db", {"default": None, "metavar": "URL",
                      "help": "keep the Prefect server's state in PostgreSQL "
                              "(postgresql+asyncpg://user@host:port/db; env ASSETMAP_PREFECT_DB) instead of "
                              "SQLite in the home"}),
    ("--pool", {"default": None, "metavar": "NAME",
                "help": "put the pipeline's deployments in this Prefect process work pool, for `assetmap worker "
                        "--pool NAME` on this or other machines, instead of running them here"}),
    ("--prefect-host", {"default": "127.0.0.1",
                        "help": "where the Prefect API listens (default loopback; the address workers on other "
                                "machines reach, behind your firewall)"}),
    ("--workers", {"type": int, "default": 1,
                   "help": "with --pool: workers started here too (default 1; 0 when they all run elsewhere)"}),
    ("--no-watch", {"action": "store_true",
                    "help": "with --pool: watch no inbox here (the store machines' `assetmap worker --watch` do)"}),
    ("--exit-after-start", {"action": "store_true", "help": argparse.SUPPRESS}),
]


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Add ``up``'s options to ``ap``."""
    for flag, kwargs in OPTIONS:
        if flag == "--prefect-db":
            kwargs = {**kwargs, "default": os.environ.get("ASSETMAP_PREFECT_DB")}
        ap.add_argument(flag, **kwargs)


def to_argv(ns: argparse.Namespace) -> list[str]:
    """``up``'s options in ``ns`` as a command line again (those given, or not at their defaults)."""
    out: list[str] = []
    for flag, kwargs in OPTIONS:
        value = getattr(ns, _dest(flag), None)
        if kwargs.get("action") == "store_true":
            out += [flag] if value else []
        elif value is not None and value != kwargs.get("default"):
            out += [flag, str(value)]
    return out
