"""The map's data as files (dashboards/geo.py): a public snapshot's ward geometry and each view's
values, served beside the app with long cache lifetimes, gzip and ETags, from the public
snapshots only; the classes are the page's classes."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from assetmap import queries
from assetmap.db.store import connect
from assetmap.snapshots import PARTNER, PUBLIC, latest_path
from dashboards import geo, maps, render


@pytest.fixture
def client(dashboard_home):
    with TestClient(Starlette(routes=geo.routes())) as c:
        yield c


@pytest.fixture
def public_snapshot(dashboard_home):
    path = latest_path(dashboard_home / "assetmap.duckdb", PUBLIC)
    con = connect(path, read_only=True)
    yield path, con
    con.close()


def test_the_wards_come_once_compressed_and_kept_for_good(client, public_snapshot):
    path, con = public_snapshot
    url = geo.wards_url(path, "detail")
    r = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-type"] == "application/json" and r.headers["x-content-type-options"] == "nosniff"
    fc = r.json()
    codes = [c for (c,) in con.execute("SELECT code FROM areas WHERE level = 'ward' ORDER BY code").fetchall()]
    assert [f["properties"]["code"] for f in fc["features"]] == codes
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in fc["features"])
    # the public snapshot's counts of sensitive services, in words, and nothing more
    assert {f["properties"].get("sensitive") for f in fc["features"]} - {"none"}
    assert set(fc["features"][0]["properties"]) == {"code", "name", "sensitive"}
    # asked again with its ETag: nothing but "not modified"
    again = client.get(url, headers={"If-None-Match": r.headers["etag"], "Accept-Encoding": "gzip"})
    assert again.status_code == 304 and not again.content
    # the compressed file is several times smaller than the JSON
    raw = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and raw.json() == fc
    assert len(gzip.compress(raw.content)) * 2 < len(raw.content)


@pytest.mark.parametrize("params", [
    {"measure": "gap", "category": "esol_provider", "scheme": "quantiles", "k": "5"},
    {"measure": "index", "index": "theil_h", "scheme": "fisher_jenks", "k": "4"},
    {"measure": "share", "group": "asian_pakistani", "scheme": "equal_interval", "k": "7"},
])
def test_a_views_values_are_the_classes_the_page_draws(client, public_snapshot, params):
    path, con = public_snapshot
    m, scheme, k = geo.view_from(params)
    assert geo.view_from({**m.params(), "scheme": scheme, "k": str(k)}) == (m, scheme, k)  # the URL finds it again
    r = client.get(geo.values_url(path, m, scheme, k))
    assert r.status_code == 200
    doc = r.json()
    # mapclassify on the page's own read, independently of maps.choropleth
    wards = queries.wards(con)[["code"]].merge(queries.measure_values(con, m), on="code", how="left")
    classes, bins = render.classify(wards["value"], scheme, k)
    assert doc["colours"] == maps.palette(max(len(bins), 1), maps.PALETTE_OF[m.kind])
    got = np.array([doc["wards"][c][0] for c in wards["code"]])
    assert (got == classes).all() and (got >= 0).sum() > len(got) // 2
    assert [doc["wards"][c][1] for c in wards["code"]] == [maps.fmt(v) for v in wards["value"]]


def test_only_public_snapshots_are_served_and_nothing_else(client, dashboard_home, public_snapshot):
    path, _ = public_snapshot
    partner = latest_path(dashboard_home / "assetmap.duckdb", PARTNER)
    assert partner.stem != path.stem or partner.parent != path.parent
    for url in (f"{geo.ROUTE}/{partner.stem}x/wards-detail.json", f"{geo.ROUTE}/{path.stem}/wards-huge.json",
                f"{geo.ROUTE}/{path.stem}/secrets.json", f"{geo.ROUTE}/..%2F..%2Fassetmap/wards-detail.json",
                f"{geo.ROUTE}/.hidden/values.json"):
        r = client.get(url)
        assert r.status_code == 404 and b"features" not in r.content and b"wards" not in r.content, url
    assert geo.snapshot_path("../partner/" + partner.stem) is None
    assert geo.is_public(path) and not geo.is_public(partner)


def test_markers_are_the_public_ones_by_layer(client, public_snapshot, dashboard_home):
    """A category's markers as a file: every public site of it, none of the sensitive ones (the
    partner snapshot's are counted as a check that could fail)."""
    path, con = public_snapshot
    partner = connect(latest_path(dashboard_home / "assetmap.duckdb", PARTNER), read_only=True)
    try:
        for category in ("esol_provider", "place_of_worship", "community_centre"):
            r = client.get(geo.assets_url(path, category))
            assert r.status_code == 200 and r.headers["cache-control"].endswith("immutable")
            rows = [row for _, _, group in r.json()["groups"] for row in group]
            public = con.execute("SELECT count(*) FROM public_assets WHERE category = ?", [category]).fetchone()[0]
            assert len(rows) == public > 0, category
            hidden = partner.execute("SELECT name, ST_Y(p), ST_X(p) FROM (SELECT name, ST_Transform(geom, "
                                     "'EPSG:27700', 'EPSG:4326', always_xy := true) AS p FROM assets "
                                     "WHERE sensitive AND category = ?)", [category]).fetchall()
            names = {row[3] for row in rows}
            assert not [n for n, _, _ in hidden if n in names]
            assert not [n for n, y, x in hidden if any(abs(row[0] - y) < 1e-6 and abs(row[1] - x) < 1e-6
                                                        for row in rows)]
        worship = client.get(geo.assets_url(path, "place_of_worship")).json()["groups"]
        assert len(worship) > 1 and all(label.startswith("Places of worship: ") for label, _, _ in worship)
        assert client.get(f"{geo.ROUTE}/{path.stem}/assets-secret_things.json").status_code == 404
    finally:
        partner.close()
