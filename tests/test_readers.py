"""Each reader on the demo city's files, and the sniffing that picks it."""

from __future__ import annotations

import json
import shutil

import pytest

from assetmap import sources
from assetmap.ingest import ingest_file
from assetmap.sources._io import read_bytes
from assetmap.vocab import ENGLISH_PROFICIENCY, ETHNIC_GROUP

EXPECTED_KINDS = {
    "boundaries/local_authorities.geojson": "boundaries",
    "boundaries/wards.geojson": "boundaries",
    "boundaries/output_areas.gpkg": "boundaries",
    "lookups/oa_ward_lookup.csv": "lookup",
    "lookups/postcodes.csv": "postcodes",
    "census/ts021_ethnic_group_2021.csv": "census",
    "census/ts029_english_proficiency_2021.csv": "census",
    "census/ts004_country_of_birth_2021.csv": "census",
    "assets/esol_providers.csv": "providers",
    "assets/osm_places.json": "osm",
    "assets/refugee_support_openreferral.json": "openreferral",
    "network/demoford_streets.osm": "network",
    "dispersal/asy_d11_supported_asylum_seekers.csv": "dispersal",
    "dispersal/mid_year_population_estimates_2024.csv": "estimates",
}


@pytest.mark.parametrize("rel", sorted(EXPECTED_KINDS))
def test_sniffing_picks_the_right_reader(demo_dir, rel):
    path = demo_dir / rel
    assert sources.sniff(path, read_bytes(path)) == EXPECTED_KINDS[rel]


def test_kind_override_beats_sniffing(demo_dir):
    path = demo_dir / "lookups/postcodes.csv"
    assert sources.sniff(path, read_bytes(path), {"kind": "providers"}) == "providers"


def test_demo_city_loads_through_every_reader(full_store):
    counts = dict(full_store.con.execute("SELECT level, count(*) FROM areas GROUP BY 1").fetchall())
    assert counts["la"] == 1 and 55 <= counts["ward"] <= 65 and 2500 <= counts["oa"] <= 3500
    # every OA has a ward, and the file lookup agrees with the polygons' best fit
    assert full_store.scalar("SELECT count(*) FROM areas WHERE level = 'oa' AND parent_code IS NULL") == 0
    kinds = dict(full_store.con.execute("SELECT kind, count(*) FROM ingests GROUP BY 1").fetchall())
    assert set(kinds) == {"boundaries", "lookup", "postcodes", "census", "providers", "osm",
                          "openreferral", "dispersal", "estimates", "scorecard", "languages", "network", "gtfs"}
    by_cat = dict(full_store.con.execute("SELECT category, count(*) FROM assets GROUP BY 1").fetchall())
    assert set(by_cat) == {"community_centre", "place_of_worship", "esol_provider", "refugee_support"}
    assert 500 <= sum(by_cat.values()) <= 700


