"""The walking network as a graph: components, effort lengths, and the routing engine.

Shortest paths are pandana's (contraction hierarchies, Foti, Waddell and Luxen 2012), never
hand-written here; tests check every distance against networkx's Dijkstra on the same edges.

pandana stores impedances as whole thousandths, cut (not rounded) from the floats it is given;
edge lengths are therefore kept to the millimetre and handed over a hair above it, so that the
engine's sums are the exact sums of the stored lengths.

Reference: Foti, F., Waddell, P. and Luxen, D. (2012). A generalized computational framework
for accessibility: from the pedestrian to the metropolitan scale. *Transportation Research Board
Annual Conference*.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from assetmap.db import travel
from assetmap.settings import settings

log = logging.getLogger(__name__)

#: Pandana answers an unreachable pair with its largest number: anything beyond this many metres.
_UNREACHABLE = 4e6

#: Added to each millimetre-rounded impedance so that pandana's cut to thousandths keeps it.
_HAIR = 1e-7


def effort_m(length_m: np.ndarray, highway: np.ndarray) -> np.ndarray:
    """Each edge's length as walking effort.

    Steps count ``1 / steps_speed_factor`` times their length, everything else its length; to the millimetre.
    """
    slow = np.asarray(highway, dtype=object) == "steps"
    return np.round(np.where(slow, np.asarray(length_m, float) / settings.steps_speed_factor, length_m), 3)


@dataclass
class Components:
    """The largest connected component of a network, and what the others held."""

    keep: np.ndarray  # boolean per node
    dropped_nodes: int
    islands: int


def largest_component(node_ids: np.ndarray, from_node: np.ndarray, to_node: np.ndarray) -> Components:
    """Which nodes lie in the largest connected component (edges taken both ways)."""
    pos = pd.Series(np.arange(len(node_ids)), index=node_ids)
    fi, ti = pos[from_node].to_numpy(), pos[to_node].to_numpy()
    n = len(node_ids)
    adj = coo_matrix((np.ones(len(fi)), (fi, ti)), shape=(n, n))
    count, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels, minlength=count)
    keep = labels == int(np.argmax(sizes))
    return Components(keep, int((~keep).sum()), int(count - 1))


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Pandana's C++ prints its progress to the process's stdout; keep the CLI's output clean."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # no real stdout (a test's capture): nothing to hide
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class Engine:
    """A loaded walking network.

    Node points, and pandana's contraction hierarchies over it with two impedances, ``length`` (metres) and
    ``effort`` (metres as walking effort).
    """

    def __init__(self, node_ids: np.ndarray, xy: np.ndarray, from_node: np.ndarray, to_node: np.ndarray,
                 length_m: np.ndarray, walk_m: np.ndarray, key: Any = None,
                 extent: tuple[float, float, float, float] | None = None) -> None:
        import pandana  # imported here: only a store with a network needs it
        from pandana.network import INDEX_DTYPE

        self._index_dtype = INDEX_DTYPE
        # pandana keeps one query state per OpenMP thread, not per caller: the dashboard's sessions
        # (threads of one process) take turns
        self._lock = threading.Lock()

        self.key = key
        #: the extract's own box (EPSG:27700) where the file said it, else None
        self.extent = extent
        self.node_ids = np.asarray(node_ids, dtype=np.int64)
        self.xy = np.asarray(xy, dtype=float)
        self.tree = cKDTree(self.xy)
        order = np.argsort(self.node_ids)
        #: each edge's two ends, as node indices (for drawing what a walk reaches)
        self.edge_a = order[np.searchsorted(self.node_ids, np.asarray(from_node, dtype=np.int64), sorter=order)]
        self.edge_b = order[np.searchsorted(self.node_ids, np.asarray(to_node, dtype=np.int64), sorter=order)]
        length, effort = np.asarray(length_m, float), np.asarray(walk_m, float)
        # without steps the effort is the length: one set of hierarchies serves both (half the build)
        self._same = bool(np.array_equal(length, effort))
        weights = pd.DataFrame({"effort": effort + _HAIR} if self._same else
                               {"length": length + _HAIR, "effort": effort + _HAIR})
        with _quiet_stdout():
            self.net = pandana.Network(pd.Series(self.xy[:, 0], index=self.node_ids),
                                       pd.Series(self.xy[:, 1], index=self.node_ids),
                                       pd.Series(np.asarray(from_node, dtype=np.int64)),
                                       pd.Series(np.asarray(to_node, dtype=np.int64)), weights, twoway=True)

    @property
    def nodes(self) -> int:
        """The number of nodes."""
        return len(self.node_ids)

    def within_extent(self, xy: np.ndarray) -> np.ndarray:
        """Per point: inside the extract's own box (True everywhere when the file gave none)."""
        xy = np.asarray(xy, dtype=float)
        if self.extent is None or len(xy) == 0:
            return np.ones(len(xy), dtype=bool)
        x0, y0, x1, y1 = self.extent
        return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)

    def snap(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each point's nearest node (an index into :attr:`node_ids`) and the straight line to it."""
        if len(xy) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        d, i = self.tree.query(np.asarray(xy, dtype=float), k=1)
        return np.asarray(i, dtype=np.int64), np.asarray(d, dtype=float)

    def between(self, a: np.ndarray, b: np.ndarray, impedance: str = "effort") -> np.ndarray:
        """Shortest-path cost between node indices ``a[k]`` and ``b[k]`` (NaN where none)."""
        if len(a) == 0:
            return np.empty(0)
        # pandana's own vectorised query (Network.shortest_path_lengths) less its translation of
        # node ids through pandas merges, which costs more than the queries: our node indices are
        # its internal ones (the nodes were handed over in this order)
        with self._lock:
            got = self.net.net.shortest_path_distances(np.asarray(a, dtype=self._index_dtype),
                                                       np.asarray(b, dtype=self._index_dtype),
                                                       self._impedance(impedance))
        out = np.asarray(got, dtype=float)
        # pandana answers an unreachable pair with its largest number; the network is one
        # component, but say so rather than trust it
        out[out > _UNREACHABLE] = np.nan
        return out

    def _impedance(self, name: str) -> int:
        """Pandana's number for an impedance (``length`` is ``effort`` where no way is steps)."""
        return cast("int", self.net.impedance_names.index("effort" if self._same else name))

    def within(self, sources: np.ndarray, radius: float, impedance: str = "effort") -> pd.DataFrame:
        """Every node within ``radius`` of each source node index: ``source, node, cost``."""
        with self._lock:
            df = self.net.nodes_in_range(self.node_ids[np.asarray(sources)].tolist(), float(radius),
                                         imp_name=self.net.impedance_names[self._impedance(impedance)])
        pos = pd.Series(np.arange(len(self.node_ids)), index=self.node_ids)
        return pd.DataFrame({"source": pos[df["source"].to_numpy()].to_numpy(),
                             "node": pos[df["destination"].to_numpy()].to_numpy(),
                             "cost": df.iloc[:, 2].to_numpy(float)})


_cache: dict[Any, Engine] = {}
_cache_lock = threading.Lock()


def network_key(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """Return what identifies the stored network (None when none is loaded): its ingest and checksum."""
    try:
        row = travel.network_row(con)
    except duckdb.CatalogException:  # a store or snapshot from before networks
        return None
    if row is None:
        return None
    return tuple(row)


@dataclass
class NetworkArrays:
    """The stored network as arrays: nodes (ids, points) and edges (ends, lengths, efforts)."""

    key: Any
    node_ids: np.ndarray
    xy: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    length_m: np.ndarray
    walk_m: np.ndarray
    extent: tuple[float, float, float, float] | None  #: the extract's own box, where the file gave one


def read_network(con: duckdb.DuckDBPyConnection, key: Any) -> NetworkArrays:
    """Return the stored network (identified by ``key``, :func:`network_key`) read into arrays."""
    box, nodes, edges = travel.network_arrays(con)
    extent = (float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box and box[0] is not None else None
    return NetworkArrays(key, np.asarray(nodes["node_id"], dtype=np.int64), np.column_stack([nodes["x"], nodes["y"]]),
                         np.asarray(edges["from_node"], dtype=np.int64), np.asarray(edges["to_node"], dtype=np.int64),
                         np.asarray(edges["length_m"], float), np.asarray(edges["walk_m"], float), extent)


def load_engine(con: duckdb.DuckDBPyConnection) -> Engine | None:
    """Return the stored network's engine, built once per network and process (None without one).

    Contraction hierarchies take about a second for a city's 50,000 nodes; a worker or
    dashboard that recomputes again reuses them until a new network is loaded.
    """
    key = network_key(con)
    if key is None:
        return None
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    net = read_network(con, key)
    if len(net.node_ids) == 0:
        return None
    engine = Engine(net.node_ids, net.xy, net.from_node, net.to_node, net.length_m, net.walk_m, key=key,
                    extent=net.extent)
    with _cache_lock:
        _cache.clear()  # one network at a time per process: a new one replaces the old
        _cache[key] = engine
    log.info("walking network built: %d nodes, %d edges", engine.nodes, len(net.from_node))
    return engine
