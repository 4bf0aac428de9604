"""An authority's walking questions answered in a process of its own (a work pool's worker).

The full recompute of a store spanning many authorities asks each authority's part of the
network (:mod:`assetmap.network.split`) the same questions: from every output area, the nearest
provider of each category, and every place within the widest catchment. Those are the costly
part (each part's contraction hierarchies, then the walks), and the parts do not depend on each
other, so they can run side by side on different workers:

1. :func:`prepare` writes each part's network (once per network, authority and buffer: a new
   network file makes new parts) and the run's question (the part's output areas, the categories'
   places, every place) as files beside the store, named by their content: an authority whose
   question is the same as last time has its answers already, and is not asked again;
2. :func:`answer` (run by a worker: ``pipelines.flows.network_part``) builds the part's engine and
   writes the answers beside the question; the runs of one recompute share the parts through
   :func:`answer_all`, each taking the next part not yet taken;
3. :class:`Answered` gives the answers back through the same interface as
   :class:`~assetmap.network.cost.Walking`; a question the worker was not asked goes to an engine
   built here (counted in :data:`fallbacks`), so an answer is never missing, only slower.

The answers are the engine's own, so a recompute whose parts were answered elsewhere equals one
routed here (tested).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
from scipy.spatial import cKDTree

from assetmap.network.cost import Walking
from assetmap.network.graph import Engine, network_key
from assetmap.network.split import Part, in_part, snapped_points, sub_network, whole_network
from assetmap.settings import settings

log = logging.getLogger(__name__)

#: How many questions went to an engine built in the asking process instead (for tests).
fallbacks = 0


@dataclass(frozen=True)
class Job:
    """One authority's questions: where its network is, the question, and where the answers go."""

    code: str
    network: str  #: a folder holding ``network.npz`` (the part's nodes and edges)
    question: str  #: ``question.npz``
    answers: str  #: ``answers.npz``, written by :func:`answer`

    def as_dict(self) -> dict[str, str]:
        """Return the job as plain values (for a run's parameters)."""
        return asdict(self)


def reach_m() -> float:
    """Return the widest walk the recompute asks about.

    The widest catchment, E2SFCA band, PTAL walk or walk to a bus stop.
    """
    from assetmap.transit import ptal

    return float(max(max(settings.catchments_m), max(settings.e2sfca_bands), ptal.MAX_CATCHMENT_M,
                     settings.bus_walk_m))


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def prepare(con: duckdb.DuckDBPyConnection, parts: list[Part], oa_xy: np.ndarray, sets: dict[str, np.ndarray],
            every: np.ndarray, folder: Path) -> list[Job]:
    """Write each part's network (kept while the network is unchanged) and this run's question under ``folder``.

    The parts holding no network are left out.
    """
    key = network_key(con)
    whole = whole_network(con, key)
    net_id = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    oa_xy = np.asarray(oa_xy, dtype=float)
    every = np.unique(np.asarray(every, dtype=float).reshape(-1, 2), axis=0)
    tree = cKDTree(whole.xy)
    snapped_every = snapped_points(tree, every)
    snapped_sets = {k: snapped_points(tree, np.asarray(v, dtype=float)) for k, v in sets.items()}
    if folder.exists():  # the parts of a network since replaced
        for old in folder.iterdir():
            if old.is_dir() and not old.name.startswith(f"{net_id}-"):
                shutil.rmtree(old, ignore_errors=True)
    jobs = []
    for part in parts:
        net_dir = folder / f"{net_id}-{part.code}-{_digest(np.asarray(part.box))}"
        if not (net_dir / "network.npz").exists():
            sub = sub_network(whole, part.box)
            if len(sub["from_node"]) == 0:
                continue
            net_dir.mkdir(parents=True, exist_ok=True)
            tmp = net_dir / f".network.{os.getpid()}.npz"
            np.savez(tmp, node_ids=sub["node_ids"], xy=sub["xy"], from_node=sub["from_node"], to_node=sub["to_node"],
                     length_m=sub["length_m"], walk_m=sub["walk_m"],
                     extent=np.asarray(sub["extent"] if sub["extent"] is not None else [], dtype=float))
            os.replace(tmp, net_dir / "network.npz")  # whole or absent, for a second worker reading it
        # the places the part may reach, chosen as PerAuthority chooses them
        inside = in_part(part, snapped_every)
        part_sets = {k: np.asarray(sets[k], dtype=float)[in_part(part, snapped_sets[k])] for k in sorted(sets)}
        q_oa = oa_xy[part.oas]
        q_id = _digest(q_oa, every[inside], *part_sets.values(),
                       np.asarray([reach_m(), settings.network_snap_m, settings.network_oa_snap_m]))
        q_dir = net_dir / f"q-{q_id}"
        q_dir.mkdir(exist_ok=True)
        if not (q_dir / "question.npz").exists():
            tmp = q_dir / f".question.{os.getpid()}.npz"
            np.savez(tmp, oa_xy=q_oa, every=every[inside], reach=np.asarray([reach_m()]),
                     names=np.asarray(sorted(sets), dtype=str), **{f"set_{k}": v for k, v in part_sets.items()})
            os.replace(tmp, q_dir / "question.npz")
        jobs.append(Job(part.code, str(net_dir), str(q_dir / "question.npz"), str(q_dir / "answers.npz")))
    return jobs


