"""Shared fixtures: a generated demo city, stores, and the real data in ../shared."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from assetmap.demo import generate
from assetmap.ingest import ingest_file, ingest_paths
from assetmap.store import DATA_TABLES, Store

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ASSETMAP_SHARED", REPO.parent / "shared")) / "geodata-sources"


def real_data(*parts: str) -> Path:
    """A file of the real open data in ../shared/geodata-sources; skip the test when absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/geodata-sources is absent)")
    return path


def digest(store: Store, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, tuple[int, str]]:
    """Row count and content hash of each table: equal digests mean equal contents."""
    out = {}
    for t in tables:
        out[t] = store.con.execute(
            f"SELECT count(*), md5(coalesce(string_agg(CAST(x AS VARCHAR), '|' "
            f"ORDER BY CAST(x AS VARCHAR)), '')) FROM {t} x"
        ).fetchone()
    return out


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The synthetic demo city, generated once per session."""
    out = tmp_path_factory.mktemp("demo")
    generate(out, scale="city")
    return out


@pytest.fixture(scope="session")
def _base_db(tmp_path_factory, demo_dir) -> Path:
    """A store holding the demo city's boundaries, lookups and postcodes (no census, no assets)."""
    path = tmp_path_factory.mktemp("base") / "base.duckdb"
    with Store(path) as store:
        for sub in ("boundaries", "lookups"):
            for r in ingest_paths(store, [demo_dir / sub]):
                assert r.status == "completed", r.message
        store.con.execute("CHECKPOINT")
    return path


@pytest.fixture(scope="session")
def _full_db(tmp_path_factory, demo_dir) -> Path:
    path = tmp_path_factory.mktemp("full") / "full.duckdb"
    with Store(path) as store:
        for r in ingest_paths(store, [demo_dir]):
            assert r.status == "completed", r.message
        store.con.execute("CHECKPOINT")
    return path


@pytest.fixture(scope="session")
def _analysed_db(tmp_path_factory, _full_db) -> Path:
    from assetmap.recompute import recompute

    path = tmp_path_factory.mktemp("analysed") / "analysed.duckdb"
    shutil.copy(_full_db, path)
    with Store(path) as store:
        recompute(store)
        store.con.execute("CHECKPOINT")
    return path


@pytest.fixture
def store(tmp_path) -> Store:
    """An empty store of its own."""
    s = Store(tmp_path / "store.duckdb")
    yield s
    s.close()


def _copy_of(template: Path, tmp_path: Path):
    path = tmp_path / template.name
    shutil.copy(template, path)
    s = Store(path)
    yield s
    s.close()


@pytest.fixture
def city_store(tmp_path, _base_db) -> Store:
    """A store of its own with the demo city's boundaries, lookups and postcodes loaded."""
    yield from _copy_of(_base_db, tmp_path)


@pytest.fixture
def full_store(tmp_path, _full_db) -> Store:
    """A store of its own with the whole demo city loaded."""
    yield from _copy_of(_full_db, tmp_path)


@pytest.fixture
def analysed_store(tmp_path, _analysed_db) -> Store:
    """A store of its own with the whole demo city loaded and every analysis table computed."""
    yield from _copy_of(_analysed_db, tmp_path)


@pytest.fixture
def ingest(city_store):
    """Ingest a file into the city store and check row conservation on the way."""

    def _ingest(path, **options):
        r = ingest_file(city_store, path, **options)
        if r.status == "completed":
            assert r.rows_read == r.rows_accepted + r.rows_quarantined
            n_q = city_store.scalar("SELECT count(*) FROM quarantine WHERE ingest_id = ?", [r.ingest_id])
            assert n_q == r.rows_quarantined
        return r

    return _ingest
