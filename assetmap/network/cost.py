"""One question, two answers: how far each output area is from the assets of a category.

The analysis asks through one interface, :class:`Costs`, and never a provider directly:

- :class:`CrowFlies`: straight lines in EPSG:27700 (``scipy.spatial.cKDTree``), where no network
  is loaded;
- :class:`Walking`: on foot along the street network (pandana's contraction hierarchies, see
  :mod:`assetmap.network.graph`).

Costs are metres of walking effort: on the network, the route's length with steps counted
``1 / steps_speed_factor`` times (so a cost over the walking speed is the walk in minutes);
as the crow flies, the straight line. Catchments and E2SFCA bands are in the same metres, so 800 m
is a 10-minute walk at 4.8 km/h either way.

On the network a walk is the straight line from the output area's point to its nearest network
node, the network route, and the straight line from the asset's nearest node to the asset. Each
such cost is at least the straight line between the two points, which lets every query start
from straight-line candidates (a cKDTree) and ask the engine only for those that can qualify:
the answers are exact, not approximate.
"""

from __future__ import annotations

from typing import Protocol, cast

import numpy as np
from scipy.spatial import cKDTree

from assetmap.network.graph import Engine
from assetmap.settings import settings

NETWORK, CROW_FLIES = "network", "crow_flies"
#: Straight-line candidates asked for first, per OA, when looking for the nearest asset.
_FIRST_K = 8


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    e = np.empty(0, dtype=np.int64)
    return e, e, np.empty(0)


