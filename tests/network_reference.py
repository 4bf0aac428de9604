"""An independent reference for walking distances: networkx's Dijkstra on the stored edges.

Nothing here calls assetmap's engine or providers. Each output area and asset joins the graph as a
leaf node by a straight line to its nearest network node, found by brute force (every node's
distance computed), exactly as a walk is defined in ``assetmap.network.cost``.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from assetmap.settings import settings


def graph(con) -> tuple[nx.Graph, np.ndarray, np.ndarray]:
    """The stored network as a networkx graph (weights ``effort`` and ``length``), with the node
    ids and points in id order."""
    nodes = con.execute("SELECT node_id, x, y FROM network_nodes ORDER BY node_id").fetchnumpy()
    edges = con.execute("SELECT from_node, to_node, length_m, walk_m FROM network_edges").fetchnumpy()
    g = nx.Graph()
    g.add_nodes_from(nodes["node_id"].tolist())
    for a, b, length, walk in zip(edges["from_node"].tolist(), edges["to_node"].tolist(),
                                  edges["length_m"].tolist(), edges["walk_m"].tolist(), strict=True):
        if g.has_edge(a, b) and g[a][b]["effort"] <= walk:
            continue
        g.add_edge(a, b, effort=walk, length=length)
    return g, np.asarray(nodes["node_id"]), np.column_stack([nodes["x"], nodes["y"]])


def nearest_node_brute(node_xy: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's nearest node by computing its distance to every node (no spatial index)."""
    out_i = np.empty(len(xy), dtype=np.int64)
    out_d = np.empty(len(xy))
    for start in range(0, len(xy), 256):
        p = xy[start:start + 256]
        d2 = (p[:, None, 0] - node_xy[None, :, 0]) ** 2 + (p[:, None, 1] - node_xy[None, :, 1]) ** 2
        i = d2.argmin(axis=1)
        out_i[start:start + 256] = i
        out_d[start:start + 256] = np.sqrt(d2[np.arange(len(p)), i])
    return out_i, out_d


class Reference:
    """Walks between output areas and assets by networkx Dijkstra (see the module docstring)."""

    def __init__(self, con, oa_xy: np.ndarray) -> None:
        self.g, self.ids, self.node_xy = graph(con)
        self.oa_xy = np.asarray(oa_xy, dtype=float)
        i, d = nearest_node_brute(self.node_xy, self.oa_xy)
        self.outside = d > settings.network_oa_snap_m
        box = con.execute("SELECT min_x, min_y, max_x, max_y FROM network_info").fetchone()
        if box is not None and box[0] is not None:  # the extract's own box, where the file gave one
            x, y = self.oa_xy[:, 0], self.oa_xy[:, 1]
            self.outside |= ~((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3]))
        for k in np.flatnonzero(~self.outside):
            self.g.add_edge(("oa", int(k)), int(self.ids[i[k]]), effort=float(d[k]), length=float(d[k]))

    def add_assets(self, asset_xy: np.ndarray) -> np.ndarray:
        """Join the assets (as ``("asset", j)``); True where one is close enough to be reached."""
        for n in [n for n in self.g.nodes if isinstance(n, tuple) and n[0] == "asset"]:
            self.g.remove_node(n)
        i, d = nearest_node_brute(self.node_xy, np.asarray(asset_xy, dtype=float))
        on = d <= settings.network_snap_m
        for j in np.flatnonzero(on):
            self.g.add_edge(("asset", int(j)), int(self.ids[i[j]]), effort=float(d[j]), length=float(d[j]))
        return on

    def nearest(self, on: np.ndarray) -> np.ndarray:
        """Each OA's walk (effort metres) to its nearest reachable asset, by one multi-source
        Dijkstra from every asset (NaN outside or with none)."""
        sources = [("asset", int(j)) for j in np.flatnonzero(on)]
        dist = nx.multi_source_dijkstra_path_length(self.g, sources, weight="effort") if sources else {}
        return np.array([np.nan if self.outside[k] else dist.get(("oa", k), np.nan) for k in range(len(self.oa_xy))])

    def within(self, on: np.ndarray, radius: float) -> dict[tuple[int, int], float]:
        """(asset, OA) -> walk for every pair within ``radius``."""
        out = {}
        for j in np.flatnonzero(on):
            dist = nx.single_source_dijkstra_path_length(self.g, ("asset", int(j)), cutoff=radius, weight="effort")
            for node, d in dist.items():
                if isinstance(node, tuple) and node[0] == "oa":
                    out[(int(j), node[1])] = d
        return out

    def route_m(self, oa: int, asset: int) -> float:
        """The shortest route's length in metres between an OA and an asset."""
        return nx.dijkstra_path_length(self.g, ("oa", oa), ("asset", asset), weight="length")
