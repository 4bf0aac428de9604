"""The walking network: a layer read from OpenStreetMap, and access measured along it.

- :mod:`assetmap.network.osm` reads the walkable ways (and the places) of an OSM PBF or XML file;
- :mod:`assetmap.network.store` keeps the largest connected part of it in the store;
- :mod:`assetmap.network.graph` hands it to the routing engine (pandana);
- :mod:`assetmap.network.cost` is the one interface the analysis asks "how far" through, with a
  straight-line and a walking provider behind it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from scipy.spatial import cKDTree

from assetmap.db.sql import database_path
from assetmap.network.cost import CROW_FLIES, NETWORK, Costs, CrowFlies, Walking
from assetmap.network.graph import Engine, load_engine, network_key

log = logging.getLogger(__name__)


#: Runs the authorities' walking questions somewhere (a work pool) and returns when each has
#: its answers written or has failed; see :mod:`assetmap.network.parts`.
Runner = Callable[[list[Any]], None]


def costs_for(con: duckdb.DuckDBPyConnection, oa_xy: np.ndarray, oa_tree: cKDTree | None = None,
              runner: Runner | None = None, sets: dict[str, np.ndarray] | None = None,
              every: np.ndarray | None = None) -> Costs:
    """Return the provider for the store ``con`` reads.

    On foot where a network is loaded, otherwise as the crow flies; per authority where its points lie in
    several (:mod:`assetmap.network.split`).

    With a ``runner``, the authorities' questions (the nearest of each of ``sets``, and every
    walk to the places ``every`` within the widest catchment) are handed to it to answer in other
    processes, and the provider reads their answers.
    """
    if network_key(con) is None:
        return CrowFlies(oa_xy, oa_tree)
    from assetmap.network.split import PerAuthority, parts_for

    parts = parts_for(con, oa_xy)
    if parts is not None:  # several authorities: each on its own part of the network
        answered = _answered_elsewhere(con, parts, oa_xy, runner, sets, every) if runner and sets else None
        return PerAuthority(con, oa_xy, parts, answered=answered)
    engine = load_engine(con)
    if engine is None:
        return CrowFlies(oa_xy, oa_tree)
    return Walking(engine, oa_xy, oa_tree)


def _answered_elsewhere(con: duckdb.DuckDBPyConnection, parts: list[Any], oa_xy: np.ndarray, runner: Runner,
                       sets: dict[str, np.ndarray], every: np.ndarray | None) -> dict[str, Any]:
    """Write the parts' questions beside the store, have ``runner`` answer them; return the answers."""
    from assetmap.network import parts as pp
    from assetmap.network.split import PerAuthority, part_engine

    path = database_path(con)
    folder = path.parent / "network-parts" if path is not None else Path(tempfile.gettempdir())
    every = np.concatenate([np.asarray(v, dtype=float).reshape(-1, 2) for v in sets.values()] +
                           ([np.asarray(every, dtype=float).reshape(-1, 2)] if every is not None else []))
    jobs = pp.prepare(con, parts, oa_xy, sets, every, folder)
    # an authority whose network, output areas and places are as they were has its answers already
    todo = [j for j in jobs if not Path(j.answers).exists()]
    if len(todo) < len(jobs):
        log.info("walks of %d of %d authorities unchanged since they were answered", len(jobs) - len(todo),
                 len(jobs))
    try:
        if todo:
            runner(todo)
    except Exception as exc:  # the pool unreachable, say: what was answered is used, the rest routed here
        log.warning("walking network parts not handed over (%s): routed here", exc)
    by_code = {p.code: p for p in parts}
    out = {}
    for job in jobs:
        if not Path(job.answers).exists():
            log.warning("walking network part %s was not answered: routed here instead", job.code)
            continue
        part = by_code[job.code]

        def fallback(part: Any = part) -> Walking:
            engine = part_engine(con, part)
            if engine is None:  # cannot happen: the part was sent because it holds a network
                msg = f"walking network part {part.code} holds no network"
                raise RuntimeError(msg)
            return Walking(engine, PerAuthority.part_points(oa_xy, part))

        out[job.code] = pp.Answered(job, fallback)
    # the questions of earlier runs that this one did not ask again go (the answers kept are
    # reused by the next recompute whose authority has not changed)
    asked = {Path(j.question).parent for j in jobs}
    for q in folder.glob("*/q-*"):
        if q not in asked:
            shutil.rmtree(q, ignore_errors=True)
    return out


__all__ = [
    "CROW_FLIES",
    "NETWORK",
    "Costs",
    "CrowFlies",
    "Engine",
    "Runner",
    "Walking",
    "costs_for",
    "load_engine",
    "network_key",
]
