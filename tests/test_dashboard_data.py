"""What the dashboard reads and exports, without a browser: display geometry, measures, exports
and the ward brief, checked against the snapshot and against independent computations."""

from __future__ import annotations

import io
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from assetmap import display, queries
from assetmap.db.store import connect
from assetmap.settings import settings
from assetmap.snapshots import latest_path
from dashboards import brief, render
from tests.conftest import HOSTILE_NAMES, SENSITIVE_PLANTED, pair_in


@pytest.fixture
def snap(dashboard_home):
    con = connect(latest_path(settings.db_path), read_only=True)
    yield con
    con.close()


def _sensitive_points(con) -> list[tuple[str, float, float]]:
    return con.execute("SELECT name, ST_Y(p), ST_X(p) FROM (SELECT name, ST_Transform(geom, 'EPSG:27700', "
                       "'EPSG:4326', always_xy := true) AS p FROM assets WHERE sensitive)").fetchall()


# -- display geometry ------------------------------------------------------------------------------

def test_coverage_simplification_keeps_shared_edges_shared():
    """Two squares sharing a wiggly edge: simplified, they still meet with no gap and no overlap."""
    wiggle = [(100.0, float(y)) for y in range(0, 1001, 50)]
    wiggle = [(x + (7.0 if i % 2 else 0.0), y) for i, (x, y) in enumerate(wiggle)]
    left = shapely.Polygon([(0, 0), *wiggle, (0, 1000)])
    right = shapely.Polygon([(300, 0), (300, 1000), *reversed(wiggle)])
    out = display.simplify(np.array([left, right], dtype=object), 20.0)
    assert all(g.is_valid for g in out)
    assert shapely.get_num_coordinates(out).sum() < shapely.get_num_coordinates([left, right]).sum()
    assert out[0].intersection(out[1]).area == pytest.approx(0.0, abs=1e-9)
    assert out[0].union(out[1]).area == pytest.approx(left.union(right).area, rel=1e-3)
    shared = out[0].boundary.intersection(out[1].boundary)
    assert shared.length == pytest.approx(1000.0, rel=0.01)  # one common edge, top to bottom


def test_overlapping_areas_are_simplified_one_by_one():
    a = shapely.box(0, 0, 100, 100)
    b = shapely.box(50, 0, 150, 100)  # overlaps: not a coverage
    out = display.simplify(np.array([a, b], dtype=object), 5.0)
    assert all(g.is_valid and not g.is_empty for g in out)


def test_published_display_geometry_covers_every_ward_once_per_detail(snap):
    counts = dict(snap.execute("SELECT detail, count(*) FROM display_areas WHERE level = 'ward' GROUP BY 1").fetchall())
    n = snap.execute("SELECT count(*) FROM areas WHERE level = 'ward'").fetchone()[0]
    assert counts == {"overview": n, "detail": n}
    fc = queries.feature_collection(snap, "ward", "detail")
    geoms = [shapely.geometry.shape(f["geometry"]) for f in fc["features"]]
    full = gpd.GeoSeries.from_wkb(snap.execute("SELECT ST_AsWKB(geom) FROM areas WHERE level = 'ward' ORDER BY code")
                                  .df().iloc[:, 0].map(bytes), crs="EPSG:27700").to_crs("EPSG:4326")
    for simple, original in zip(geoms, full, strict=True):
        assert simple.is_valid
        assert simple.symmetric_difference(original).area / original.area < 0.02


def test_display_geometry_is_remade_only_when_boundaries_change(analysed_store):
    assert display.refresh(analysed_store) == ["ward", "la"]
    assert display.refresh(analysed_store) == []
    analysed_store.con.execute("UPDATE areas SET ingest_id = ingest_id + 1000 WHERE level = 'ward'")
    assert display.refresh(analysed_store) == ["ward"]


# -- measures --------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {}, {"measure": "need", "category": "community_centre"}, {"measure": "access", "field": "nearest_m"},
    {"measure": "index", "index": "dissimilarity", "group": "asian_all"}, {"measure": "index", "index": "entropy"},
    {"measure": "share", "group": "white_british"}])
def test_a_measure_survives_the_round_trip_through_a_url(params):
    m = queries.Measure.from_params(params)
    assert queries.Measure.from_params(m.params()) == m


