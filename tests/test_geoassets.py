"""Asset lists in the common geo formats (GeoJSON, GeoPackage, GeoParquet, FlatGeobuf) whose fields
already use the provider template's names are read as providers without `--map`, row by row:
British National Grid with or without a CRS, 3-D points, features without geometry, polygons
converted to a point, lines quarantined; never a whole-file refusal while good rows exist."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, Polygon

from assetmap import sources
from assetmap.ingest import ingest_file


@pytest.fixture
def places(city_store):
    """Four positions inside the demo city: (lon, lat) and (easting, northing) of OA interiors."""
    rows = city_store.con.execute(
        """SELECT ST_X(p), ST_Y(p), ST_X(q), ST_Y(q) FROM (
               SELECT ST_PointOnSurface(geom) AS p,
                      ST_Transform(ST_PointOnSurface(geom), 'EPSG:27700', 'EPSG:4326', always_xy := true) AS q
               FROM areas WHERE level = 'oa' ORDER BY code LIMIT 4)""").fetchall()
    return [{"e": r[0], "n": r[1], "lon": r[2], "lat": r[3]} for r in rows]


def _ingest(store, path):
    r = ingest_file(store, path)
    assert r.status == "completed", r.message
    assert r.rows_read == r.rows_accepted + r.rows_quarantined
    reasons = dict(store.con.execute("SELECT row_number, reason_code FROM quarantine WHERE ingest_id = ? "
                                     "ORDER BY row_number", [r.ingest_id]).fetchall())
    return r, reasons


def test_a_geojson_of_points_in_the_templates_names_is_a_provider_file(city_store, places, tmp_path):
    p0, p1, p2, p3 = places
    feats = [
        {"type": "Feature", "properties": {"name": "GeoJSON ESOL one", "category": "ESOL", "capacity": 12},
         "geometry": {"type": "Point", "coordinates": [p0["lon"], p0["lat"], 35.0]}},          # 3-D
        {"type": "Feature", "properties": {"name": "GeoJSON centre", "category": "community_centre",
                                           "Latitude": p1["lat"], "Longitude": p1["lon"]},
         "geometry": None},                                                                   # position in props
        {"type": "Feature", "properties": {"name": "GeoJSON hall", "category": "community_centre"},
         "geometry": {"type": "Polygon", "coordinates": [[
             [p2["lon"] - 1e-4, p2["lat"] - 1e-4], [p2["lon"] + 1e-4, p2["lat"] - 1e-4],
             [p2["lon"] + 1e-4, p2["lat"] + 1e-4], [p2["lon"] - 1e-4, p2["lat"] + 1e-4],
             [p2["lon"] - 1e-4, p2["lat"] - 1e-4]]]}},                                        # converted
        {"type": "Feature", "properties": {"name": "GeoJSON route", "category": "community_centre"},
         "geometry": {"type": "LineString", "coordinates": [[p3["lon"], p3["lat"]], [p0["lon"], p0["lat"]]]}},
        {"type": "Feature", "properties": {"name": "GeoJSON nowhere", "category": "community_centre"},
         "geometry": None},                                                                   # no position
    ]
    path = tmp_path / "council_assets.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    assert sources.sniff(path, path.read_bytes()) == "providers"
    r, reasons = _ingest(city_store, path)
    assert (r.rows_read, r.rows_accepted) == (5, 3)
    assert reasons[4] == "invalid_geometry" and reasons[5] != "invalid_geometry"
    msg = city_store.scalar("SELECT message FROM quarantine WHERE ingest_id = ? AND row_number = 4", [r.ingest_id])
    assert "LineString, not a place" in msg
    stored = dict(city_store.con.execute("SELECT name, oa_code FROM assets WHERE name LIKE 'GeoJSON%'").fetchall())
    assert set(stored) == {"GeoJSON ESOL one", "GeoJSON centre", "GeoJSON hall"} and all(stored.values())
    assert city_store.scalar("SELECT attrs->>'capacity' FROM assets WHERE name = 'GeoJSON ESOL one'") == "12"


@pytest.mark.parametrize("crs_member", [True, False])
def test_british_national_grid_with_or_without_a_crs(city_store, places, tmp_path, crs_member):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f"BNG place {i}", "category": "place_of_worship",
                                           "religion": "sikh"},
         "geometry": {"type": "Point", "coordinates": [p["e"], p["n"]]}} for i, p in enumerate(places)]}
    if crs_member:
        doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}
    path = tmp_path / "bng_places.geojson"
    path.write_text(json.dumps(doc))
    r, reasons = _ingest(city_store, path)
    assert (r.rows_accepted, reasons) == (4, {})
    got = city_store.con.execute("SELECT ST_X(geom), ST_Y(geom) FROM assets WHERE name LIKE 'BNG place %' "
                                 "ORDER BY name").fetchall()
    want = [(p["e"], p["n"]) for p in places]
    assert max(abs(a - b) for g, w in zip(got, want, strict=True) for a, b in zip(g, w, strict=True)) < 1e-6
    assert {s for (s,) in city_store.con.execute(
        "SELECT DISTINCT subtype FROM assets WHERE name LIKE 'BNG place %'").fetchall()} == {"sikh"}


@pytest.mark.parametrize("fmt", ["gpkg", "fgb", "parquet"])
def test_geopackage_flatgeobuf_and_geoparquet_layers(city_store, places, tmp_path, fmt):
    gdf = gpd.GeoDataFrame(
        {"name": [f"{fmt} asset {i}" for i in range(4)], "category": ["esol_provider"] * 3 + ["community_centre"],
         "address": ["1 High St", None, "3 High St", "4 High St"], "capacity": [10, 20, 30, None]},
        geometry=[Point(p["e"], p["n"]) for p in places[:3]] + [None], crs=27700)
    if fmt == "fgb":
        gdf = gdf.to_crs(4326)  # a layer in another CRS is converted
    path = tmp_path / f"assets.{fmt}"
    if fmt == "parquet":
        gdf.to_parquet(path)
    elif fmt == "fgb":  # FlatGeobuf keeps a feature without geometry only without its spatial index
        gdf.to_file(path, driver="FlatGeobuf", SPATIAL_INDEX="NO")
    else:
        gdf.to_file(path, driver="GPKG")
    assert sources.sniff(path, path.read_bytes()) == "providers"
    r, reasons = _ingest(city_store, path)
    assert r.rows_read == 4 and r.rows_accepted == 3 and list(reasons) == [4]  # no position at all
    got = city_store.con.execute(f"SELECT ST_X(geom), ST_Y(geom) FROM assets WHERE name LIKE '{fmt} asset %' "
                                 "ORDER BY name").fetchall()
    want = [(p["e"], p["n"]) for p in places[:3]]
    assert max(abs(a - b) for g, w in zip(got, want, strict=True) for a, b in zip(g, w, strict=False)) < 0.01  # metres


def test_a_layer_of_polygons_with_area_codes_is_still_boundaries(tmp_path):
    gdf = gpd.GeoDataFrame({"WD22CD": ["E05000001"], "WD22NM": ["A ward"], "name": ["x"], "category": ["y"]},
                           geometry=[Polygon([(0, 0), (100, 0), (100, 100), (0, 0)])], crs=27700)
    path = tmp_path / "wards.gpkg"
    gdf.to_file(path, driver="GPKG")
    assert sources.sniff(path, path.read_bytes()) == "boundaries"
    line = gpd.GeoDataFrame({"name": ["r"], "category": ["community_centre"]},
                            geometry=[LineString([(0, 0), (1, 1)])], crs=27700)
    line.to_file(tmp_path / "lines.gpkg", driver="GPKG")
    assert sources.sniff(tmp_path / "lines.gpkg", (tmp_path / "lines.gpkg").read_bytes()) == "boundaries"
