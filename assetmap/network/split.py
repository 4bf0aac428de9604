"""Walking access for many authorities at once: each on its own part of the network.

A region's or a nation's walking network is too big to route as one (contraction hierarchies
over millions of nodes take minutes and gigabytes), and nobody walks 30 km to a class. So where
the output areas lie in more than one local authority, each authority is given its part of the
network: every node within its extent plus a buffer (``settings.network_buffer_m``, 2 km by
default: people cross borders), routed by an engine of its own, and its output areas are
measured on that part only. Each part can be built and asked in a process of its own
(:mod:`pipelines.flows` hands them to the work pool).

Exact within the buffer: a walk of length ``L`` from a point in the authority never passes a
node more than ``L`` (as the crow flies) from its start, so every walk no longer than the buffer
lies wholly inside the part, and its length there equals its length on the whole network. Every
catchment and E2SFCA band (at most 1,600 m) is shorter than the buffer, so counts and E2SFCA are
those of the whole network; a nearest provider farther away than the buffer is the nearest
reached inside the authority's part (an upper bound of the whole network's walk). An authority
the network does not reach at all is measured as the crow flies, and its rows say so.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, cast

import duckdb
import numpy as np
import shapely
from scipy.spatial import cKDTree

from assetmap.db.geography import area_shapes
from assetmap.network.cost import CROW_FLIES, NETWORK, CrowFlies, Walking
from assetmap.network.graph import Engine, NetworkArrays, network_key, read_network
from assetmap.settings import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    """One authority's part of the walking problem."""

    code: str  #: the local authority's GSS code
    box: tuple[float, float, float, float]  #: its extent plus the buffer (EPSG:27700)
    oas: np.ndarray  #: indices of the output areas (points) it measures


def authority_of(con: duckdb.DuckDBPyConnection, xy: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Return each point's local authority and each authority's polygon.

    Each point's local authority (its GSS code, from the loaded authority boundaries; the nearest authority for
    a point inside none) and each authority's polygon. Empty codes where no authority boundary is loaded.
    """
    rows = area_shapes(con, "la")
    if not rows or len(xy) == 0:
        return np.full(len(xy), "", dtype=object), {}
    codes = np.array([r[0] for r in rows], dtype=object)
    polys = shapely.from_wkb([r[1] for r in rows])
    tree = shapely.STRtree(polys)
    pts = shapely.points(np.asarray(xy, dtype=float))
    out = np.full(len(xy), "", dtype=object)
    inside = tree.query(pts, predicate="within")
    # a point on a shared border lies in both: the first authority (by code) takes it
    order = np.lexsort((inside[1], inside[0]))
    first = np.unique(inside[0][order], return_index=True)[1]
    out[inside[0][order][first]] = codes[inside[1][order][first]]
    lost = np.flatnonzero(out == "")
    if len(lost):
        near = tree.query_nearest(pts[lost], return_distance=False, all_matches=False)
        out[lost[near[0]]] = codes[near[1]]
    return out, dict(zip(codes.tolist(), polys, strict=True))


def parts_for(con: duckdb.DuckDBPyConnection, oa_xy: np.ndarray, at_least: int = 2) -> list[Part] | None:
    """Return the authorities' parts for the points ``oa_xy``, or None where one engine serves all.

    Return the authorities' parts for the points ``oa_xy``, or None where one engine serves them all (fewer than
    ``at_least`` authorities, no authority boundaries, or the split turned off).
    """
    if not settings.network_split:
        return None
    la, polys = authority_of(con, oa_xy)
    codes = sorted(set(la.tolist()) - {""})
    if len(codes) < max(1, at_least):
        return None
    buf = settings.network_buffer_m
    parts = []
    for code in codes:
        x0, y0, x1, y1 = polys[code].bounds
        parts.append(Part(code, (x0 - buf, y0 - buf, x1 + buf, y1 + buf), np.flatnonzero(la == code)))
    return parts


def snapped_points(tree: cKDTree, xy: np.ndarray) -> np.ndarray:
    """Each point's nearest node of the whole network (``tree`` over its nodes), as that node's point."""
    if len(xy) == 0:
        return np.empty((0, 2))
    _, i = tree.query(np.asarray(xy, dtype=float), k=1)
    return np.asarray(tree.data)[np.asarray(i, dtype=np.int64)]


def in_part(part: Part, snapped: np.ndarray) -> np.ndarray:
    """Return the places a part may reach (indices).

    Those whose nearest node of the whole network lies in it (a place beyond its edge would otherwise join the
    part at another node).
    """
    return _in_box(part, snapped)


def _in_box(part: Part, xy: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = part.box
    return np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))


class _Nowhere:
    """A part whose box holds street nodes but no street between them: nothing is walked."""

    def pairs(self, asset_xy: np.ndarray, radius: float, oas: np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = np.empty(0, dtype=np.int64)
        return e, e, np.empty(0)

    def nearest(self, oas: np.ndarray, asset_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(oas), np.nan), np.full(len(oas), -1, dtype=np.int64)

    def route_m(self, oas: np.ndarray, asset_xy: np.ndarray) -> np.ndarray:
        return np.full(len(oas), np.nan)


def engine_near(con: duckdb.DuckDBPyConnection, x: float, y: float) -> Engine | None:
    """Return the engine to walk from the point ``(x, y)``.

    Its authority's part where the store holds several authorities (every walk up to the buffer is exact there,
    and no region is routed as one), else the whole network's (None without a network).
    """
    from assetmap.network.graph import load_engine

    if network_key(con) is None:
        return None
    if settings.network_split:
        la, polys = authority_of(con, np.array([[x, y]]))
        if len(polys) > 1 and la[0]:
            x0, y0, x1, y1 = polys[la[0]].bounds
            buf = settings.network_buffer_m
            return part_engine(con, Part(la[0], (x0 - buf, y0 - buf, x1 + buf, y1 + buf), np.empty(0, dtype=np.int64)))
    return load_engine(con)


_whole: dict[Any, NetworkArrays] = {}
_parts: dict[tuple[Any, str, tuple[float, ...]], Engine] = {}
_lock = threading.Lock()


def whole_network(con: duckdb.DuckDBPyConnection, key: Any) -> NetworkArrays:
    """Return the stored network's arrays, read once per network and process."""
    with _lock:
        hit = _whole.get(key)
    if hit is not None:
        return hit
    whole = read_network(con, key)
    with _lock:
        if any(k != key for k in _whole):  # one network at a time per process
            _whole.clear()
            _parts.clear()
        _whole[key] = whole
    return whole