def test_the_share_of_a_group_equals_a_sum_over_the_wards_output_areas(snap):
    values = queries.measure_values(snap, queries.Measure("share", group="black_african")).set_index("code")["value"]
    pop = snap.execute("""SELECT l.parent_code AS ward, p.category, p.count FROM population p
                          JOIN area_lookup l ON l.area_code = p.area_code AND l.parent_level = 'ward'
                          WHERE p.variable = 'ethnic_group'""").df()
    totals = pop.groupby("ward")["count"].sum()
    group = pop[pop["category"] == "black_african"].groupby("ward")["count"].sum()
    expected = (group / totals).reindex(values.index)
    np.testing.assert_allclose(values.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_class_breaks_are_mapclassify_s(snap):
    import mapclassify

    v = queries.measure_values(snap, queries.Measure())["value"]
    classes, bins = render.classify(v, "fisher_jenks", 5)
    ref = mapclassify.FisherJenks(v.to_numpy(), k=5)
    assert bins == pytest.approx(list(ref.bins))
    assert list(classes) == list(ref.yb)
    classes, bins = render.classify(pd.Series([1.0, np.nan, 1.0]), "quantiles", 5)
    assert list(classes) == [0, -1, 0] and bins == [1.0]


# -- what leaves: exports and the brief ------------------------------------------------------------

def test_public_exports_hold_no_sensitive_place(snap):
    points = _sensitive_points(snap)
    assert any(name == SENSITIVE_PLANTED[0] for name, _, _ in points)
    assets = queries.assets_frame(snap, partner=False)
    assert not assets["sensitive"].any()
    assert SENSITIVE_PLANTED[0] not in set(assets["name"])
    for fmt in ("geojson", "csv"):
        text = render.to_bytes(assets, fmt, "assets").decode("utf-8")
        for name, lat, lon in points:
            assert not pair_in(text, lat, lon), (fmt, name)
    gpkg = gpd.read_file(io.BytesIO(render.to_bytes(assets, "gpkg", "assets")))
    assert len(gpkg) == len(assets) == snap.execute("SELECT count(*) FROM assets WHERE NOT sensitive").fetchone()[0]
    layer = render.to_bytes(queries.measure_frame(snap, queries.Measure()), "geojson", "wards").decode("utf-8")
    for name, lat, lon in points:
        assert not pair_in(layer, lat, lon), name


def test_partner_exports_hold_them(snap):
    assets = queries.assets_frame(snap, partner=True)
    assert assets["sensitive"].sum() == len(_sensitive_points(snap))
    assert pair_in(render.to_bytes(assets, "geojson", "assets").decode(), *SENSITIVE_PLANTED[1:])


def test_the_layer_export_is_the_measure_on_full_boundaries(snap):
    frame = queries.measure_frame(snap, queries.Measure("gap", "esol_provider"))
    gj = json.loads(render.to_bytes(frame, "geojson", "wards"))
    assert len(gj["features"]) == snap.execute("SELECT count(*) FROM areas WHERE level = 'ward'").fetchone()[0]
    by_code = {f["properties"]["code"]: f["properties"]["value"] for f in gj["features"]}
    for code, gap in snap.execute("SELECT unit_code, gap FROM unit_gaps WHERE category = 'esol_provider'").fetchall():
        assert by_code[code] == pytest.approx(gap)
    csv = pd.read_csv(io.BytesIO(render.to_bytes(frame, "csv")))
    assert list(csv.columns) == ["code", "name", "value", "reliable", "measure"]


def _ward_of_planted(snap) -> str:
    return snap.execute("SELECT ward_code FROM assets WHERE name = ?", [HOSTILE_NAMES[0]]).fetchone()[0]


def test_the_ward_brief_escapes_names_and_withholds_sensitive_places(snap):
    code = _ward_of_planted(snap)
    html = brief.ward_brief(snap, code, partner=False, snapshot="test")
    assert html.startswith("<!doctype html>") and f"({code})" in html
    for name in HOSTILE_NAMES:
        assert name not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;" in html
    assert "Safe Haven" not in html
    assert "data:image/png;base64," in html
    for name, lat, lon in _sensitive_points(snap):
        assert not pair_in(html, lat, lon), name
    partner = brief.ward_brief(snap, code, partner=True, snapshot="test")
    assert "Safe Haven Women&#x27;s ESOL" in partner


def test_the_brief_map_image_is_a_png_of_the_ward(snap):
    png = brief.map_png(snap, _ward_of_planted(snap))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
