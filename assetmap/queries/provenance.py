"""Provenance: layers, ingests, quarantined rows, repairs and events."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from assetmap.db.sql import scalar


def layers(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every layer loaded, with source, licence, vintage, rows and the ingests it came from."""
    return con.execute(
        """SELECT 'boundaries: ' || level AS layer, coalesce(source, '') AS source, '' AS licence,
                  coalesce(vintage, '') AS vintage, count(*) AS rows,
                  string_agg(DISTINCT ingest_id::VARCHAR, ', ') AS ingests
           FROM areas GROUP BY ALL
           UNION ALL
           SELECT 'census: ' || variable, coalesce(source, ''), '', vintage, count(*),
                  string_agg(DISTINCT ingest_id::VARCHAR, ', ')
           FROM population GROUP BY ALL
           UNION ALL
           SELECT 'assets: ' || category, source, coalesce(licence, ''), coalesce(max(observed_at)::VARCHAR, ''),
                  count(*), string_agg(DISTINCT ingest_id::VARCHAR, ', ')
           FROM assets GROUP BY ALL
           UNION ALL
           SELECT 'dispersal: ' || support_type, coalesce(source, ''), '', max(period)::VARCHAR, count(*),
                  string_agg(DISTINCT ingest_id::VARCHAR, ', ')
           FROM dispersal GROUP BY ALL
           ORDER BY 1, 2""").df()


def ingests(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every ingest, newest first, with its row accounting."""
    return con.execute(
        """SELECT ingest_id, path, kind, status, rows_read, rows_accepted, rows_quarantined, started_at, message
           FROM ingests ORDER BY ingest_id DESC""").df()


def quarantine_reasons(con: duckdb.DuckDBPyConnection, ingest_id: int | None = None) -> pd.DataFrame:
    """Quarantined rows per ingest and reason (of one ingest, or all), the most common first."""
    return con.execute(
        """SELECT ingest_id, reason_code, count(*) AS rows FROM quarantine WHERE ? IS NULL OR ingest_id = ?
           GROUP BY ALL ORDER BY ingest_id DESC, rows DESC, reason_code""", [ingest_id, ingest_id]).df()


def quarantine_rows(con: duckdb.DuckDBPyConnection, ingest_id: int | None = None, reason: str | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
    """Return the quarantined rows themselves, with the file each came from."""
    rows = con.execute(
        """SELECT q.ingest_id, i.path, q.row_number, q.reason_code, q.message, q.raw
           FROM quarantine q JOIN ingests i USING (ingest_id)
           WHERE (? IS NULL OR q.ingest_id = ?) AND (? IS NULL OR q.reason_code = ?)
           ORDER BY q.ingest_id, q.row_number LIMIT ?""", [ingest_id, ingest_id, reason, reason, limit]).fetchall()
    keys = ["ingest_id", "path", "row_number", "reason_code", "message", "raw"]
    return [dict(zip(keys, r, strict=True)) for r in rows]


def repairs(con: duckdb.DuckDBPyConnection, ingest_id: int | None = None, limit: int = 500) -> pd.DataFrame:
    """Return what readers changed in rows to store them, newest ingest first.

    Return what readers changed in rows to store them (a code repaired by the row's name, repeated figures added
    up), with the file and the reason, newest ingest first.
    """
    cols = ["ingest_id", "path", "row_number", "field", "given", "stored", "reason"]
    if not scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'repairs'"):
        return pd.DataFrame(columns=cols)  # a snapshot made before repairs were recorded
    return con.execute(
        """SELECT r.ingest_id, i.path, r.row_number, r.field, r.given, r.stored, r.reason
           FROM repairs r JOIN ingests i USING (ingest_id) WHERE ? IS NULL OR r.ingest_id = ?
           ORDER BY r.ingest_id DESC, r.row_number LIMIT ?""", [ingest_id, ingest_id, limit]).df()


def events_timeline(con: duckdb.DuckDBPyConnection, limit: int = 500) -> pd.DataFrame:
    """Return the latest events, newest first."""
    return con.execute("SELECT occurred_at, name, payload::VARCHAR AS payload FROM events "
                       "ORDER BY occurred_at DESC LIMIT ?", [limit]).df()




def analysed_since(con: duckdb.DuckDBPyConnection, ingest_id: int) -> bool:
    """Whether the analysis was computed after ingest ``ingest_id`` finished."""
    return bool(scalar(con, "SELECT (SELECT max(computed_at) FROM unit_access) >= finished_at FROM ingests "
                            "WHERE ingest_id = ?", [ingest_id]))
