"""SQL the writers share: one way to quote an identifier, one way to insert-or-replace rows.

Identifiers that vary (a table or column chosen by code) go through :func:`ident`; values always
travel as parameters or in a registered frame, never in the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:  # the store imports this module; only a caller with a frame needs pandas
    import pandas as pd

#: The name a frame is registered under while :func:`upsert` writes it.
FRAME = "_upsert"


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (a double quote in it doubled)."""
    if not name or "\x00" in name:
        msg = f"not an identifier: {name!r}"
        raise ValueError(msg)
    return '"' + name.replace('"', '""') + '"'


def upsert_sql(table: str, values: Mapping[str, str], keys: Sequence[str], *,
               update: Sequence[str] | None = None, update_where: str | None = None, source: str = FRAME) -> str:
    """Return the statement :func:`upsert` runs (see there)."""
    if not set(keys) <= set(values):
        msg = f"the keys {list(keys)} must be among the columns written {list(values)}"
        raise ValueError(msg)
    changed = [c for c in values if c not in keys] if update is None else list(update)
    # identifiers quoted by ident(); the expressions are the code's constants, never input
    select = f"SELECT {', '.join(values.values())} FROM {ident(source)}"  # noqa: S608
    head = (f"INSERT INTO {ident(table)} ({', '.join(map(ident, values))}) {select} "
            f"ON CONFLICT ({', '.join(map(ident, keys))}) ")
    if not changed:
        return head + "DO NOTHING"
    sets = ", ".join(f"{ident(c)} = excluded.{ident(c)}" for c in changed)
    return head + f"DO UPDATE SET {sets}" + (f" WHERE {update_where}" if update_where else "")


def upsert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | str, keys: Sequence[str], *,
           values: Mapping[str, str], params: Sequence[Any] = (), update: Sequence[str] | None = None,
           update_where: str | None = None) -> None:
    """Insert ``frame``'s rows into ``table``; a row whose ``keys`` are there already replaces it.

    Parameters
    ----------
    con
        The store's connection (inside the caller's transaction).
    table
        The table written.
    frame
        The rows, registered as ``_upsert`` while the statement runs; or the name of a table
        already in the connection (read where it is, not copied through pandas).
    keys
        The columns of the conflict target (the table's primary key or a unique constraint).
    values
        Each column written, with the SQL expression over the frame's columns that gives it
        (``{"geom": "ST_Point(x, y)", "ingest_id": "?"}``); constants of the code, never input.
    params
        The values of the ``?`` in ``values``, in order.
    update
        The columns a conflicting row takes from the new one (default: every column written but
        the keys; empty: the existing row is kept).
    update_where
        A condition on the existing row for replacing it (e.g. ``area_lookup.method = 'best_fit'``).
    """
    if isinstance(frame, str):
        con.execute(upsert_sql(table, values, keys, update=update, update_where=update_where, source=frame),
                     list(params))
        return
    sql = upsert_sql(table, values, keys, update=update, update_where=update_where)
    con.register(FRAME, frame)
    try:
        con.execute(sql, list(params))
    finally:
        con.unregister(FRAME)


def database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """Return the file ``con`` has open (None for a database in memory)."""
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return Path(row[0]) if row and row[0] else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
    """Return the first column of the first row of ``sql``, or None when it returns no row."""
    row = con.execute(sql, params or []).fetchone()
    return None if row is None else row[0]
