"""The SQL of making a snapshot (:func:`assetmap.snapshots.publish`).

What a copy of the store loses before anyone reads it, the counts of sensitive sites, the snapshot's own
description, and the public variant made table by table from the partner one: what it holds of each table
(:data:`PUBLIC_TABLES`) and the rows the disclosure rule (:mod:`assetmap.disclosure`) rewrites.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from assetmap.vocab.file_kinds import ASSET_KINDS

if TYPE_CHECKING:
    import pandas as pd


_ASSET_KINDS = "(" + ", ".join(f"'{k}'" for k in sorted(ASSET_KINDS)) + ")"

#: What the public variant holds of each table of the store: ``copy`` (every row), ``omit`` (no
#: row), ``disclosure`` (the rows :func:`assetmap.disclosure.public_frames` computes), or a SELECT
#: over the partner snapshot (attached as ``src``). A table the store gains must
#: be listed here, or publishing refuses (tests/test_snapshots.py checks every table is).
#: Applied by :func:`copy_public`; :mod:`assetmap.snapshots` publishes with it.
PUBLIC_TABLES: dict[str, str] = {
    "assets": "SELECT * FROM src.assets WHERE NOT sensitive",
    # every version of a site that was ever sensitive stays out
    "asset_versions": """SELECT * FROM src.asset_versions WHERE asset_id NOT IN
                          (SELECT asset_id FROM src.asset_versions WHERE sensitive)""",
    # the figures that count sites near a place: the disclosure rule (assetmap.disclosure)
    **dict.fromkeys(("oa_access", "unit_access", "unit_gaps", "unit_gaps_as_at", "unit_languages"), "disclosure"),
    # a rejected row of a provider file may be a sensitive site's record
    "quarantine": f"""SELECT q.* REPLACE (
                           CASE WHEN i.kind IN {_ASSET_KINDS} THEN NULL ELSE q.raw END AS raw,
                           CASE WHEN i.kind IN {_ASSET_KINDS} THEN 'withheld from the public snapshot: see the '
                                || 'reason code' ELSE q.message END AS message)
                      FROM src.quarantine q JOIN src.ingests i USING (ingest_id)""",  # noqa: S608 (vocabulary)
    # what a reader changed in a row: the given text of a provider file's row is withheld like its quarantine
    "repairs": f"""SELECT r.* REPLACE (CASE WHEN i.kind IN {_ASSET_KINDS} THEN NULL ELSE r.given END AS given)
                   FROM src.repairs r JOIN src.ingests i USING (ingest_id)""",  # noqa: S608 (vocabulary)
    "analysed_assets": "omit", "submissions": "omit", "subscriptions": "omit", "deliveries": "omit",
    "schema_migrations": "copy",  # (the new file's own, written when its schema was made)
    "snapshot_info": "omit",
    **dict.fromkeys((
        "area_cells", "area_grid", "area_lookup", "area_parts", "areas", "dispersal", "dispersal_unallocated",
        "display_areas", "events",
        "ingests", "network_edges", "network_info", "network_nodes",
        "oa_inputs", "oa_ptal", "oa_ptal_routes", "partner_indices", "population", "population_estimates", "postcodes",
        "scorecard_indicators", "sensitive_site_counts", "transit_departures", "transit_info", "transit_links",
        "transit_stops", "unit_indices", "unit_need", "unit_ptal"), "copy"),
}


class UnknownTable(ValueError):
    """A table of the partner snapshot that no rule says what the public may have of."""


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write the write-ahead log into the file, so that a copy of the file is the whole store."""
    con.execute("CHECKPOINT")


def last_ingest(con: duckdb.DuckDBPyConnection) -> int | None:
    """Return the newest ingest's id (what a snapshot says it holds up to)."""
    row = con.execute("SELECT max(ingest_id) FROM ingests").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def drop_private(con: duckdb.DuckDBPyConnection) -> None:
    """Remove from a copy of the store what no reader of either variant sees.

    Pending (and rejected) submissions with the moderators' notes, and who is told what (subscriptions and their
    deliveries).
    """
    con.execute("DELETE FROM submissions WHERE status <> 'approved'")
    con.execute("DELETE FROM deliveries")
    con.execute("DELETE FROM subscriptions")


def sensitivity_by_category(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool, bool]]:
    """``category, any sensitive, every one sensitive`` of each category with sites."""
    return con.execute("SELECT category, bool_or(sensitive), bool_and(sensitive) FROM assets GROUP BY 1").fetchall()


