"""Keeping a walking network in the store: its largest connected part, with where it came from."""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np
from scipy.spatial import cKDTree

from assetmap.db import travel
from assetmap.network.graph import effort_m, largest_component
from assetmap.settings import settings

if TYPE_CHECKING:
    from assetmap.network.osm import RawNetwork

log = logging.getLogger(__name__)


@dataclass
class Kept:
    """What a network file left in the store."""

    nodes: int
    edges: int
    dropped_nodes: int
    islands: int
    xy: np.ndarray  # the kept nodes' points, for checking how far places lie from them

    def note(self) -> str:
        """Return what was kept, in a sentence for the ingest's note."""
        text = f"walking network: {self.nodes:,} nodes, {self.edges:,} edges"
        if self.dropped_nodes:
            text += (f" ({self.dropped_nodes:,} nodes in {self.islands:,} islands not joined to the main "
                     "network dropped)")
        return text


def write_network(con: duckdb.DuckDBPyConnection, raw: RawNetwork, ingest_id: int, source: str,
                  sha256: str) -> Kept:
    """Replace the store's network with the largest connected part of ``raw`` (inside the ingest's transaction)."""
    parts = largest_component(raw.nodes["node_id"].to_numpy(), raw.edges["from_node"].to_numpy(),
                              raw.edges["to_node"].to_numpy())
    nodes = raw.nodes[parts.keep].reset_index(drop=True)
    kept_ids = set(nodes["node_id"].to_numpy().tolist())
    edges = raw.edges[raw.edges["from_node"].isin(kept_ids)].reset_index(drop=True)
    # two ways over the same two nodes (a dual path) are one edge: the shorter
    a = np.minimum(edges["from_node"].to_numpy(), edges["to_node"].to_numpy())
    b = np.maximum(edges["from_node"].to_numpy(), edges["to_node"].to_numpy())
    edges = edges.assign(from_node=a, to_node=b)
    edges["walk_m"] = effort_m(edges["length_m"].to_numpy(), edges["highway"].to_numpy())
    edges = edges.sort_values(["from_node", "to_node", "walk_m", "length_m"], kind="stable") \
        .drop_duplicates(["from_node", "to_node"]).reset_index(drop=True)
    edges["seconds"] = np.round(edges["walk_m"].to_numpy() / (settings.walk_speed_kmh / 3.6), 3)
    min_x, min_y, max_x, max_y = raw.extent or (None, None, None, None)
    travel.replace_network(con, nodes, edges, {
        "ingest_id": ingest_id, "source": source, "sha256": sha256, "osm_timestamp": raw.timestamp,
        "walk_speed_kmh": settings.walk_speed_kmh, "nodes": len(nodes), "edges": len(edges),
        "dropped_nodes": parts.dropped_nodes, "dropped_islands": parts.islands,
        "loaded_at": _dt.datetime.now(_dt.UTC).replace(tzinfo=None),
        "min_x": min_x, "min_y": min_y, "max_x": max_x, "max_y": max_y})
    kept = Kept(len(nodes), len(edges), parts.dropped_nodes, parts.islands, nodes[["x", "y"]].to_numpy(float))
    log.info(kept.note())
    return kept


def distance_to_network(kept_xy: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Straight-line metres from each point to the nearest kept network node."""
    if len(xy) == 0:
        return np.empty(0)
    d, _ = cKDTree(kept_xy).query(np.asarray(xy, dtype=float), k=1)
    return np.asarray(d, dtype=float)