def sub_network(whole: NetworkArrays, box: tuple[float, float, float, float]) -> dict[str, Any]:
    """Return the nodes inside ``box`` and the edges with both ends inside it, as :class:`Engine`'s arguments.

    Every component is kept: a piece cut off by the box's edge is reached only by walks longer than the buffer,
    which the part does not claim to measure.
    """
    x0, y0, x1, y1 = box
    inside = (whole.xy[:, 0] >= x0) & (whole.xy[:, 0] <= x1) & (whole.xy[:, 1] >= y0) & (whole.xy[:, 1] <= y1)
    ids = whole.node_ids[inside]
    keep = np.isin(whole.from_node, ids) & np.isin(whole.to_node, ids)
    return {"node_ids": ids, "xy": whole.xy[inside], "from_node": whole.from_node[keep],
            "to_node": whole.to_node[keep], "length_m": whole.length_m[keep], "walk_m": whole.walk_m[keep],
            "extent": whole.extent}


def part_engine(con: duckdb.DuckDBPyConnection, part: Part) -> Engine | None:
    """Return the routing engine of one authority's part, built once.

    Return the routing engine of one authority's part, built once per network, part and process (None when no
    node of the network lies in the part).
    """
    key = network_key(con)
    if key is None:
        return None
    cache_key = (key, part.code, part.box)
    with _lock:
        hit = _parts.get(cache_key)
    if hit is not None:
        return hit
    sub = sub_network(whole_network(con, key), part.box)
    if len(sub["node_ids"]) == 0 or len(sub["from_node"]) == 0:
        return None
    engine = Engine(sub["node_ids"], sub["xy"], sub["from_node"], sub["to_node"], sub["length_m"], sub["walk_m"],
                    key=cache_key, extent=sub["extent"])
    with _lock:
        _parts[cache_key] = engine
    log.info("walking network part %s: %d nodes", part.code, engine.nodes)
    return engine


