"""The walking network: a layer read from OpenStreetMap, and access measured along it.

- :mod:`assetmap.network.osm` reads the walkable ways (and the places) of an OSM PBF or XML file;
- :mod:`assetmap.network.store` keeps the largest connected part of it in the store;
- :mod:`assetmap.network.graph` hands it to the routing engine (pandana);
- :mod:`assetmap.network.cost` is the one interface the analysis asks "how far" through, with a
  straight-line and a walking provider behind it.
"""

from __future__ import annotations

import duckdb
import numpy as np
from scipy.spatial import cKDTree

from assetmap.network.cost import CROW_FLIES, NETWORK, Costs, CrowFlies, Walking
from assetmap.network.graph import Engine, load_engine, network_key


def costs_for(con: duckdb.DuckDBPyConnection, oa_xy: np.ndarray, oa_tree: cKDTree | None = None) -> Costs:
    """The provider for the store ``con`` reads: on foot where a network is loaded, otherwise as
    the crow flies; per authority where its points lie in several (:mod:`assetmap.network.split`)."""
    if network_key(con) is None:
        return CrowFlies(oa_xy, oa_tree)
    from assetmap.network.split import PerAuthority, parts_for

    parts = parts_for(con, oa_xy)
    if parts is not None:  # several authorities: each on its own part of the network
        return PerAuthority(con, oa_xy, parts)
    engine = load_engine(con)
    if engine is None:
        return CrowFlies(oa_xy, oa_tree)
    return Walking(engine, oa_xy, oa_tree)


__all__ = ["CROW_FLIES", "NETWORK", "Costs", "CrowFlies", "Engine", "Walking", "costs_for", "load_engine",
           "network_key"]