def test_wide_census_with_subtotals_matches_the_total(full_store, demo_dir):
    import csv

    with open(demo_dir / "census/ts021_ethnic_group_2021.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    total = sum(int(r["Ethnic group: Total: All usual residents"]) for r in rows)
    stored = full_store.scalar("SELECT sum(count) FROM population WHERE variable = ?", [ETHNIC_GROUP])
    assert stored == total  # the subtotals (high-level groups) were not double counted
    n_cats = full_store.scalar("SELECT count(DISTINCT category) FROM population WHERE variable = ?", [ETHNIC_GROUP])
    assert n_cats == 19


def test_long_census_layout(full_store):
    cats = {r[0] for r in full_store.con.execute(
        "SELECT DISTINCT category FROM population WHERE variable = ?", [ENGLISH_PROFICIENCY]).fetchall()}
    assert cats == {"main_english", "very_well", "well", "not_well", "cannot", "does_not_apply"}
    # each OA's proficiency counts sum to its ethnic-group total (both are all usual residents)
    diff = full_store.scalar(
        """SELECT count(*) FROM (
             SELECT area_code, sum(count) FILTER (variable = 'ethnic_group') e,
                    sum(count) FILTER (variable = 'english_proficiency') p
             FROM population GROUP BY 1) WHERE e <> p""")
    assert diff == 0


def test_country_of_birth_eu_subgroups_and_subtotals(full_store):
    cats = {r[0] for r in full_store.con.execute(
        "SELECT DISTINCT category FROM population WHERE variable = 'country_of_birth'").fetchall()}
    assert "uk" in cats and "europe_eu" in cats and "africa" in cats


def test_openreferral_assets_are_sensitive_by_default(full_store):
    n, sens = full_store.con.execute(
        "SELECT count(*), count(*) FILTER (sensitive) FROM assets WHERE category = 'refugee_support'").fetchone()
    assert n > 0 and sens == n


def test_provider_attributes_are_normalised(full_store):
    attrs = json.loads(full_store.scalar(
        "SELECT attrs FROM assets WHERE source_record_id = 'esol-00001'"))
    assert isinstance(attrs["capacity"], int)
    assert set(attrs["esol_levels"]) <= {"Pre-entry", "Entry 1", "Entry 2", "Entry 3", "Level 1", "Level 2"}
    assert attrs["cost"] in {"free", "fee"} and isinstance(attrs["childcare"], bool)


def test_postcode_only_row_is_placed_by_the_lookup(full_store):
    row = full_store.con.execute(
        "SELECT a.postcode, ST_Distance(a.geom, p.geom) FROM assets a JOIN postcodes p USING (postcode) "
        "WHERE a.source_record_id = 'esol-pc-1'").fetchone()
    assert row is not None and row[1] == pytest.approx(0, abs=1e-6)


def test_osm_ways_use_their_centre_and_religion_is_the_subtype(full_store):
    n_way = full_store.scalar("SELECT count(*) FROM assets WHERE source_record_id LIKE 'way/%'")
    assert n_way > 0
    religions = {r[0] for r in full_store.con.execute(
        "SELECT DISTINCT subtype FROM assets WHERE category = 'place_of_worship'").fetchall()}
    assert {"christian", "muslim"} <= religions


def test_osm_geojson_with_tags(tmp_path, city_store, full_store):
    lon, lat = full_store.con.execute(
        "SELECT ST_X(q), ST_Y(q) FROM (SELECT ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true) q "
        "FROM assets ORDER BY asset_id LIMIT 1)").fetchone()
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "node/42", "properties": {"amenity": "place_of_worship", "religion": "Hindu",
                                                            "name": "Shree Mandir"},
         "geometry": {"type": "Point", "coordinates": [lon, lat]}},
        {"type": "Feature", "properties": {"@id": "way/43", "office": "ngo",
                                           "name": "Refugee Welcome Centre"},
         "geometry": {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.001, lat], [lon + 0.001, lat + 0.001],
                                                          [lon, lat + 0.001], [lon, lat]]]}},
    ]}
    path = tmp_path / "export.geojson"
    path.write_text(json.dumps(doc))
    r = ingest_file(city_store, path)
    assert (r.kind, r.rows_accepted, r.rows_quarantined) == ("osm", 2, 0)
    got = dict(city_store.con.execute("SELECT source_record_id, category FROM assets").fetchall())
    assert got == {"node/42": "place_of_worship", "way/43": "refugee_support"}


