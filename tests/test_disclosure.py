"""The attacker's test: try to locate every sensitive site from what a snapshot holds.

The attacker has one snapshot file, assetmap's own code (it is open source) and nothing else. For
each category with sensitive sites they take the per-output-area figures, remove what the public
sites explain (counted with the same walking network, which the snapshot holds), and search a
grid for the places that explain what is left: discs of 10 and 20 minutes' walk around each
hidden site (counts), circles at known distances (a nearest site that is not a public one), and
the holes left where a distance was blanked. An estimate within 250 m of a true site is a find.

On the public snapshot the attack must find nothing. On the same figures before the disclosure
rule (the partner snapshot, read as if its sensitive rows were not there) it must find the sites:
so the attack works, and the test can fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.spatial import cKDTree

from assetmap.db.store import connect
from assetmap.network import costs_for
from assetmap.snapshots import PARTNER, PUBLIC, latest_path, publish

FIND_M = 250.0
GRID_M = 100.0


def _figures(con, category: str, public_ids: set[str]) -> pd.DataFrame:
    return con.execute(
        """SELECT o.oa_code, i.x, i.y, o.n_800, o.n_1600, o.nearest_m, o.nearest_asset_id, o.access_mode
           FROM oa_access o JOIN oa_inputs i USING (oa_code) WHERE o.category = ? ORDER BY o.oa_code""",
        [category]).df()


def attack(con, category: str, strategies: tuple[str, ...] = ("circles", "holes", "discs"),
           ) -> list[tuple[float, float]]:
    """Estimates of where the category's hidden sites are, from the snapshot ``con`` alone (the
    sites it lists as not sensitive are the ones the attacker may see)."""
    public = con.execute("SELECT asset_id, ST_X(geom) AS x, ST_Y(geom) AS y FROM assets WHERE category = ? "
                         "AND NOT sensitive AND geom IS NOT NULL ORDER BY asset_id", [category]).df()
    f = _figures(con, category, set(public["asset_id"]))
    if f.empty:
        return []
    oa_xy = f[["x", "y"]].to_numpy(float)
    costs = costs_for(con, oa_xy)
    n = len(f)
    estimates: list[tuple[float, float]] = []
    grid = _grid(oa_xy)
    # -- circles: OAs whose nearest site is not a public one, at a known walk from it ------------
    hidden_near = f[f["nearest_asset_id"].notna() & ~f["nearest_asset_id"].isin(public["asset_id"])]
    if "circles" not in strategies:
        hidden_near = hidden_near.iloc[:0]
    for _, group in hidden_near.groupby("nearest_asset_id"):
        idx = group.index.to_numpy()
        centre = oa_xy[idx].mean(axis=0)
        local = grid[np.hypot(*(grid - centre).T) <= 2000.0]
        a, o, c = costs.pairs(local, 2500.0, idx)
        err = np.zeros(len(local))
        hits = np.zeros(len(local))
        d = dict(zip(idx.tolist(), group["nearest_m"].to_numpy(float).tolist(), strict=True))
        np.add.at(err, a, (c - np.array([d[i] for i in o])) ** 2)
        np.add.at(hits, a, 1)
        err = np.where(hits == len(idx), err, np.inf)  # every OA of the group within reach
        if np.isfinite(err).any():
            estimates.append(tuple(local[int(np.argmin(err))]))
    # -- holes: OAs with sites of the category about but no distance (blanked) ------------------
    blank = f["nearest_m"].isna().to_numpy() & (f["access_mode"] != "outside").to_numpy() & \
        (f["n_1600"].to_numpy() > 0)
    if blank.any() and "holes" in strategies:
        pts = oa_xy[blank]
        tree = cKDTree(pts)
        seen = np.zeros(len(pts), dtype=bool)
        for k in range(len(pts)):
            if not seen[k]:
                members = tree.query_ball_point(pts[k], 600.0)
                seen[members] = True
                estimates.append(tuple(pts[members].mean(axis=0)))
    # -- discs: what the public sites do not explain ------------------------------------------
    resid = {}
    for radius, col in ((800.0, "n_800"), (1600.0, "n_1600")):
        _, o, _ = costs.pairs(public[["x", "y"]].to_numpy(float), radius)
        resid[radius] = f[col].to_numpy() - np.bincount(o, minlength=n)
    if (resid[1600.0] > 0).any() and "discs" in strategies:
        near, _ = cKDTree(oa_xy[resid[1600.0] > 0]).query(grid, k=1)
        cand = grid[near <= 1600.0][::2]  # every other point: 200 m apart along a row
        member = {}
        for r in (800.0, 1600.0):
            a, o, _ = costs.pairs(cand, r)
            member[r] = sparse.csr_matrix((np.ones(len(a)), (a, o)), shape=(len(cand), n))
        for _ in range(150):
            score = sum(member[r] @ (resid[r] > 0).astype(float) - 3.0 * (member[r] @ (resid[r] <= 0).astype(float))
                        for r in (800.0, 1600.0))
            best = int(np.argmax(score))
            if score[best] <= 2:
                break
            estimates.append(tuple(cand[best]))
            for r in (800.0, 1600.0):
                resid[r][member[r][best].indices] -= 1
    return estimates


def _grid(oa_xy: np.ndarray) -> np.ndarray:
    lo, hi = oa_xy.min(axis=0), oa_xy.max(axis=0)
    gx, gy = np.meshgrid(np.arange(lo[0], hi[0] + GRID_M, GRID_M), np.arange(lo[1], hi[1] + GRID_M, GRID_M))
    g = np.column_stack([gx.ravel(), gy.ravel()])
    near, _ = cKDTree(oa_xy).query(g, k=1)
    return g[near < 800.0]


def _finds(estimates: list[tuple[float, float]], truth: np.ndarray) -> int:
    """How many true sites have an estimate within FIND_M."""
    if not estimates or not len(truth):
        return 0
    d, _ = cKDTree(np.asarray(estimates)).query(truth, k=1)
    return int((d <= FIND_M).sum())


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory, _analysed_db):
    import shutil

    from assetmap.db.store import Store
    from assetmap.settings import settings

    home = tmp_path_factory.mktemp("attack")
    db = home / "assetmap.duckdb"
    shutil.copy(_analysed_db, db)
    old = settings.db_path
    settings.db_path = db
    try:
        with Store(db) as store:
            publish(store, reason="the attacker's test")
        yield {v: latest_path(db, v) for v in (PARTNER, PUBLIC)}
    finally:
        settings.db_path = old


def _truth(partner_path) -> pd.DataFrame:
    con = connect(partner_path, read_only=True)
    try:
        return con.execute("SELECT category, ST_X(geom) AS x, ST_Y(geom) AS y FROM assets WHERE sensitive").df()
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.concurrent
@pytest.mark.xdist_group("disclosure")
def test_the_public_snapshot_locates_no_sensitive_site_and_the_figures_before_the_rule_do(snapshots):
    truth = _truth(snapshots[PARTNER])
    assert len(truth) > 50  # the demo's women-only classes and refugee support venues
    results = {}
    for variant, strategies in ((PUBLIC, ("circles", "holes", "discs")), (PARTNER, ("circles", "holes", "discs")),
                                ("discs alone", ("discs",))):
        con = connect(snapshots[PARTNER if variant == "discs alone" else variant], read_only=True)
        try:
            found = 0
            for cat, sites in truth.groupby("category"):
                found += _finds(attack(con, cat, strategies), sites[["x", "y"]].to_numpy(float))
            results[variant] = found
        finally:
            con.close()
    print(f"\nsensitive sites located within {FIND_M:.0f} m: public {results[PUBLIC]} of {len(truth)}; the "
          f"figures before the rule {results[PARTNER]} (from the counts within 10 and 20 minutes' walk alone "
          f"{results['discs alone']})")
    assert results[PUBLIC] == 0
    assert results[PARTNER] >= len(truth) // 3
    assert results["discs alone"] >= 5  # the counts alone give sites away, as the issue found


def test_the_public_figures_per_output_area_are_those_of_the_public_sites_alone(snapshots):
    """Rule 1, checked directly: every public OA figure equals a recount from the public sites."""
    con = connect(snapshots[PUBLIC], read_only=True)
    try:
        for cat in ("esol_provider",):
            public = con.execute("SELECT ST_X(geom), ST_Y(geom) FROM assets WHERE category = ? AND NOT sensitive",
                                 [cat]).fetchnumpy()
            f = _figures(con, cat, set())
            costs = costs_for(con, f[["x", "y"]].to_numpy(float))
            xy = np.column_stack(list(public.values()))
            for r, col in ((800.0, "n_800"), (1600.0, "n_1600")):
                _, o, _ = costs.pairs(xy, r)
                assert np.array_equal(np.bincount(o, minlength=len(f)), f[col].to_numpy())
            assert f["nearest_m"].notna().sum() == (f["access_mode"] != "outside").sum()
        assert con.execute("SELECT count(*) FROM oa_access WHERE category = 'refugee_support'").fetchone()[0] == 0
        # per ward: rounded to the published steps
        shares = con.execute("SELECT share_within_800 FROM unit_access WHERE category = 'esol_provider' "
                             "AND unit_level = 'ward'").fetchnumpy()["share_within_800"]
        assert np.allclose(shares * 20, np.round(shares * 20))
        gaps = con.execute("SELECT gap FROM unit_gaps WHERE category = 'refugee_support'").fetchnumpy()["gap"]
        assert len(gaps) and np.allclose(gaps * 20, np.round(gaps * 20))
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.concurrent
@pytest.mark.xdist_group("disclosure")
@pytest.mark.realdata
def test_newport_with_some_venues_marked_sensitive_gives_none_away(tmp_path):
    """Real streets and real venues: a dozen of Newport's places of worship marked sensitive."""
    from assetmap.analysis.full import recompute
    from assetmap.db.store import Store
    from assetmap.ingest import ingest_file
    from assetmap.settings import settings
    from tests.conftest import real_data

    db = tmp_path / "newport.duckdb"
    old = settings.db_path
    settings.db_path = db
    try:
        with Store(db) as store:
            for name in ("wards_2013", "oa_2011"):
                assert ingest_file(store, real_data("newport", f"{name}.geojson")).status == "completed"
            assert ingest_file(store, real_data("newport-network", "newport-2023-06-13.osm.pbf")).status == \
                "completed"
            store.con.execute("""UPDATE assets SET sensitive = true WHERE asset_id IN (
                                     SELECT asset_id FROM assets WHERE category = 'place_of_worship'
                                     ORDER BY asset_id LIMIT 12)""")
            recompute(store)
            publish(store, reason="newport attack")
        truth = _truth(latest_path(db, PARTNER))
        truth = truth[truth["category"] == "place_of_worship"]
        assert len(truth) == 12
        found = {}
        for variant in (PUBLIC, PARTNER):
            con = connect(latest_path(db, variant), read_only=True)
            try:
                found[variant] = _finds(attack(con, "place_of_worship"), truth[["x", "y"]].to_numpy(float))
            finally:
                con.close()
        print(f"\nNewport: {found[PUBLIC]} of 12 located in public, {found[PARTNER]} before the rule")
        assert found[PUBLIC] == 0 and found[PARTNER] >= 6
    finally:
        settings.db_path = old
