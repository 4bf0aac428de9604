"""The DuckDB store.

One file on disk, its schema by the versioned migrations in :mod:`assetmap.db`, spatial loaded by path.

Every geometry is stored in British National Grid (EPSG:27700). Writes happen inside
:meth:`Store.transaction`; an ingest is exactly one transaction, so a failure leaves the data
tables as they were.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from assetmap.db import migrations
from assetmap.db.sql import scalar
from assetmap.errors import AssetmapError
from assetmap.settings import settings

log = logging.getLogger(__name__)

#: Data tables whose rows an ingest adds or changes (the audit tables are listed apart).
DATA_TABLES = ("areas", "area_lookup", "population", "postcodes", "assets", "asset_versions", "partner_indices",
               "dispersal", "dispersal_unallocated", "population_estimates", "scorecard_indicators", "network_nodes",
               "network_edges",
               "network_info", "transit_stops", "transit_departures", "transit_info", "transit_links")
#: Derived by ``assetmap recompute``; never edited by hand.
RESULT_TABLES = ("unit_indices", "oa_inputs", "oa_access", "unit_access", "unit_need", "unit_gaps", "analysed_assets",
                 "unit_gaps_as_at", "unit_languages", "oa_ptal", "oa_ptal_routes", "unit_ptal")
AUDIT_TABLES = ("ingests", "quarantine", "repairs", "events", "submissions", "subscriptions", "deliveries")

#: Versioned migrations, one file each in ``assetmap/db/migrations`` (see :mod:`assetmap.db`).
MIGRATIONS: list[tuple[int, str]] = [(m.version, m.sql) for m in migrations()]

SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreError(AssetmapError, RuntimeError):
    """The store cannot be opened or is not in a state assetmap understands."""


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Return the schema version of the store (or snapshot) ``con`` reads; 0 for none."""
    if not scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"):
        return 0
    return int(scalar(con, "SELECT coalesce(max(version), 0) FROM schema_migrations") or 0)


def require_schema(con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str], snapshot: bool = False) -> None:
    """Refuse a store or snapshot made by an older assetmap, naming the command that fixes it.

    Refuse, naming the command that fixes it, a store or snapshot made by an older assetmap (a reader cannot
    migrate it: its tables and shared views are not what the queries read).
    """
    version = schema_version(con)
    if 0 < version < SCHEMA_VERSION:
        fix = ("`assetmap publish` (with the store's --db) publishes a new one" if snapshot
               else f"`assetmap migrate --db {path}` brings it up to date")
        msg = (f"{path} was written by an older assetmap (schema version {version}, this one reads "
               f"{SCHEMA_VERSION}): {fix}")
        raise StoreError(msg)


def spatial_extension_path() -> Path:
    """Path of the DuckDB spatial extension shipped by the ``duckdb-extension-spatial`` wheel.

    ``INSTALL spatial`` downloads from the internet; loading the wheel's file by path does not.
    """
    import duckdb_extension_spatial

    base = Path(duckdb_extension_spatial.__file__).parent / "extensions"
    path = base / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    if not path.exists():
        found = sorted(base.glob("v*/spatial.duckdb_extension"))
        msg = (f"spatial extension for duckdb {duckdb.__version__} not found under {base} "
               f"(found: {[str(p) for p in found]}); duckdb and duckdb-extension-spatial must match")
        raise StoreError(msg)
    return path


class StoreBusy(StoreError):
    """Another process holds the store's write lock for longer than we were willing to wait."""


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


def load_spatial(con: duckdb.DuckDBPyConnection) -> None:
    """Load the spatial extension into ``con`` (from the wheel's file; loading it twice is harmless)."""
    con.execute(f"LOAD '{spatial_extension_path()}'")


