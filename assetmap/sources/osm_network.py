"""OpenStreetMap PBF and XML extracts: the walking network, and the places the file holds.

The network replaces the store's (its largest connected part; islands are dropped and counted);
the places are assets, read as the Overpass reader reads them. A place farther than
``settings.network_snap_m`` from the kept network is quarantined as ``off_network`` (it would
otherwise be joined to the network across a river or a railway). See :mod:`assetmap.network.osm`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from pyproj import Transformer

from assetmap.network import osm as network_osm
from assetmap.network.store import distance_to_network, write_network
from assetmap.settings import DISPLAY_CRS, STORE_CRS, settings
from assetmap.sources import osm as osm_assets
from assetmap.sources._assets import frame, write_assets
from assetmap.sources._io import ReadResult, quarantine_row, sha256_bytes
from assetmap.sources.registry import Reader, Written
from assetmap.vocab.file_kinds import KINDS

KIND = "network"  # network_osm.KIND (spelt out: this module may load while that one does)


def read(path: Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Return the walking network and the file's places.

    Return the walking network (in ``meta['network']``) and the file's places (the rows, read by the Overpass
    reader's rules: :func:`assetmap.sources.osm.place_row`).
    """
    raw, places = network_osm.parse(data, Path(path))
    rows = [osm_assets.place_row(i, {"id": osm_id, "tags": tags}, osm_id, tags, lat, lon)
            for i, (osm_id, tags, lat, lon) in enumerate(places, start=1)]
    return ReadResult(KIND, frame(rows), [], len(places),
                      {"network": raw, "source_format": "osm", "sha256": sha256_bytes(data)})


def _off_network(frame: pd.DataFrame, kept_xy: np.ndarray) -> pd.Series:
    """Metres from each placed candidate to the kept network (NaN for those with no place)."""
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(float)
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    out = np.full(len(frame), np.nan)
    if ok.any():
        x, y = Transformer.from_crs(DISPLAY_CRS, STORE_CRS, always_xy=True).transform(lon[ok], lat[ok])
        out[ok] = distance_to_network(kept_xy, np.column_stack([x, y]))
    return pd.Series(out, index=frame.index)


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    kept = write_network(con, result.meta["network"], ingest_id, source, result.meta["sha256"])
    rows = result.frame
    quarantine: list[dict[str, Any]] = []
    if not rows.empty:
        metres = _off_network(rows, kept.xy)
        far = (metres > settings.network_snap_m) & rows["reason"].isna()
        for _, r in rows[far].iterrows():
            quarantine.append(quarantine_row(
                int(r["row_number"]), r["raw"], "off_network",
                f"{r['source_record_id'] or r['row_number']}: {metres[_]:,.0f} m from the nearest walkable way, "
                f"more than {settings.network_snap_m:,.0f} m: not joined to the network across what lies between"))
        rows = rows[~far]
    places = ReadResult(result.kind, rows, list(result.quarantine) + quarantine, result.rows_read, result.meta)
    if rows.empty:
        return Written(0, places.quarantine, [], 0, kept.note())
    written = write_assets(con, places, ingest_id, source, options)
    written.note = "; ".join(x for x in (kept.note(), written.note) if x)
    return written


READER = Reader(
    KIND, KINDS[KIND], read, write,
    tables=("network_nodes", "network_edges", "network_info", "assets", "asset_versions"), rank=4,
    holds_assets=True, binary=lambda data, path: network_osm.looks_like_osm_file(data, path))
