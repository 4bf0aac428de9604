"""The schema's migrations (issue 26, item 1): files in ``assetmap/db/migrations``, applied in
order, each in one transaction, the version recorded.

A store of every earlier schema version is kept in ``tests/fixtures/stores/vNN.duckdb.gz`` (made once,
when that version was the newest, by ``python -m tests.test_migrations``; never made again), each
holding the same few rows written at version 1 and carried through every migration since.
Migrating each gives exactly the schema a new store gets, and keeps its rows; so a migration that
is edited after it shipped, or a new one that forgets a store made earlier, fails here.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from assetmap.db import migrations, schema
from assetmap.db.store import SCHEMA_VERSION, Store, StoreError, connect
from assetmap.vocab import CATEGORIES, INDEX_NAMES, LEVELS, PARENT_LEVELS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stores"


def _fixture(version: int) -> Path:
    return FIXTURES / f"v{version:02d}.duckdb.gz"


def _unpack(version: int, path: Path) -> Path:
    with gzip.open(_fixture(version), "rb") as src, open(path, "wb") as out:
        shutil.copyfileobj(src, out)
    return path


def _migrate_to(path: Path, version: int) -> None:
    """A store at schema ``version`` exactly (as the assetmap of that version left it), with the
    sample rows written at version 1."""
    con = connect(path)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")
        for m in migrations():
            if m.version > version:
                break
            con.execute("BEGIN TRANSACTION")
            con.execute(m.sql)
            con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [m.version])
            if m.version == 1:
                _sample_rows(con)
            con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _sample_rows(con: duckdb.DuckDBPyConnection) -> None:
    """A few rows in version 1's tables: an ingest, an output area in a ward, two sites (one sensitive)."""
    t = dt.datetime(2024, 3, 31, 9, 0)
    con.execute("INSERT INTO ingests (ingest_id, path, sha256, kind, rows_read, rows_accepted, started_at, "
                "finished_at, status) VALUES (1, 'providers.csv', 'abc', 'providers', 2, 2, ?, ?, 'completed')",
                [t, t])
    con.execute("INSERT INTO areas (code, name, level, parent_code, geom) VALUES "
                "('E05000001', 'Sample Ward', 'ward', NULL, "
                "ST_GeomFromText('POLYGON((0 0, 0 100, 100 100, 100 0, 0 0))')), "
                "('E00000001', NULL, 'oa', 'E05000001', ST_GeomFromText('POLYGON((0 0, 0 50, 50 50, 50 0, 0 0))'))")
    con.execute("INSERT INTO area_lookup VALUES ('E00000001', 'ward', 'E05000001', 'file', 1)")
    for asset_id, category, name, sensitive in (("a1", "esol_provider", "Sample ESOL", False),
                                                ("a2", "refugee_support", "Sample Refuge", True)):
        con.execute("INSERT INTO assets (asset_id, category, name, name_key, geom, sensitive, source, ingest_id, "
                    "observed_at, oa_code, ward_code) VALUES (?, ?, ?, lower(?), ST_Point(10, 10), ?, 'sample', 1, ?, "
                    "'E00000001', 'E05000001')", [asset_id, category, name, name, sensitive, t])


def _schema_on_disk(path: Path) -> list[str]:
    """The schema of the store at ``path`` as read back from the file (DuckDB writes some
    definitions differently while they are new in a session: ``"DOUBLE"`` for ``DOUBLE``)."""
    con = connect(path, read_only=True)
    try:
        return schema(con)
    finally:
        con.close()


@pytest.fixture(scope="module")
def fresh_schema(tmp_path_factory) -> list[str]:
    """The schema of a new store."""
    path = tmp_path_factory.mktemp("fresh") / "fresh.duckdb"
    Store(path).close()
    return _schema_on_disk(path)


def test_the_migrations_are_the_files_numbered_without_gaps():
    found = migrations()
    assert [m.version for m in found] == list(range(1, SCHEMA_VERSION + 1))
    assert all(re.fullmatch(r"\d{3}_[a-z0-9_]+\.sql", m.name) for m in found)
    assert all(m.sql.startswith(f"-- assetmap schema version {m.version}:") for m in found)