def connect(path: str | os.PathLike[str] | None, read_only: bool = False,
            wait_s: float = 0.0, spatial: bool = True) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection, with the spatial extension loaded unless ``spatial`` is false.

    DuckDB lets one process at a time open a file for writing. When another holds it, wait up
    to ``wait_s`` seconds for it to let go (the pipeline's flows and the CLI take turns), then
    raise :class:`StoreBusy`. Loading spatial costs about 0.2 s of CPU; a reader that calls no
    ``ST_`` function (geometry columns read as WKB without it) can go without.
    """
    target = ":memory:" if path is None else str(path)
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(target, read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                msg = f"{target} is in use by another process ({exc})"
                raise StoreBusy(msg) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    if spatial:
        load_spatial(con)
    con.execute("SET enable_progress_bar = false")  # no bars drawn over the CLI's and the logs' output
    return con


class Store:
    """The assetmap store.

    Parameters
    ----------
    path
        The DuckDB file; created (with its folder) when missing unless ``read_only``.
    read_only
        Open without taking the writer's lock (for readers of a published copy).
    spatial
        Load the spatial extension (a reader that calls no ``ST_`` function may go without; a
        writer always has it, for its migrations).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, read_only: bool = False,
                 spatial: bool = True) -> None:
        self.path = Path(path) if path is not None else settings.db_path
        self.read_only = read_only
        if read_only and not self.path.exists():
            msg = f"no store at {self.path}"
            raise StoreError(msg)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # a writer waits its turn; a reader never waits (readers belong on snapshots)
        self.con = connect(self.path, read_only=read_only, wait_s=0.0 if read_only else settings.lock_wait_s,
                           spatial=spatial or not read_only)
        if not read_only:
            self.migrate()
        else:
            try:
                require_schema(self.con, self.path)
            except StoreError:
                self.con.close()
                raise

    @classmethod
    def over(cls, con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str]) -> Store:
        """Return a read-only Store over an open connection (a snapshot's)."""
        store = cls.__new__(cls)
        store.path, store.read_only, store.con = Path(path), True, con
        return store

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        """Return the store, open."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    # -- schema --------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        """The store's schema version (0 for none)."""
        return schema_version(self.con)

    def migrate(self) -> int:
        """Apply the migrations this store has not had; return the schema version."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
        )
        current = self.schema_version
        if current > SCHEMA_VERSION:
            msg = (f"store {self.path} has schema version {current}, newer than this assetmap "
                   f"({SCHEMA_VERSION}); upgrade assetmap")
            raise StoreError(msg)
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])
            log.info("store %s migrated to schema version %d", self.path, version)
        return self.schema_version

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction: committed when the block ends, rolled back if it raises.

        What was queued with :meth:`on_commit` inside runs after the commit, in order; a rollback
        drops it.
        """
        self.con.execute("BEGIN TRANSACTION")
        self._pending: list[Callable[[], None]] | None = []
        try:
            yield self.con
        except BaseException:
            self._pending = None
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
            pending, self._pending = self._pending, None
            for callback in pending or []:
                callback()

    @property
    def in_transaction(self) -> bool:
        """Whether a :meth:`transaction` is open."""
        return getattr(self, "_pending", None) is not None

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the open transaction commits (now, when none is open)."""
        pending = getattr(self, "_pending", None)
        if pending is not None:
            pending.append(callback)
        else:
            callback()

    # -- queries -------------------------------------------------------------------------
    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        """Return the first value of the first row of ``sql`` (None when it returns no row)."""
        return scalar(self.con, sql, params)

    def table_counts(self) -> dict[str, int]:
        """Every table's row count."""
        names = [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()]
        # table names come from the catalogue, never from user input
        return {n: int(self.scalar(f'SELECT count(*) FROM "{n}"')) for n in names}  # noqa: S608

    def extent(self) -> list[float] | None:
        """[min_lon, min_lat, max_lon, max_lat] of the loaded wards (or other areas), or None."""
        # the boxes stored with the areas (geography.record_bounds): no spatial function needed
        row = self.con.execute(
            """
            WITH lvl AS (
                SELECT level FROM areas
                ORDER BY CASE level WHEN 'ward' THEN 0 WHEN 'la' THEN 1 WHEN 'msoa' THEN 2
                                    WHEN 'lsoa' THEN 3 ELSE 4 END LIMIT 1)
            SELECT min(lon_min), min(lat_min), max(lon_max), max(lat_max)
            FROM areas WHERE level = (SELECT level FROM lvl)
            """
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return [round(float(v), 6) for v in row]

    def ingests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Return the ingests in order (the last ``limit`` when given), times as ISO text."""
        sql = (
            "SELECT ingest_id, path, sha256, kind, status, rows_read, rows_accepted, "
            "rows_quarantined, started_at, finished_at, message FROM ingests ORDER BY ingest_id"
        )
        rows = self.con.execute(sql).fetchall()
        cols = [d[0] for d in self.con.description]
        out = [dict(zip(cols, r, strict=False)) for r in rows]
        for r in out:
            for key in ("started_at", "finished_at"):
                if r[key] is not None:
                    r[key] = r[key].isoformat()
        return out[-limit:] if limit else out

    def status(self) -> dict[str, Any]:
        """Return the store's status, the payload of ``assetmap status --json``."""
        return {
            "db": str(self.path),
            "tables": self.table_counts(),
            "ingests": self.ingests(),
            "schema_version": self.schema_version,
            "extent": self.extent(),
            "network": self.network(),
            "timetable": self.timetable(),
        }

    def _latest(self, table: str, columns: tuple[str, ...], since: int) -> dict[str, Any] | None:
        """Return the columns of ``table``'s row of the latest ingest (None before schema ``since``, or with no row).

        ``table`` and ``columns`` are fixed names of the callers below.
        """
        if self.schema_version < since:
            return None
        row = self.con.execute(f"SELECT {', '.join(columns)} FROM {table} "  # noqa: S608 (fixed names)
                               "ORDER BY ingest_id DESC LIMIT 1").fetchone()
        return None if row is None else dict(zip(columns, row, strict=True))

    def network(self) -> dict[str, Any] | None:
        """Return the walking network loaded (source, OSM date, nodes, edges, what was dropped), or None."""
        out = self._latest("network_info", ("source", "osm_timestamp", "nodes", "edges", "dropped_nodes",
                                            "dropped_islands", "walk_speed_kmh"), 14)
        if out is not None:
            out["osm_timestamp"] = out["osm_timestamp"].isoformat() if out["osm_timestamp"] else None
            # measured an authority at a time where there are several (assetmap.network.split)
            las = int(self.scalar("SELECT count(*) FROM areas WHERE level = 'la'") or 0)
            out["authorities"] = las if settings.network_split and las > 1 else 1
            out["buffer_m"] = settings.network_buffer_m
        return out

    def timetable(self) -> dict[str, Any] | None:
        """Return the GTFS timetable loaded, or None.

        Return the GTFS timetable loaded (source, service date and how it was chosen, routes, trips running that
        day, stops kept), or None.
        """
        out = self._latest("transit_info", ("source", "service_date", "date_chosen", "routes", "trips_on_date",
                                            "stops_kept"), 15)
        if out is not None:
            out["service_date"] = out["service_date"].isoformat()
        return out

    def next_ingest_id(self) -> int:
        """Return the id the next ingest takes."""
        return int(self.scalar("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests"))


def open_store(db: str | os.PathLike[str] | None = None, read_only: bool = False, spatial: bool = True) -> Store:
    """Open the store at ``db`` (default: settings.db_path); see :class:`Store`."""
    return Store(db if db is not None else settings.db_path, read_only=read_only, spatial=spatial)