def _engine(network: str) -> Engine:
    with np.load(Path(network) / "network.npz") as z:
        extent = tuple(z["extent"].tolist()) if len(z["extent"]) else None
        return Engine(z["node_ids"], z["xy"], z["from_node"], z["to_node"], z["length_m"], z["walk_m"],
                      key=network, extent=extent)


def answer(job: Job) -> Path:
    """Answer one authority's question (in the worker's process) and write the answers.

    An answer already written is kept (a retried run does not redo it).
    """
    out = Path(job.answers)
    if out.exists():
        return out
    t0 = time.perf_counter()
    engine = _engine(job.network)
    with np.load(job.question) as q:
        oa_xy, every, reach = q["oa_xy"], q["every"], float(q["reach"][0])
        sets = {str(n): q[f"set_{n}"] for n in q["names"]}
    walk = Walking(engine, oa_xy)
    oas = np.arange(len(oa_xy))
    found: dict[str, Any] = {"outside": walk.outside}
    p, o, c = walk.pairs(every, reach)
    found.update(pair_point=p, pair_oa=o, pair_cost=c)
    for name, xy in sets.items():
        cost, arg = walk.nearest(oas, xy)
        route = np.full(len(oas), np.nan)
        ok = arg >= 0
        route[ok] = walk.route_m(oas[ok], xy[arg[ok]])
        found.update({f"cost_{name}": cost, f"arg_{name}": arg, f"route_{name}": route})
    tmp = out.with_name(f".answers.{os.getpid()}.npz")
    np.savez(tmp, **found)
    os.replace(tmp, out)
    log.info("walking network part %s answered: %d nodes, %d OAs, %d places in %.1f s", job.code, engine.nodes,
             len(oa_xy), len(every), time.perf_counter() - t0)
    return out


def _claim(job: Job, owner: str) -> bool:
    """Take ``job`` for ``owner`` (a flow run).

    True when it was free, or is ``owner``'s already (a retried run takes its own back). The claim is a file
    made with ``O_EXCL``, atomic on a local disk and on the network file systems the inbox's claims need (see
    docs/deploy.md).
    """
    path = Path(job.answers).with_name("answers.claim")
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            return path.read_text(encoding="utf-8") == owner
        except OSError:
            return False
    except FileNotFoundError:  # the recompute has its answers and has cleared the question away
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(owner)
    return True


def answer_all(jobs: list[Job], owner: str) -> list[str]:
    """Answer every job of ``jobs`` not answered or taken by another run, one after another.

    The runs of one recompute share the parts as each comes free, so one worker answers them all and two share
    them, whatever each part's size. Returns the codes answered here.
    """
    done = []
    for job in jobs:
        if Path(job.answers).exists() or not _claim(job, owner):
            continue
        answer(job)
        done.append(job.code)
    return done


