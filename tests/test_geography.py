"""Placing points in areas through the store's point-location index.

The index (``area_grid``, ``area_parts``, ``area_cells``) must give the same area as GEOS's
``ST_Contains`` on the full geometry for every point not exactly on a boundary, on the demo
city, on hand-made awkward shapes and on real Birmingham and Cardiff boundaries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assetmap.db import geography
from assetmap.ingest import ingest_file
from tests.conftest import real_data


def _random_points(store, level: str, n: int, seed: int, margin: float = 500.0) -> pd.DataFrame:
    """Uniform points over the level's extent (and a margin outside it)."""
    x0, y0, x1, y1 = store.con.execute(
        "SELECT min(ST_XMin(geom)), min(ST_YMin(geom)), max(ST_XMax(geom)), max(ST_YMax(geom)) "
        "FROM areas WHERE level = ?", [level]).fetchone()
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"pid": np.arange(n), "x": rng.uniform(x0 - margin, x1 + margin, n),
                         "y": rng.uniform(y0 - margin, y1 + margin, n)})


def _points_table(store, points: pd.DataFrame) -> None:
    """The points (``pid, x, y``) as temp table ``_p``, as the index's callers hand them over."""
    store.con.register("_p_in", points)
    store.con.execute("CREATE OR REPLACE TEMP TABLE _p AS SELECT pid, x::DOUBLE x, y::DOUBLE y FROM _p_in")
    store.con.unregister("_p_in")


def _index_vs_geos(store, points: pd.DataFrame, level: str) -> tuple[dict, dict]:
    con = store.con
    _points_table(store, points)
    got = geography.points_in_level(con, "_p", level)
    ref = con.execute(
        "SELECT p.pid, min(a.code) AS code FROM _p p JOIN (SELECT code, geom FROM areas WHERE level = ?) a "
        "ON ST_Contains(a.geom, ST_Point(p.x, p.y)) GROUP BY p.pid", [level]).df()
    con.execute("DROP TABLE _p")
    return dict(zip(got["pid"], got["code"], strict=False)), dict(zip(ref["pid"], ref["code"], strict=False))


@pytest.mark.parametrize("level", ["ward", "oa"])
def test_the_index_places_points_as_geos_does_on_the_demo_city(city_store, level):
    points = _random_points(city_store, level, 20_000, seed=7)
    got, ref = _index_vs_geos(city_store, points, level)
    assert 8_000 < len(ref) < 20_000  # points inside and outside the city
    assert got == ref


def test_the_index_is_built_with_the_boundaries_and_kept_to_a_budget(city_store):
    grids = city_store.con.execute(
        "SELECT level, cell_m, parts, cells, basis FROM area_grid ORDER BY level").df()
    assert set(grids["level"]) == geography.levels_present(city_store.con)
    for g in grids.itertuples():
        assert g.basis == geography.area_basis(city_store.con, g.level)
        assert g.parts == city_store.scalar("SELECT count(*) FROM area_parts WHERE level = ?", [g.level])
        assert g.cells == city_store.scalar("SELECT count(*) FROM area_cells WHERE level = ?", [g.level])
        assert g.parts <= g.cells <= max(geography.MAX_CELLS_PER_PART * g.parts, geography._MIN_CELL_BUDGET)


def _put_areas(store, rows: list[tuple[str, str, str]]) -> None:
    """Areas (code, level, WKT in EPSG:27700) written straight into the store."""
    for code, level, wkt in rows:
        store.con.execute("INSERT INTO areas (code, name, level, geom, ingest_id) "
                          "VALUES (?, ?, ?, ST_GeomFromText(?), 1)", [code, code, level, wkt])
    geography.refresh_index(store.con)


def test_holes_multipolygons_and_shared_edges(store):
    _put_areas(store, [
        # a square ward with a square hole, and an island ward filling the hole
        ("E05000001", "ward", "POLYGON((400000 300000, 401000 300000, 401000 301000, 400000 301000, "
                              "400000 300000), (400400 300400, 400600 300400, 400600 300600, "
                              "400400 300600, 400400 300400))"),
        ("E05000002", "ward", "POLYGON((400400 300400, 400600 300400, 400600 300600, 400400 300600, "
                              "400400 300400))"),
        # a ward in two pieces, one of them touching the first ward's east edge
        ("E05000003", "ward", "MULTIPOLYGON(((401000 300000, 402000 300000, 402000 301000, "
                              "401000 301000, 401000 300000)), ((405000 305000, 405100 305000, "
                              "405100 305100, 405000 305100, 405000 305000)))"),
    ])
    pts = pd.DataFrame({"pid": range(7), "x": [400100, 400500, 401500, 405050, 403000, 401000, 400500],
                        "y": [300100, 300500, 300500, 305050, 303000, 300500, 301000]})
    _points_table(store, pts)
    got = dict(geography.points_in_level(store.con, "_p", "ward").itertuples(index=False))
    assert got[0] == "E05000001"      # in the ring, not in the hole
    assert got[1] == "E05000002"      # in the hole: the island, not the holed ward
    assert got[2] == "E05000003"      # first piece of the multipolygon
    assert got[3] == "E05000003"      # second piece, far away
    assert 4 not in got               # between them: nowhere
    assert got[5] in {"E05000001", "E05000003"}  # on the shared edge: exactly one of the two
    assert 6 not in got or got[6] == "E05000001"  # on the outer edge: in or out, never elsewhere


