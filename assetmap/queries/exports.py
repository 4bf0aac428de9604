"""What the downloads read (:mod:`assetmap.export`, :mod:`assetmap.openreferral`).

Each layer as rows with its geometry as WKB, the sites as Open Referral needs them, and how many sensitive sites a
public download leaves out. Used as a module (``from assetmap.queries import exports``).
"""

from __future__ import annotations

import duckdb
import pandas as pd


def area_layer(con: duckdb.DuckDBPyConnection, level: str) -> pd.DataFrame:
    """Return the areas of ``level`` with each one's bus and rail access and ``wkb``.

    Return the areas of ``level`` with each one's bus and rail access (PTAL: an OA's own, a unit's residents'
    mean; empty until a timetable is loaded and analysed) and ``wkb``.
    """
    return con.execute(
        """SELECT a.code, a.name, a.level, a.parent_code, a.vintage, a.source,
                  coalesce(o.ptal_ai, u.ptal_ai) AS ptal_ai, coalesce(o.ptal_band, u.ptal_band) AS ptal_band,
                  ST_AsWKB(a.geom) AS wkb
           FROM areas a
           LEFT JOIN oa_ptal o ON a.level = 'oa' AND o.oa_code = a.code
           LEFT JOIN unit_ptal u ON a.level <> 'oa' AND u.unit_level = a.level AND u.unit_code = a.code
           WHERE a.level = ? ORDER BY a.code""", [level]).df()


def asset_layer(con: duckdb.DuckDBPyConnection, partner: bool) -> pd.DataFrame:
    """Every site (the sensitive ones only for ``partner``) with ``wkb``, by id."""
    return con.execute(
        "SELECT asset_id, category, subtype, name, address, postcode, attrs::VARCHAR AS attrs, "
        "sensitive, source, source_record_id, licence, observed_at, oa_code, ward_code, "
        "ST_AsWKB(geom) AS wkb FROM assets WHERE ? OR NOT sensitive ORDER BY asset_id", [partner]).df()


def quarantine_layer(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every quarantined row with the file it came from and why."""
    return con.execute(
        "SELECT q.ingest_id, i.path, q.row_number, q.reason_code, q.message, q.raw "
        "FROM quarantine q JOIN ingests i USING (ingest_id) ORDER BY q.ingest_id, q.row_number").df()


def sensitive_sites(con: duckdb.DuckDBPyConnection) -> int:
    """How many sites are sensitive (what a public download leaves out)."""
    row = con.execute("SELECT count(*) FROM assets WHERE sensitive").fetchone()
    return int(row[0]) if row else 0


def referral_sites(con: duckdb.DuckDBPyConnection, partner: bool) -> pd.DataFrame:
    """Every site (the sensitive ones only for ``partner``) as Open Referral needs it.

    Its fields, ``lat``/``lon`` (EPSG:4326) and its local authority's code and name, by id.
    """
    return con.execute(
        """SELECT a.asset_id, a.category, a.subtype, a.name, a.address, a.postcode, a.attrs::VARCHAR AS attrs,
                  a.sensitive, a.source, a.source_record_id, a.licence, a.observed_at,
                  ST_Y(ST_Transform(a.geom, 'EPSG:27700', 'EPSG:4326', always_xy := true)) AS lat,
                  ST_X(ST_Transform(a.geom, 'EPSG:27700', 'EPSG:4326', always_xy := true)) AS lon,
                  l.parent_code AS la_code, la.name AS la_name
           FROM assets a
           LEFT JOIN area_lookup l ON l.area_code = a.ward_code AND l.parent_level = 'la'
           LEFT JOIN areas la ON la.code = l.parent_code
           WHERE ? OR NOT a.sensitive ORDER BY a.asset_id""", [partner]).df()
