"""The real open data in ../shared/geodata-sources: Birmingham, Cardiff, the national census.

Skipped, with the reason, only where that folder is absent.
"""

from __future__ import annotations

import csv
import gzip
import io

import pytest

from assetmap.ingest import ingest_file
from tests.conftest import real_data

pytestmark = pytest.mark.realdata

CITIES = {
    # city: (wards, lsoas, msoas, oas)
    "birmingham": (40, 639, 132, 3223),
    "cardiff": (29, 214, 48, 1077),
}
WARM_SPACES = {"birmingham": 485, "cardiff": 81}


def load_city(store, city: str):
    for name in ("wards_2013", "msoa_2011", "lsoa_2011", "oa_2011"):
        r = ingest_file(store, real_data(city, f"{name}.geojson"))
        assert r.status == "completed", r.message
        assert r.rows_quarantined == 0


@pytest.mark.parametrize("city", sorted(CITIES))
def test_city_loads_at_every_level_with_best_fit_wards(store, city):
    load_city(store, city)
    counts = dict(store.con.execute("SELECT level, count(*) FROM areas GROUP BY 1").fetchall())
    wards, lsoas, msoas, oas = CITIES[city]
    assert counts == {"ward": wards, "lsoa": lsoas, "msoa": msoas, "oa": oas}
    # every OA has a ward, by best fit (no lookup file ships with these boundaries)
    n, fitted = store.con.execute(
        "SELECT count(*), count(l.parent_code) FROM areas a LEFT JOIN area_lookup l "
        "ON l.area_code = a.code AND l.parent_level = 'ward' AND l.method = 'best_fit' "
        "WHERE a.level = 'oa'").fetchone()
    assert n == fitted == oas
    assert store.scalar("SELECT count(*) FROM areas WHERE level = 'oa' AND parent_code IS NULL") == 0
    # every ward receives OAs, and each OA's point-on-surface really is in its ward
    assert store.scalar("SELECT count(DISTINCT parent_code) FROM areas WHERE level = 'oa'") == wards
    outside = store.scalar(
        "SELECT count(*) FROM areas o JOIN areas w ON w.code = o.parent_code "
        "WHERE o.level = 'oa' AND NOT ST_Contains(w.geom, ST_PointOnSurface(o.geom))")
    assert outside <= oas * 0.01  # at most the odd sliver takes the nearest ward
    # geometry is stored in British National Grid metres
    x = store.scalar("SELECT ST_X(ST_Centroid(geom)) FROM areas WHERE level = 'ward' LIMIT 1")
    assert 100_000 < x < 700_000


def _national_rows():
    with gzip.open(real_data("census2011", "oa_ethnic_group_2011_ew.csv.gz"), "rt", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("city", sorted(CITIES))
def test_city_census_counts_sum_to_the_file_totals(tmp_path, store, city):
    load_city(store, city)
    oas = {r[0] for r in store.con.execute("SELECT code FROM areas WHERE level = 'oa'").fetchall()}
    rows = [r for r in _national_rows() if r["OA"] in oas]
    assert len(rows) == len(oas)  # the OA codes of the boundaries match the census file
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    path = tmp_path / f"{city}_oa_ethnic_group_2011.csv"
    path.write_text(buf.getvalue())
    r = ingest_file(store, path)
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (len(oas), len(oas), 0)
    persons = sum(int(x["Persons"]) for x in rows)
    assert store.scalar("SELECT sum(count) FROM population") == persons
    groups = ["WhiteBrit", "Indian", "Pakistani", "BlkAfrican"]
    for g, cat in zip(groups, ["white_british", "asian_indian", "asian_pakistani", "black_african"], strict=False):
        want = sum(int(x[g]) for x in rows)
        assert store.scalar("SELECT sum(count) FROM population WHERE category = ?", [cat]) == want
    # every OA's population is in a ward
    in_wards = store.scalar(
        "SELECT sum(p.count) FROM population p JOIN areas a ON a.code = p.area_code WHERE a.parent_code IS NOT NULL")
    assert in_wards == persons


@pytest.mark.parametrize("city", sorted(WARM_SPACES))
def test_warm_spaces_load_through_a_column_mapping(store, city):
    load_city(store, city)
    r = ingest_file(store, real_data(city, "warm_spaces_2022.geojson"),
                    mapping=["name=title", "address=address", "opening_hours=hours.opening",
                             "description=description"],
                    category="community_centre", licence="test input only")
    assert r.status == "completed"
    assert r.rows_read == WARM_SPACES[city] == r.rows_accepted + r.rows_quarantined
    reasons = dict(store.con.execute(
        "SELECT reason_code, count(*) FROM quarantine WHERE ingest_id = ? GROUP BY 1", [r.ingest_id]).fetchall())
    assert reasons.get("outside_study_area", 0) > 0  # the bounding box reaches past the authority
    if city == "birmingham":
        assert reasons.get("duplicate_nearby", 0) > 0  # listed by more than one directory
    assert set(reasons) <= {"outside_study_area", "duplicate_nearby", "missing_required", "missing_coordinates"}
    # every accepted venue lies in a ward of the city; every refused one is kept whole
    assert store.scalar("SELECT count(*) FROM assets WHERE ward_code IS NULL") == 0
    assert store.scalar("SELECT count(*) FROM quarantine WHERE raw NOT LIKE '%title%'") == 0
    # postcodes were found in the free-text addresses
    assert store.scalar("SELECT count(postcode) FROM assets") > 0.5 * r.rows_accepted


def test_whole_national_census_file_ingests(store):
    path = real_data("census2011", "oa_ethnic_group_2011_ew.csv.gz")
    r = ingest_file(store, path)
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (181_408, 181_408, 0)
    assert store.scalar("SELECT sum(count) FROM population") == 56_075_912
    assert store.scalar("SELECT count(DISTINCT area_code) FROM population") == 181_408
    # the file's LSOA and MSOA columns become lookups: 7,201 MSOAs
    assert store.scalar("SELECT count(DISTINCT parent_code) FROM area_lookup WHERE parent_level = 'msoa'") == 7_201
    again = ingest_file(store, path)
    assert again.status == "unchanged"