class Answered:
    """One part's answers, asked as a :class:`~assetmap.network.cost.Walking` over the part's own output areas is.

    ``fallback`` makes that Walking for a question not answered.
    """

    def __init__(self, job: Job, fallback: Callable[[], Walking]) -> None:
        with np.load(job.question) as q:
            self.every = q["every"]
            self.reach = float(q["reach"][0])
            self.sets = {str(n): q[f"set_{n}"] for n in q["names"]}
        with np.load(job.answers) as a:
            self.a = {k: a[k] for k in a.files}
        self._outside = self.a["outside"]
        self._fallback = fallback
        self._walk: Walking | None = None
        # every place's row in the pairs, by place
        order = np.argsort(self.a["pair_point"], kind="stable")
        self._pp, self._po, self._pc = (self.a[k][order] for k in ("pair_point", "pair_oa", "pair_cost"))
        self._index = {tuple(xy): i for i, xy in enumerate(self.every.tolist())}

    def _engine_walk(self) -> Walking:
        global fallbacks
        fallbacks += 1
        if self._walk is None:
            self._walk = self._fallback()
        return self._walk

    @property
    def outside(self) -> np.ndarray:
        """Per OA: True where no authority's answers measure it."""
        return cast("np.ndarray", self._outside)

    def pairs(self, asset_xy: np.ndarray, radius: float, oas: np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(asset, OA, cost) for every pair within ``radius``, from the authorities' answers."""
        ids = np.array([self._index.get(tuple(p), -1) for p in np.asarray(asset_xy, dtype=float).tolist()],
                       dtype=np.int64)
        if radius > self.reach or (ids < 0).any():
            return self._engine_walk().pairs(asset_xy, radius, oas)
        lo = np.searchsorted(self._pp, ids, side="left")
        hi = np.searchsorted(self._pp, ids, side="right")
        n = hi - lo
        a = np.repeat(np.arange(len(ids)), n)
        rows = np.concatenate([np.arange(s, e) for s, e in zip(lo, hi, strict=True)]) if len(ids) else \
            np.empty(0, dtype=np.int64)
        o, c = self._po[rows], self._pc[rows]
        keep = c <= radius
        if oas is not None:
            keep &= np.isin(o, oas)
        a, o, c = a[keep], o[keep], c[keep]
        order = np.lexsort((o, a))
        return a[order], o[order].astype(np.int64), c[order]

    def _set_of(self, asset_xy: np.ndarray) -> str | None:
        for name, xy in self.sets.items():
            if xy.shape == asset_xy.shape and np.array_equal(xy, asset_xy):
                return name
        return None

    def nearest(self, oas: np.ndarray, asset_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each OA in ``oas``: the cost to its nearest asset and that asset's index, from the answers."""
        name = self._set_of(np.asarray(asset_xy, dtype=float))
        if name is None:
            return self._engine_walk().nearest(oas, asset_xy)
        oas = np.asarray(oas, dtype=np.int64)
        return self.a[f"cost_{name}"][oas], self.a[f"arg_{name}"][oas]

    def route_m(self, oas: np.ndarray, asset_xy: np.ndarray) -> np.ndarray:
        """Return the length in metres of the walk from each OA ``oas[k]`` to ``asset_xy[k]``, from the answers."""
        oas = np.asarray(oas, dtype=np.int64)
        asset_xy = np.asarray(asset_xy, dtype=float)
        out = np.full(len(oas), np.nan)
        todo = np.ones(len(oas), dtype=bool)
        for name, xy in self.sets.items():
            arg = self.a[f"arg_{name}"][oas]
            ok = todo & (arg >= 0)
            ok[ok] = (xy[arg[ok]] == asset_xy[ok]).all(axis=1)
            out[ok] = self.a[f"route_{name}"][oas[ok]]
            todo &= ~ok
        if todo.any():
            out[todo] = self._engine_walk().route_m(oas[todo], asset_xy[todo])
        return out


def job_from(d: dict[str, Any] | str) -> Job:
    """Return a :class:`Job` from its dict (or that dict as JSON), as a flow run's parameter carries it."""
    return Job(**(json.loads(d) if isinstance(d, str) else d))