def test_openreferral_flat_tables_package(tmp_path, city_store, full_store):
    lon, lat = full_store.con.execute(
        "SELECT ST_X(q), ST_Y(q) FROM (SELECT ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true) q "
        "FROM assets ORDER BY asset_id LIMIT 1)").fetchone()
    doc = {"services": [{"id": "s1", "name": "Tuesday ESOL conversation club", "status": "active",
                         "organization_id": "o1"},
                        {"id": "s2", "name": "Knitting circle", "status": "active"}],
           "locations": [{"id": "l1", "latitude": lat, "longitude": lon}],
           "service_at_locations": [{"service_id": "s1", "location_id": "l1"},
                                    {"service_id": "s2", "location_id": "l1"}]}
    path = tmp_path / "oruk.json"
    path.write_text(json.dumps(doc))
    r = ingest_file(city_store, path)
    assert (r.kind, r.rows_read, r.rows_accepted, r.rows_quarantined) == ("openreferral", 2, 1, 1)
    assert city_store.scalar("SELECT category FROM assets") == "esol_provider"
    assert city_store.scalar("SELECT reason_code FROM quarantine") == "unknown_category"


def test_mapped_csv_foreign_schema(tmp_path, city_store, full_store):
    lon, lat = full_store.con.execute(
        "SELECT ST_X(q), ST_Y(q) FROM (SELECT ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true) q "
        "FROM assets ORDER BY asset_id LIMIT 1)").fetchone()
    path = tmp_path / "directory.csv"
    path.write_text(f"Venue Title;Where;Y;X\nThe Warm Hub;1 High St, DF1 0AA;{lat};{lon}\n")
    r = ingest_file(city_store, path, mapping=["name=Venue Title", "address=Where", "lat=Y", "lon=X"],
                    category="community_centre")
    assert (r.kind, r.rows_accepted) == ("mapped", 1)
    assert city_store.con.execute("SELECT name, postcode, category FROM assets").fetchone() == \
        ("The Warm Hub", "DF1 0AA", "community_centre")


def test_boundaries_in_british_national_grid_and_shapefile(tmp_path, store, demo_dir):
    import geopandas as gpd

    wards = gpd.read_file(demo_dir / "boundaries/wards.geojson").to_crs("EPSG:27700")
    wards.to_file(tmp_path / "wards.shp")
    r = ingest_file(store, tmp_path / "wards.shp")
    assert (r.status, r.rows_accepted) == ("completed", len(wards))
    x = store.scalar("SELECT ST_X(ST_Centroid(geom)) FROM areas LIMIT 1")
    assert 300_000 < x < 600_000  # stored in BNG metres, not degrees


def test_lookup_from_a_file_wins_over_best_fit(full_store):
    methods = dict(full_store.con.execute(
        "SELECT method, count(*) FROM area_lookup WHERE parent_level = 'ward' GROUP BY 1").fetchall())
    assert methods == {"file": full_store.scalar("SELECT count(*) FROM areas WHERE level = 'oa'")}


def test_demo_generator_is_deterministic(tmp_path, demo_dir):
    from assetmap.demo import generate

    generate(tmp_path / "again", scale="city")
    for rel in EXPECTED_KINDS:
        if rel.endswith(".gpkg"):
            continue  # GeoPackage embeds a timestamp; its features are compared below
        assert (tmp_path / "again" / rel).read_bytes() == (demo_dir / rel).read_bytes(), rel
    import geopandas as gpd

    a = gpd.read_file(tmp_path / "again/boundaries/output_areas.gpkg")
    b = gpd.read_file(demo_dir / "boundaries/output_areas.gpkg")
    assert a.equals(b)


def test_demo_is_labelled_synthetic(demo_dir):
    manifest = json.loads((demo_dir / "MANIFEST.json").read_text())
    assert manifest["synthetic"] is True
    assert "synthetic" in (demo_dir / "README.md").read_text().lower()


def test_gzip_csv_reads(tmp_path, city_store, demo_dir):
    import gzip

    src = demo_dir / "census/ts021_ethnic_group_2021.csv"
    dst = tmp_path / "ts021.csv.gz"
    dst.write_bytes(gzip.compress(src.read_bytes()))
    r = ingest_file(city_store, dst)
    assert (r.kind, r.rows_quarantined) == ("census", 0)
    shutil.rmtree(tmp_path, ignore_errors=True)