class PerAuthority:
    """Walking access measured per authority, each on its own part of the network (see the module docstring).

    Answers the same questions as :class:`~assetmap.network.cost.Walking`.
    """

    mode = NETWORK

    def __init__(self, con: duckdb.DuckDBPyConnection, oa_xy: np.ndarray, parts: list[Part],
                 oa_snap_m: float | None = None, asset_snap_m: float | None = None,
                 answered: dict[str, Any] | None = None) -> None:
        self.oa_xy = np.asarray(oa_xy, dtype=float)
        self.parts = parts
        self.asset_snap_m = settings.network_snap_m if asset_snap_m is None else asset_snap_m
        self._oa_snap_m = settings.network_oa_snap_m if oa_snap_m is None else oa_snap_m
        self._con = con
        whole = whole_network(con, network_key(con))
        self._node_tree = cKDTree(whole.xy)
        #: per part: its Walking over its own OAs (built when first asked: an incremental recompute
        #: asks a few authorities), a worker's answers as one, or straight lines where the part
        #: holds no street
        self.walks: list[Any] = [None] * len(parts)
        # an OA too far from the streets, or outside the extract's own box, is beyond them (as
        # Walking says: within 500 m, an OA's nearest node of the whole network is its part's)
        d, _ = self._node_tree.query(self.oa_xy, k=1) if len(self.oa_xy) else (np.empty(0), None)
        self._outside = np.asarray(d) > self._oa_snap_m
        if whole.extent is not None and len(self.oa_xy):
            x0, y0, x1, y1 = whole.extent
            x, y = self.oa_xy[:, 0], self.oa_xy[:, 1]
            self._outside |= ~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
        self._modes = np.full(len(self.oa_xy), NETWORK, dtype=object)
        xs = np.sort(whole.xy[:, 0])
        order = np.argsort(whole.xy[:, 0], kind="stable")
        ys = whole.xy[order, 1]
        for k, part in enumerate(parts):
            if answered and part.code in answered:  # answered by a worker (assetmap.network.parts)
                self.walks[k] = answered[part.code]
                self._outside[part.oas] = answered[part.code].outside
                continue
            x0, y0, x1, y1 = part.box
            lo, hi = np.searchsorted(xs, [x0, x1 + 1e-9])
            if not ((ys[lo:hi] >= y0) & (ys[lo:hi] <= y1)).any():
                # no street of the network in this authority: straight lines, and said so
                self.walks[k] = CrowFlies(self.part_points(self.oa_xy, part))
                self._outside[part.oas] = False
                self._modes[part.oas] = CROW_FLIES

    def _walk(self, k: int) -> Any:
        """Part ``k``'s walk, its engine built on first use."""
        if self.walks[k] is None:
            part = self.parts[k]
            engine = part_engine(self._con, part)
            if engine is None:  # nodes in its box but no street between them: nothing walked
                self._outside[part.oas] = True
                self.walks[k] = _Nowhere()
            else:
                self.walks[k] = Walking(engine, self.part_points(self.oa_xy, part), oa_snap_m=self._oa_snap_m,
                                        asset_snap_m=self.asset_snap_m)
        return self.walks[k]

    def like(self, xy: np.ndarray, oa_snap_m: float) -> PerAuthority | CrowFlies:
        """Return the same measure from other points, each from its own authority's part.

        Return the same measure from other points (bus stops, snapped to the streets like places), each from its
        own authority's part.
        """
        parts = parts_for(self._con, xy, at_least=1)
        if parts is None:
            return CrowFlies(xy)
        return PerAuthority(self._con, xy, parts, oa_snap_m=oa_snap_m, asset_snap_m=self.asset_snap_m)

    @staticmethod
    def part_points(oa_xy: np.ndarray, part: Part) -> np.ndarray:
        """Return the points of the part's own output areas."""
        return cast("np.ndarray", np.asarray(oa_xy, dtype=float)[part.oas])

    @property
    def outside(self) -> np.ndarray:
        """Per OA: True where its authority's network does not reach it."""
        return self._outside

    @property
    def modes(self) -> np.ndarray:
        """Per OA: how it is measured, ``network`` or (in an authority the network does not reach) ``crow_flies``."""
        return self._modes

    @property
    def crow_parts(self) -> list[str]:
        """The authorities the network does not reach, measured as the crow flies."""
        return [p.code for p, w in zip(self.parts, self.walks, strict=True) if isinstance(w, CrowFlies)]

    def off_network(self, asset_xy: np.ndarray) -> np.ndarray:
        """Per asset: too far from the network, in an authority it serves."""
        if len(asset_xy) == 0:
            return np.zeros(0, dtype=bool)
        asset_xy = np.asarray(asset_xy, dtype=float)
        d, _ = self._node_tree.query(asset_xy, k=1)
        served = np.zeros(len(asset_xy), dtype=bool)
        for part, walk in zip(self.parts, self.walks, strict=True):
            if not isinstance(walk, CrowFlies):
                served[_in_box(part, asset_xy)] = True
        return (np.asarray(d) > self.asset_snap_m) & served

    def _candidates(self, part: Part, walk: Any, asset_xy: np.ndarray, snapped: np.ndarray, radius: float | None,
                    ) -> np.ndarray:
        """Return the assets a part is asked about.

        On the network, those it may reach; as the crow flies, every one (nearest) or those within
        ``radius`` of its box.
        """
        if not isinstance(walk, CrowFlies):
            return in_part(part, snapped)
        if radius is None:
            return np.arange(len(asset_xy))
        return _in_box(part, asset_xy)

    def _local(self, part: Part, oas: np.ndarray | None) -> np.ndarray:
        """Return the part's own OAs among ``oas`` (global indices), as indices into the part's OAs."""
        if oas is None:
            return np.arange(len(part.oas))
        return np.flatnonzero(np.isin(part.oas, oas))

    def pairs(self, asset_xy: np.ndarray, radius: float, oas: np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(asset, OA, cost) for every pair within ``radius``, each OA measured in its own authority."""
        if radius > settings.network_buffer_m:
            log.warning("walks of %.0f m measured within each authority and a %.0f m buffer", radius,
                        settings.network_buffer_m)
        asset_xy = np.asarray(asset_xy, dtype=float)
        snapped = snapped_points(self._node_tree, asset_xy)
        got_a, got_o, got_c = [], [], []
        for k, part in enumerate(self.parts):
            if len(asset_xy) == 0:
                break
            local = self._local(part, None if oas is None else np.asarray(oas, dtype=np.int64))
            if len(local) == 0:
                continue
            near = self._candidates(part, self.walks[k], asset_xy, snapped, radius)
            if len(near) == 0:
                continue
            walk = self._walk(k)
            a, o, c = walk.pairs(asset_xy[near], radius, None if oas is None else local)
            got_a.append(near[a])
            got_o.append(part.oas[o])
            got_c.append(c)
        if not got_a:
            e = np.empty(0, dtype=np.int64)
            return e, e, np.empty(0)
        a, o, c = np.concatenate(got_a), np.concatenate(got_o), np.concatenate(got_c)
        order = np.lexsort((o, a))
        return a[order], o[order], c[order]

    def _each(self, oas: np.ndarray) -> list[tuple[Part, np.ndarray, np.ndarray, Any]]:
        """Return the parts holding some of ``oas``.

        For each: which of ``oas`` it holds, as positions in ``oas`` and as indices into the part's own OAs, and its
        walk.
        """
        oas = np.asarray(oas, dtype=np.int64)
        out = []
        for k, part in enumerate(self.parts):
            mine = np.flatnonzero(np.isin(oas, part.oas))
            if len(mine):
                out.append((part, mine, np.searchsorted(part.oas, oas[mine]), self._walk(k)))
        return out

    def nearest(self, oas: np.ndarray, asset_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each OA in ``oas``: the cost to its nearest asset in its authority's measure, and its index."""
        best = np.full(len(oas), np.nan)
        arg = np.full(len(oas), -1, dtype=np.int64)
        asset_xy = np.asarray(asset_xy, dtype=float)
        snapped = snapped_points(self._node_tree, asset_xy)
        for part, mine, local, walk in self._each(oas):
            near = self._candidates(part, walk, asset_xy, snapped, None)
            c, j = walk.nearest(local, asset_xy[near])
            best[mine], arg[mine] = c, np.where(j >= 0, near[np.maximum(j, 0)] if len(near) else -1, -1)
        return best, arg

    def route_m(self, oas: np.ndarray, asset_xy: np.ndarray) -> np.ndarray:
        """Return the length in metres of the walk from each OA ``oas[k]`` to ``asset_xy[k]`` in its authority."""
        out = np.full(len(oas), np.nan)
        asset_xy = np.asarray(asset_xy, dtype=float)
        for _, mine, local, walk in self._each(oas):
            out[mine] = walk.route_m(local, asset_xy[mine])
        return out