def straight_pairs(a_xy: np.ndarray, b_xy: np.ndarray, radius: float, b_tree: cKDTree | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every (a, b, distance) pair no farther apart than ``radius``, ordered by a then b.

    All (a, b, straight-line distance) pairs no farther apart than ``radius``, ordered by a then b (the order
    every sum runs in, so that a partial recompute adds the same numbers in the same order as a full one).
    """
    if len(a_xy) == 0 or len(b_xy) == 0:
        return _empty()
    tree = b_tree if b_tree is not None else cKDTree(b_xy)
    m = cKDTree(a_xy).sparse_distance_matrix(tree, radius, output_type="ndarray")
    a, b, d = m["i"].astype(np.int64), m["j"].astype(np.int64), m["v"]
    order = np.lexsort((b, a))
    return a[order], b[order], d[order]


class Costs(Protocol):
    """How far the output areas (fixed when the provider is made) are from asset points."""

    mode: str

    @property
    def outside(self) -> np.ndarray:
        """Per OA: True where the provider gives it no distance (off the network's extent)."""

    def off_network(self, asset_xy: np.ndarray) -> np.ndarray:
        """Per asset: True where the provider cannot reach it (too far from the network)."""

    def pairs(self, asset_xy: np.ndarray, radius: float, oas: np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(asset, OA, cost) for every pair within ``radius``, ordered by asset then OA.

        Only the OAs ``oas`` (indices) when given.
        """

    def nearest(self, oas: np.ndarray, asset_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Find the nearest asset of each OA in ``oas``.

        Returns the cost to its nearest asset and that asset's index (NaN and -1 where there is none).
        """

    def route_m(self, oas: np.ndarray, asset_xy: np.ndarray) -> np.ndarray:
        """Return the length in metres of the walk from each OA ``oas[k]`` to ``asset_xy[k]``.

        Return the length in metres of the walk from each OA ``oas[k]`` to the point ``asset_xy[k]`` (the
        shortest route on the network; the straight line as the crow flies).
        """


def modes_of(costs: Costs, n: int) -> np.ndarray:
    """Return how ``costs`` measures each of ``n`` OAs.

    Per OA: how ``costs`` measures it (``network`` or ``crow_flies``); one mode for all, except where authorities the
    network does not reach are measured as the crow flies (:class:`~assetmap.network.split.PerAuthority`).
    """
    for c in (costs, getattr(costs, "base", None)):
        modes = getattr(c, "modes", None)
        if modes is not None:
            return np.asarray(modes, dtype=object)
    return np.full(n, costs.mode, dtype=object)


class CrowFlies:
    """Straight lines between points (British National Grid metres)."""

    mode = CROW_FLIES

    def __init__(self, oa_xy: np.ndarray, oa_tree: cKDTree | None = None) -> None:
        self.oa_xy = np.asarray(oa_xy, dtype=float)
        self.oa_tree = oa_tree if oa_tree is not None else cKDTree(self.oa_xy)

    @property
    def outside(self) -> np.ndarray:
        """Per OA: False everywhere (a straight line always exists)."""
        return np.zeros(len(self.oa_xy), dtype=bool)

    def off_network(self, asset_xy: np.ndarray) -> np.ndarray:
        """Per asset: False everywhere (a straight line always reaches it)."""
        return np.zeros(len(asset_xy), dtype=bool)

    def pairs(self, asset_xy: np.ndarray, radius: float, oas: np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(asset, OA, metres) for every pair within ``radius`` as the crow flies."""
        if oas is None:
            return straight_pairs(asset_xy, self.oa_xy, radius, self.oa_tree)
        oas = np.asarray(oas, dtype=np.int64)
        a, b, d = straight_pairs(asset_xy, self.oa_xy[oas], radius)
        return a, oas[b], d

    def nearest(self, oas: np.ndarray, asset_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each OA in ``oas``: the straight line to its nearest asset, and that asset's index."""
        if len(asset_xy) == 0:
            return np.full(len(oas), np.nan), np.full(len(oas), -1, dtype=np.int64)
        d, j = cKDTree(asset_xy).query(self.oa_xy[np.asarray(oas, dtype=np.int64)], k=1)
        return np.asarray(d, float), np.asarray(j, dtype=np.int64)

    def route_m(self, oas: np.ndarray, asset_xy: np.ndarray) -> np.ndarray:
        """Return the straight line from each OA ``oas[k]`` to ``asset_xy[k]``, in metres."""
        p = self.oa_xy[np.asarray(oas, dtype=np.int64)]
        return np.hypot(p[:, 0] - asset_xy[:, 0], p[:, 1] - asset_xy[:, 1]) if len(p) else np.empty(0)


class Walking:
    """On foot along the street network (see the module docstring for what a walk is)."""

    mode = NETWORK

    def __init__(self, engine: Engine, oa_xy: np.ndarray, oa_tree: cKDTree | None = None,
                 oa_snap_m: float | None = None, asset_snap_m: float | None = None) -> None:
        self.engine = engine
        self.oa_xy = np.asarray(oa_xy, dtype=float)
        self.oa_tree = oa_tree if oa_tree is not None else cKDTree(self.oa_xy)
        self.oa_node, self.oa_conn = engine.snap(self.oa_xy)
        # beyond the network: too far from it, or outside the extract's own box where the file gave one
        self._outside = (self.oa_conn > (settings.network_oa_snap_m if oa_snap_m is None else oa_snap_m)) | \
            ~engine.within_extent(self.oa_xy)
        self.asset_snap_m = settings.network_snap_m if asset_snap_m is None else asset_snap_m

    @property
    def outside(self) -> np.ndarray:
        """Per OA: True where its point lies beyond the network's extent."""
        return cast("np.ndarray", self._outside)

    def off_network(self, asset_xy: np.ndarray) -> np.ndarray:
        """Per asset: True where it lies too far from the network to be walked to."""
        _, conn = self.engine.snap(asset_xy)
        return conn > self.asset_snap_m

    def _cost(self, oa: np.ndarray, a_node: np.ndarray, a_conn: np.ndarray, impedance: str = "effort") -> np.ndarray:
        """Return the walks from OAs ``oa[k]`` to the assets at node ``a_node[k]`` (``a_conn[k]`` from it)."""
        if len(oa) == 0:
            return np.empty(0)
        src, dst = self.oa_node[oa], np.asarray(a_node, dtype=np.int64)
        # ask the engine once per distinct pair of nodes
        uniq, inv = np.unique(src * self.engine.nodes + dst, return_inverse=True)
        net = self.engine.between(uniq // self.engine.nodes, uniq % self.engine.nodes, impedance)[inv.ravel()]
        return cast("np.ndarray", self.oa_conn[oa] + net + a_conn)

    def pairs(self, asset_xy: np.ndarray, radius: float, oas: np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(asset, OA, walk as metres of effort) for every pair within ``radius`` along the network."""
        asset_xy = np.asarray(asset_xy, dtype=float)
        a_node, a_conn = self.engine.snap(asset_xy)
        if oas is None:
            a, b, _ = straight_pairs(asset_xy, self.oa_xy, radius, self.oa_tree)
        else:
            oas = np.asarray(oas, dtype=np.int64)
            a, b, _ = straight_pairs(asset_xy, self.oa_xy[oas], radius)
            b = oas[b]
        ok = (~self._outside[b]) & (a_conn[a] <= self.asset_snap_m)
        a, b = a[ok], b[ok]
        cost = self._cost(b, a_node[a], a_conn[a])
        keep = cost <= radius
        return a[keep], b[keep], cost[keep]

    def nearest(self, oas: np.ndarray, asset_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each OA in ``oas``: the walk to its nearest asset (metres of effort), and that asset's index."""
        oas = np.asarray(oas, dtype=np.int64)
        best = np.full(len(oas), np.nan)
        arg = np.full(len(oas), -1, dtype=np.int64)
        asset_xy = np.asarray(asset_xy, dtype=float)
        a_node, a_conn = self.engine.snap(asset_xy)
        on = np.flatnonzero(a_conn <= self.asset_snap_m)
        live = np.flatnonzero(~self._outside[oas])
        if len(on) == 0 or len(live) == 0:
            return best, arg
        tree = cKDTree(asset_xy[on])
        k = min(_FIRST_K, len(on))
        d, j = tree.query(self.oa_xy[oas[live]], k=k)
        d, j = d.reshape(len(live), k), j.reshape(len(live), k)
        cand = on[j]
        cost = self._cost(np.repeat(oas[live], k), a_node[cand.ravel()], a_conn[cand.ravel()]).reshape(len(live), k)
        # an authority's part of a network may hold pieces its edge cut off: no walk between them
        cost = np.where(np.isnan(cost), np.inf, cost)
        # the lowest cost, ties to the lowest asset index (assets come sorted by id)
        pick = np.lexsort((cand, cost), axis=1)[:, 0] if k > 1 else np.zeros(len(live), dtype=np.int64)
        rows = np.arange(len(live))
        best[live], arg[live] = cost[rows, pick], cand[rows, pick]
        # an asset outside the first k by straight line can still be nearer on foot only if its
        # straight line is shorter than the best walk found: look at all of those
        unsure = np.flatnonzero((d[:, -1] < best[live]) & (k < len(on)))
        if len(unsure):
            rows_u = live[unsure]
            # (none of the first k reachable: look as far as a part's buffer)
            hits = tree.query_ball_point(self.oa_xy[oas[rows_u]],
                                         np.where(np.isinf(best[rows_u]), settings.network_buffer_m, best[rows_u]))
            owner = np.repeat(rows_u, [len(h) for h in hits])
            cand_u = on[np.concatenate([np.asarray(h, dtype=np.int64) for h in hits])]
            c = self._cost(oas[owner], a_node[cand_u], a_conn[cand_u])
            c = np.where(np.isnan(c), np.inf, c)
            # per OA the lowest cost, ties to the lowest asset index
            order = np.lexsort((cand_u, c, owner))
            first = np.unique(owner[order], return_index=True)[1]
            win = order[first]
            better = (c[win] < best[owner[win]]) | ((c[win] == best[owner[win]]) & (cand_u[win] < arg[owner[win]]))
            best[owner[win][better]], arg[owner[win][better]] = c[win][better], cand_u[win][better]
        none = np.isinf(best)
        best[none], arg[none] = np.nan, -1
        return best, arg

    def route_m(self, oas: np.ndarray, asset_xy: np.ndarray) -> np.ndarray:
        """Return the length in metres of the shortest walk from each OA ``oas[k]`` to ``asset_xy[k]``."""
        oas = np.asarray(oas, dtype=np.int64)
        a_node, a_conn = self.engine.snap(np.asarray(asset_xy, dtype=float))
        return self._cost(oas, a_node, a_conn, impedance="length")