def test_points_far_outside_or_not_numbers_are_placed_nowhere(store):
    _put_areas(store, [("E05000001", "ward", "POLYGON((400000 300000, 401000 300000, 401000 301000, "
                                             "400000 301000, 400000 300000))")])
    pts = pd.DataFrame({"pid": range(5), "x": [1e300, -1e300, np.nan, 400500.0, 400500.0],
                        "y": [300500.0, 300500.0, 300500.0, np.inf, 300500.0]})
    _points_table(store, pts)
    got = geography.points_in_level(store.con, "_p", "ward")
    assert got["pid"].tolist() == [4]


def test_one_huge_area_among_small_ones_stays_within_the_cell_budget(store):
    small = [(f"E05{i:06d}", "ward", f"POLYGON(({400000 + 10 * i} 300000, {400010 + 10 * i} 300000, "
              f"{400010 + 10 * i} 300010, {400000 + 10 * i} 300010, {400000 + 10 * i} 300000))")
             for i in range(50)]
    huge = [("E05999999", "ward", "POLYGON((100000 100000, 600000 100000, 600000 600000, 100000 600000, "
                                  "100000 100000))")]
    _put_areas(store, small + huge)
    cells = store.scalar("SELECT cells FROM area_grid WHERE level = 'ward'")
    assert cells <= geography._MIN_CELL_BUDGET
    pts = pd.DataFrame({"pid": [0, 1, 2], "x": [400005.0, 300000.0, 50000.0], "y": [300005.0, 300000.0, 50000.0]})
    got, ref = _index_vs_geos(store, pts, "ward")
    assert got == ref == {0: "E05000000", 1: "E05999999"}  # overlap: the smaller code


def test_changed_boundaries_rebuild_the_index_and_move_assets(tmp_path, full_store, demo_dir):
    import geopandas as gpd
    from shapely.geometry import box

    wards = gpd.read_file(demo_dir / "boundaries" / "wards.geojson")
    before = full_store.scalar("SELECT basis FROM area_grid WHERE level = 'ward'")
    # shrink the first ward to its half west of its centroid: assets east of it lose their ward
    geom = wards.geometry.iloc[0]
    cx = geom.centroid.x
    minx, miny, _maxx, maxy = geom.bounds
    wards.loc[wards.index[0], "geometry"] = geom.intersection(box(minx, miny, cx, maxy))
    out = tmp_path / "wards_changed.geojson"
    wards.to_file(out, driver="GeoJSON")
    r = ingest_file(full_store, out)
    assert r.status == "completed", r.message
    after = full_store.scalar("SELECT basis FROM area_grid WHERE level = 'ward'")
    assert after != before and after == geography.area_basis(full_store.con, "ward")
    pts = full_store.con.execute("SELECT asset_id, ST_X(geom) x, ST_Y(geom) y FROM assets").df()
    pts = pts.rename(columns={"asset_id": "pid"})
    got, ref = _index_vs_geos(full_store, pts, "ward")
    assert got == ref
    # the stored assignment agrees with the index, with the OA's best-fit ward where no ward holds it
    stored = dict(full_store.con.execute("SELECT asset_id, ward_code FROM assets").fetchall())
    assert all(stored[k] == v for k, v in got.items())
    assert len(got) < len(pts)  # the assets in the cut-off half are in no ward polygon now


@pytest.mark.realdata
@pytest.mark.parametrize("city", ["birmingham", "cardiff"])
def test_the_index_places_points_as_geos_does_on_real_boundaries(store, city):
    for name in ("wards_2013", "oa_2011"):
        r = ingest_file(store, real_data(city, f"{name}.geojson"))
        assert r.status == "completed", r.message
    for level, n in (("ward", 20_000), ("oa", 20_000)):
        got, ref = _index_vs_geos(store, _random_points(store, level, n, seed=11), level)
        assert len(ref) > n // 4  # Cardiff has the sea in its extent
        assert got == ref
