"""The store's schema as files.

Versioned migrations in ``migrations/NNN_what.sql``; and, beside it, the SQL that writes the store outside the
readers: :mod:`~assetmap.db.sql` (quoting an identifier, one upsert, one scalar), :mod:`~assetmap.db.geography` (the
areas' spatial index and lookups, tables derived from the boundaries), :mod:`~assetmap.db.results` (the analysis's
result tables, written and read back by a recompute) and :mod:`~assetmap.db.snapshot` (making a snapshot). Reads are
:mod:`assetmap.queries`.

Each file is one schema version, applied in order in one transaction by
:meth:`assetmap.db.store.Store.migrate`, which records the version in ``schema_migrations``. A file
that has shipped is never edited: a change to the schema is a new file with the next number.
``tests/test_migrations.py`` keeps a store of every earlier version and checks that migrating it
gives exactly the schema a new store gets, so an edited migration fails there.

The lists in CHECK constraints (categories, index names, unit levels) are the vocabulary's words
written out (:mod:`assetmap.vocab`); a test keeps them equal, so a new word needs a migration.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One schema version: its number, its file's name, its SQL."""

    version: int
    name: str
    sql: str


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Every migration, in version order (1, 2, 3 ... without gaps)."""
    found = []
    for entry in (resources.files(__package__) / "migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        named = _FILE.match(entry.name)
        if named is None:
            msg = f"migration file {entry.name}: not named NNN_what.sql"
            raise RuntimeError(msg)
        found.append(Migration(int(named.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        msg = f"migrations must be numbered 1, 2, 3 ... without gaps or repeats, not {versions}"
        raise RuntimeError(msg)
    return tuple(found)


def schema(con: Any) -> list[str]:
    """Return what a store's schema is, as comparable lines.

    Each table's, view's and macro's definition and each constraint, as DuckDB reports them (the bookkeeping
    table ``schema_migrations`` left out).
    """
    lines = [r[0] for r in con.execute(
        "SELECT sql FROM duckdb_tables() WHERE NOT internal AND table_name <> 'schema_migrations' "
        "ORDER BY table_name").fetchall()]
    lines += [f"MACRO {r[0]}({', '.join(r[1])}): {r[2]}" for r in con.execute(
        "SELECT function_name, parameters, macro_definition FROM duckdb_functions() "
        "WHERE NOT internal AND function_type LIKE '%macro' ORDER BY function_name").fetchall()]
    lines += [r[0] for r in con.execute(
        "SELECT sql FROM duckdb_views() WHERE NOT internal ORDER BY view_name").fetchall()]
    lines += [f"CONSTRAINT {r[0]} {r[1]} {r[2]} {r[3]}" for r in con.execute(
        "SELECT table_name, constraint_type, expression, constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name <> 'schema_migrations' ORDER BY ALL").fetchall()]
    return lines
