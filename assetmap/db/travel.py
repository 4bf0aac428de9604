"""The tables of how people travel.

The walking network (written whole by an ingest, read back as arrays by :mod:`assetmap.network`) and the bus
timetable's stops, departures and links (read by :mod:`assetmap.transit`).
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

# -- the walking network -------------------------------------------------------------------------

def replace_network(con: duckdb.DuckDBPyConnection, nodes: pd.DataFrame, edges: pd.DataFrame,
                    info: dict[str, Any]) -> None:
    """Replace the stored network with ``nodes`` and ``edges``, described by ``info``.

    Replace the stored network with ``nodes`` (``node_id, x, y``) and ``edges`` (``from_node, to_node, length_m,
    walk_m, seconds, highway, way_id``), described by ``info`` (a ``network_info`` row: ingest_id, source,
    sha256, osm_timestamp, walk_speed_kmh, nodes, edges, dropped_nodes, dropped_islands, loaded_at, min_x,
    min_y, max_x, max_y).
    """
    con.execute("DELETE FROM network_edges")
    con.execute("DELETE FROM network_nodes")
    con.register("_nodes", nodes[["node_id", "x", "y"]])
    con.register("_edges", edges[["from_node", "to_node", "length_m", "walk_m", "seconds", "highway", "way_id"]])
    try:
        con.execute("INSERT INTO network_nodes SELECT node_id, x, y FROM _nodes")
        con.execute("INSERT INTO network_edges SELECT from_node, to_node, length_m, walk_m, seconds, highway, way_id "
                    "FROM _edges")
    finally:
        con.unregister("_nodes")
        con.unregister("_edges")
    con.execute("DELETE FROM network_info")
    con.execute(
        """INSERT INTO network_info (ingest_id, source, sha256, osm_timestamp, walk_speed_kmh, nodes, edges,
                                     dropped_nodes, dropped_islands, loaded_at, min_x, min_y, max_x, max_y)
           VALUES ($ingest_id, $source, $sha256, $osm_timestamp, $walk_speed_kmh, $nodes, $edges,
                   $dropped_nodes, $dropped_islands, $loaded_at, $min_x, $min_y, $max_x, $max_y)""", info)


def network_row(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """``ingest_id, sha256, nodes, edges`` of the stored network (None when none is loaded).

    Raises :class:`duckdb.CatalogException` on a store from before networks.
    """
    return con.execute("SELECT ingest_id, sha256, nodes, edges FROM network_info "
                       "ORDER BY ingest_id DESC LIMIT 1").fetchone()


def network_arrays(con: duckdb.DuckDBPyConnection) -> tuple[tuple[Any, ...] | None, dict[str, np.ndarray],
                                                          dict[str, np.ndarray]]:
    """Return the stored network.

    Its extract's box (``min_x, min_y, max_x, max_y``, None when no network), its nodes (``node_id, x, y``, by
    id) and edges (``from_node, to_node, length_m, walk_m``, by ends).
    """
    box = con.execute("SELECT min_x, min_y, max_x, max_y FROM network_info ORDER BY ingest_id DESC LIMIT 1").fetchone()
    nodes = con.execute("SELECT node_id, x, y FROM network_nodes ORDER BY node_id").fetchnumpy()
    edges = con.execute("SELECT from_node, to_node, length_m, walk_m FROM network_edges "
                        "ORDER BY from_node, to_node").fetchnumpy()
    return box, nodes, edges


# -- the timetable -------------------------------------------------------------------------------

def has_timetable(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a bus timetable is loaded."""
    row = con.execute("SELECT EXISTS (SELECT 1 FROM transit_info)").fetchone()
    return bool(row and row[0])


def stops(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``stop_id, x, y`` of every stop kept, by id."""
    return con.execute("SELECT stop_id, x, y FROM transit_stops ORDER BY stop_id").df()


def departures(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Return the departures of each stop, route and direction on the service date.

    ``stop_id, route_id, route_name, mode, direction_id, departures`` of each stop, route and direction on the
    service date.
    """
    return con.execute("SELECT stop_id, route_id, route_name, mode, direction_id, departures "
                       "FROM transit_departures ORDER BY stop_id, route_id, direction_id").df()


def links(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``route_id, from_stop, to_stop, ride_min, departures``: each ride between two stops."""
    return con.execute("SELECT route_id, from_stop, to_stop, ride_min, departures FROM transit_links").df()