def test_a_store_of_every_earlier_version_is_kept():
    """Adding migration N means keeping a store of version N-1 (``python -m tests.test_migrations``)."""
    missing = [v for v in range(1, SCHEMA_VERSION) if not _fixture(v).exists()]
    assert missing == [], f"no kept store of version(s) {missing}: run `python -m tests.test_migrations`"


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_a_store_of_an_earlier_version_migrates_to_the_schema_of_a_new_one(version, tmp_path, fresh_schema):
    path = _unpack(version, tmp_path / f"v{version}.duckdb")
    con = connect(path)
    try:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (version,)
    finally:
        con.close()
    with Store(path) as store:  # opening for writing migrates
        assert store.schema_version == SCHEMA_VERSION
        applied = [r[0] for r in store.con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
        assert applied == list(range(1, SCHEMA_VERSION + 1))
        # the rows written at version 1 are all still there
        assert store.con.execute("SELECT asset_id, name, sensitive FROM assets ORDER BY 1").fetchall() == [
            ("a1", "Sample ESOL", False), ("a2", "Sample Refuge", True)]
        assert store.con.execute("SELECT count(*) FROM areas").fetchone() == (2,)
        if version < 11:  # the history a store made before version 11 starts with the sites it held
            assert store.con.execute("SELECT asset_id, change FROM asset_versions ORDER BY 1").fetchall() == [
                ("a1", "opened"), ("a2", "opened")]
        # the areas of a store made before version 18 get the WGS84 box `status` reads without spatial
        boxes = store.con.execute(
            """SELECT lon_min, lat_min, lon_max, lat_max, ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)
               FROM (SELECT *, ST_Transform(ST_Envelope(geom), 'EPSG:27700', 'EPSG:4326', always_xy := true) AS b
                     FROM areas)""").fetchall()
        assert len(boxes) == 2 and all(r[:4] == r[4:] and None not in r for r in boxes)
    got = _schema_on_disk(path)
    fresh = fresh_schema
    assert [line for line in got if line not in fresh] == [] and [line for line in fresh if line not in got] == []
    assert got == fresh


def test_a_move_made_before_version_18_gets_how_far_it_went(tmp_path):
    """Version 18 keeps the distance of a move with its version: those moved before are measured."""
    path = tmp_path / "v17.duckdb"
    _migrate_to(path, 17)
    con = connect(path)
    try:
        t = dt.datetime(2024, 4, 1)
        for version, change, x, y in ((1, "opened", 10, 10), (2, "moved", 310, 410), (3, "changed", 310, 410)):
            con.execute("INSERT INTO asset_versions (asset_id, version, change, status, valid_from, category, name, "
                        "geom, sensitive, source) VALUES ('m1', ?, ?, 'open', ?, 'esol_provider', 'Moving ESOL', "
                        "ST_Point(?, ?), false, 'sample')", [version, change, t + dt.timedelta(days=version), x, y])
    finally:
        con.close()
    with Store(path) as store:
        got = store.con.execute("SELECT version, moved_m FROM asset_versions WHERE asset_id = 'm1' ORDER BY 1")
        assert got.fetchall() == [(1, None), (2, 500.0), (3, None)]  # 300 east, 400 north


def test_each_migration_is_one_transaction(tmp_path, monkeypatch):
    """A migration that fails half-way leaves the store at the version before it."""
    from assetmap.db import store as store_mod

    last = store_mod.MIGRATIONS[-1][1] + "\nSELECT * FROM no_such_table;"
    broken = [*store_mod.MIGRATIONS[:-1], (SCHEMA_VERSION, last)]
    monkeypatch.setattr(store_mod, "MIGRATIONS", broken)
    with pytest.raises(duckdb.CatalogException):
        Store(tmp_path / "s.duckdb")
    con = connect(tmp_path / "s.duckdb")
    try:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (SCHEMA_VERSION - 1,)
    finally:
        con.close()
    # what the last migration made is rolled back with it: the schema is the version before's
    _migrate_to(tmp_path / "before.duckdb", SCHEMA_VERSION - 1)
    assert _schema_on_disk(tmp_path / "s.duckdb") == _schema_on_disk(tmp_path / "before.duckdb")


def test_a_store_newer_than_this_assetmap_is_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path).close()
    con = connect(path)
    con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(StoreError, match="newer than this assetmap"):
        Store(path)


def test_the_check_lists_are_the_vocabulary(tmp_path):
    """The words in CHECK constraints are written out in the migrations; a new category, index or
    level in the vocabulary needs a migration that changes them."""
    with Store(tmp_path / "s.duckdb") as store:
        checks = [r[0] for r in store.con.execute(
            "SELECT expression FROM duckdb_constraints() WHERE constraint_type = 'CHECK'").fetchall()]

    def words(column: str) -> set[str]:
        found = [e for e in checks if re.match(rf"\(?{column} IN \(", e)]
        assert found, column
        return {w for e in found for w in re.findall(r"'([a-z_]+)'", e)}

    assert words("category") == set(CATEGORIES)
    assert words("index_name") == set(INDEX_NAMES)
    assert words("\"level\"|level") == set(LEVELS)
    assert words("parent_level") == set(PARENT_LEVELS)


def main() -> int:
    """Keep a store of each earlier version that has none yet (never remade: they are what the
    code of their time left)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for version in range(1, SCHEMA_VERSION):
        target = _fixture(version)
        if target.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            made = Path(tmp) / "store.duckdb"
            _migrate_to(made, version)
            with open(made, "rb") as src, open(target, "wb") as raw, \
                    gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:  # same bytes for the same store
                shutil.copyfileobj(src, out)
        print(f"kept a store of schema version {version}: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
