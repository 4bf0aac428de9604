"""The SQL of making a snapshot (:func:`assetmap.snapshots.publish`): what a copy of the store
loses before anyone reads it, the counts of sensitive sites, the snapshot's own description, and
the public variant made table by table from the partner one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pandas as pd


class UnknownTable(ValueError):
    """A table of the partner snapshot that no rule says what the public may have of."""


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write the write-ahead log into the file, so that a copy of the file is the whole store."""
    con.execute("CHECKPOINT")


def last_ingest(con: duckdb.DuckDBPyConnection) -> int | None:
    """The newest ingest's id (what a snapshot says it holds up to)."""
    row = con.execute("SELECT max(ingest_id) FROM ingests").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def drop_private(con: duckdb.DuckDBPyConnection) -> None:
    """Remove from a copy of the store what no reader of either variant sees: pending (and
    rejected) submissions with the moderators' notes, and who is told what (subscriptions and
    their deliveries)."""
    con.execute("DELETE FROM submissions WHERE status <> 'approved'")
    con.execute("DELETE FROM deliveries")
    con.execute("DELETE FROM subscriptions")


def count_sensitive(con: duckdb.DuckDBPyConnection, reach_m: float) -> None:
    """Fill ``sensitive_site_counts``: per ward and category, the sensitive sites in it and within
    ``reach_m`` of it (all a public snapshot says of them)."""
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
    """Fill a new, migrated store (``con``) from the partner snapshot at ``partner``, table by
    table as ``rules`` says: ``copy``, ``omit`` (empty), ``disclosure`` (the rows in ``ruled``),
    or a SELECT of its own. ``keep`` are filled in place (the others' foreign keys name
    ``ingests``); every other table is made again by ``CREATE TABLE … AS``. A table of the partner
    snapshot that ``rules`` does not name is refused (:class:`UnknownTable`): nothing reaches the public
    unless a rule says how."""
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
            raise UnknownTable(f"publish does not know what the public snapshot may hold of {unknown}: "
                             "add them to assetmap.snapshots.PUBLIC_TABLES")
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