def oa_access_except(con: duckdb.DuckDBPyConnection, categories: list[str]) -> pd.DataFrame:
    """Return the ``oa_access`` rows of every category but ``categories``."""
    return con.execute("SELECT * FROM oa_access WHERE NOT list_contains(?, category)", [categories]).df()


#: the result tables the disclosure rule rewrites, read whole
_RULED_READS = {
    "unit_access": "SELECT * FROM unit_access",
    "unit_gaps": "SELECT * FROM unit_gaps",
    "unit_gaps_as_at": "SELECT * FROM unit_gaps_as_at",
    "unit_languages": "SELECT * FROM unit_languages",
}


def ruled_rows(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """Every row of ``table``, one of the result tables the disclosure rule rewrites."""
    return con.execute(_RULED_READS[table]).df()


def count_sensitive(con: duckdb.DuckDBPyConnection, reach_m: float) -> None:
    """Fill ``sensitive_site_counts``.

    Per ward and category, the sensitive sites in it and within ``reach_m`` of it (all a public snapshot says of
    them).
    """
    con.execute("DELETE FROM sensitive_site_counts")
    con.execute(
        """INSERT INTO sensitive_site_counts
           SELECT w.code, a.category, count(*) FILTER (WHERE a.ward_code = w.code), count(*)
           FROM assets a JOIN areas w ON w.level = 'ward' AND ST_DWithin(a.geom, w.geom, ?)
           WHERE a.sensitive GROUP BY ALL""", [float(reach_m)])


def describe(con: duckdb.DuckDBPyConnection, variant: str, sid: str) -> None:
    """Record in the snapshot which variant it is and its id."""
    con.execute("DELETE FROM snapshot_info")
    con.executemany("INSERT INTO snapshot_info VALUES (?, ?)", [["variant", variant], ["snapshot_id", sid]])


def copy_public(con: duckdb.DuckDBPyConnection, partner: Path, rules: Mapping[str, str],
                ruled: Mapping[str, pd.DataFrame], transaction: Callable[[], AbstractContextManager[object]],
                keep: tuple[str, ...] = ("schema_migrations", "ingests")) -> None:
    """Fill a new, migrated store (``con``) from the partner snapshot at ``partner``, table by table as ``rules`` says.

    ``copy``, ``omit`` (empty), ``disclosure`` (the rows in ``ruled``), or a SELECT of its own. ``keep`` are
    filled in place (the others' foreign keys name ``ingests``); every other table is made again by ``CREATE
    TABLE … AS``. A table of the partner snapshot that ``rules`` does not name is refused
    (:class:`UnknownTable`): nothing reaches the public unless a rule says how.
    """
    referencing = {t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY' "
        "AND database_name = current_database()").fetchall()}
    quoted = str(partner).replace("'", "''")  # ATTACH takes no parameters; the path is ours
    con.execute(f"ATTACH '{quoted}' AS src (READ_ONLY)")
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src' "
            "AND table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        unknown = sorted(set(tables) - set(rules))
        if unknown:
            msg = (f"publish does not know what the public snapshot may hold of {unknown}: "
                   "add them to assetmap.db.snapshot.PUBLIC_TABLES")
            raise UnknownTable(msg)
        with transaction():
            # the tables that name others first
            for table in sorted(tables, key=lambda t: t not in referencing):
                if table not in keep:
                    con.execute(f"DROP TABLE main.{table}")
            con.execute("INSERT INTO main.ingests BY NAME SELECT * FROM src.ingests")
            for table in tables:
                if table not in keep:
                    _make_public(con, table, rules[table], ruled.get(table))
    finally:
        con.execute("DETACH src")


def _make_public(con: duckdb.DuckDBPyConnection, table: str, rule: str, frame: pd.DataFrame | None) -> None:
    select = (f"SELECT * FROM src.{table}" if rule == "copy"  # noqa: S608 (fixed names)
              else f"SELECT * FROM src.{table} LIMIT 0" if rule in ("omit", "disclosure")  # noqa: S608
              else rule)
    con.execute(f"CREATE TABLE main.{table} AS {select}")
    if rule == "disclosure" and frame is not None and not frame.empty:
        con.register("_ruled", frame)
        try:
            con.execute(f"INSERT INTO main.{table} BY NAME SELECT * FROM _ruled")  # noqa: S608
        finally:
            con.unregister("_ruled")
