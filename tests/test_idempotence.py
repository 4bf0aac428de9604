"""Rerunning the same file changes nothing; a changed file updates what it describes."""

from __future__ import annotations

import csv
import json
import shutil

from assetmap import events
from assetmap.db.store import AUDIT_TABLES, DATA_TABLES, SCHEMA_VERSION, Store
from assetmap.ingest import ingest_file
from tests.conftest import digest


def test_same_file_twice_is_a_no_op(full_store, demo_dir):
    before = digest(full_store, DATA_TABLES + AUDIT_TABLES)
    for rel in ("assets/esol_providers.csv", "census/ts021_ethnic_group_2021.csv", "boundaries/wards.geojson"):
        r = ingest_file(full_store, demo_dir / rel)
        assert r.status == "unchanged"
    assert digest(full_store, DATA_TABLES + AUDIT_TABLES) == before


def test_same_bytes_under_another_name_is_a_no_op(tmp_path, full_store, demo_dir):
    copy = tmp_path / "renamed.csv"
    shutil.copy(demo_dir / "assets/esol_providers.csv", copy)
    assert ingest_file(full_store, copy).status == "unchanged"


def test_updated_provider_list_updates_in_place(tmp_path, full_store, demo_dir):
    src = demo_dir / "assets/esol_providers.csv"
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["capacity"] = "99"
    dst = tmp_path / "esol_providers.csv"
    with open(dst, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    n_before = full_store.scalar("SELECT count(*) FROM assets")
    seen = []
    events.register_emitter(lambda name, payload: seen.append((name, payload)))
    try:
        r = ingest_file(full_store, dst)
    finally:
        events.clear_emitters()
    assert r.status == "completed" and r.assets_changed == 1
    assert full_store.scalar("SELECT count(*) FROM assets") == n_before
    cap = json.loads(full_store.scalar("SELECT attrs FROM assets WHERE source_record_id = ?", [rows[0]["id"]]))
    assert cap["capacity"] == 99
    ward = full_store.scalar("SELECT ward_code FROM assets WHERE source_record_id = ?", [rows[0]["id"]])
    names = [n for n, _ in seen]
    assert names == ["assetmap.ingest.completed", "assetmap.assets.changed"]
    assert seen[1][1]["ward_codes"] == [ward]
    stored = [r[0] for r in full_store.con.execute(
        "SELECT name FROM events WHERE json_extract(payload, '$.ingest_id')::INT = ? ORDER BY occurred_at",
        [r.ingest_id]).fetchall()]
    assert stored == names


def test_census_replaced_by_a_condensed_table_does_not_double_count(tmp_path, city_store):
    full = tmp_path / "full.csv"
    full.write_text("geography code,Ethnic group: Total: All usual residents,"
                    "Ethnic group: Mixed or Multiple ethnic groups: White and Asian,"
                    "Ethnic group: Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups,"
                    "Ethnic group: White: Irish\nE00900001,10,3,2,5\n")
    ingest_file(city_store, full, vintage="2021")
    condensed = tmp_path / "condensed.csv"
    condensed.write_text("OA,Persons,Mixed,Irish\nE00900001,12,6,6\n")
    ingest_file(city_store, condensed, vintage="2021")
    got = dict(city_store.con.execute("SELECT category, count FROM population").fetchall())
    assert got == {"mixed": 6, "white_irish": 6}


def test_schema_is_versioned_and_reopens(tmp_path):
    path = tmp_path / "s.duckdb"
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
    with Store(path) as s:  # migrating again is a no-op
        assert s.scalar("SELECT count(*) FROM schema_migrations") == SCHEMA_VERSION


def test_keys_are_enforced(store):
    import duckdb
    import pytest

    store.con.execute("INSERT INTO postcodes VALUES ('DF1 1AA', ST_Point(1, 1), 1)")
    with pytest.raises(duckdb.ConstraintException):
        store.con.execute("INSERT INTO postcodes VALUES ('DF1 1AA', ST_Point(2, 2), 1)")
    with pytest.raises(duckdb.ConstraintException):
        store.con.execute("INSERT INTO quarantine VALUES (999, 1, '{}', 'x', 'orphan')")
