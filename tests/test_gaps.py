"""Need, supply and gaps: explainable, ranked, flagged; an incremental recompute equals a full one."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from assetmap.analysis import recompute, recompute_affected
from assetmap.db import geography
from assetmap.db.store import Store
from assetmap.ingest import ingest_file
from assetmap.settings import settings

RESULT_QUERIES = {
    "oa_access": "SELECT * FROM oa_access ORDER BY oa_code, category",
    "unit_access": "SELECT * EXCLUDE (computed_at) FROM unit_access ORDER BY unit_level, unit_code, category",
    "unit_gaps": "SELECT * EXCLUDE (computed_at) FROM unit_gaps ORDER BY unit_level, unit_code, category",
    "unit_need": "SELECT * EXCLUDE (computed_at) FROM unit_need ORDER BY unit_level, unit_code, component",
}


def results(store: Store) -> dict:
    return {t: store.con.execute(q).df() for t, q in RESULT_QUERIES.items()}


def assert_same_results(a: Store, b: Store) -> None:
    ra, rb = results(a), results(b)
    for t in RESULT_QUERIES:
        x, y = ra[t], rb[t]
        assert x.shape == y.shape, t
        for col in x.columns:
            same = x[col].equals(y[col]) or ((x[col].isna() == y[col].isna()).all() and \
                (x[col][x[col].notna()] == y[col][y[col].notna()]).all())
            assert same, f"{t}.{col} differs"


def test_the_gap_is_exactly_the_sum_of_its_shown_components(analysed_store):
    rows = analysed_store.con.execute("SELECT category, need, supply, gap, components FROM unit_gaps").fetchall()
    assert len(rows) == 60 * 4
    for category, need, supply, gap, comps in rows:
        comps = json.loads(comps)
        assert sum(c["contribution"] for c in comps) == pytest.approx(gap, abs=1e-12)
        assert sum(c["contribution"] for c in comps if c["kind"] == "need") == pytest.approx(need, abs=1e-12)
        assert -sum(c["contribution"] for c in comps if c["kind"] == "supply") == pytest.approx(supply, abs=1e-12)
        for c in comps:
            assert c["contribution"] == pytest.approx(c["weight"] * c["scaled"] * (1 if c["kind"] == "need" else -1))
        need_w = sum(c["weight"] for c in comps if c["kind"] == "need")
        assert need_w == pytest.approx(1.0)
        assert {c["component"] for c in comps if c["kind"] == "need"} == set(settings.need_weights[category])
        assert -1 <= gap <= 1


def test_esol_need_is_the_share_who_cannot_speak_english_well(analysed_store):
    code, raw = analysed_store.con.execute(
        "SELECT unit_code, raw FROM unit_need WHERE component = 'esol_need' ORDER BY unit_code LIMIT 1").fetchone()
    want = analysed_store.scalar(
        """SELECT sum(count) FILTER (WHERE category IN ('not_well', 'cannot')) / sum(count)
           FROM population p JOIN area_lookup l ON l.area_code = p.area_code AND l.parent_level = 'ward'
           WHERE p.variable = 'english_proficiency' AND l.parent_code = ?""", [code])
    assert raw == pytest.approx(want)


def test_ranks_and_flags(analysed_store):
    for cat in ("esol_provider", "community_centre"):
        rows = analysed_store.con.execute(
            "SELECT gap, rank, need, supply, flags FROM unit_gaps WHERE category = ? ORDER BY rank", [cat]).fetchall()
        gaps = [r[0] for r in rows]
        assert gaps == sorted(gaps, reverse=True) and rows[0][1] == 1
        need_q = np.quantile([r[2] for r in rows], 0.75)
        sup_q = np.quantile([r[3] for r in rows], 0.25)
        flagged = [r for r in rows if "high_need_low_provision" in json.loads(r[4])]
        assert flagged, "the demo city has wards of high need and low provision"
        assert all(r[2] >= need_q and r[3] <= sup_q for r in flagged)
        assert [r for r in rows if r[2] >= need_q and r[3] <= sup_q] == flagged


def test_strengths_list_what_is_there(analysed_store):
    code, strengths = analysed_store.con.execute(
        "SELECT unit_code, strengths FROM unit_gaps WHERE category = 'esol_provider' "
        "ORDER BY json_extract(strengths, '$.assets_in_unit')::INT DESC LIMIT 1").fetchone()
    s = json.loads(strengths)
    n, cap = analysed_store.con.execute(
        "SELECT count(*), sum(coalesce(TRY_CAST(attrs->>'capacity' AS DOUBLE), 1)) FROM assets "
        "WHERE ward_code = ? AND category = 'esol_provider'", [code]).fetchone()
    assert s["assets_in_unit"] == n > 0 and s["capacity_in_unit"] == pytest.approx(cap)


def _resend(demo_dir, tmp_path, edit) -> Path:  # noqa: F821
    """A re-sent provider list: the same source (file name) with some rows edited or added."""
    src = demo_dir / "assets/esol_providers.csv"
    with src.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows = edit(rows)
    out = tmp_path / "resent" / "esol_providers.csv"
    out.parent.mkdir()
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def _copy(store: Store, tmp_path, name: str) -> Store:
    store.con.execute("CHECKPOINT")
    path = tmp_path / name
    shutil.copy(store.path, path)
    return Store(path)


def test_incremental_recompute_equals_a_full_one(analysed_store, demo_dir, tmp_path):
    def edit(rows):
        good = [r for r in rows if r["lat"] and r["id"].startswith("esol-")]
        good[0]["lat"] = f"{float(good[0]['lat']) + 0.006:.6f}"      # moved about 670 m
        good[1]["capacity"] = "120"                                   # grew
        new = dict(good[2], id="esol-new-1", name="Tuesday ESOL at the library",
                   lat=f"{float(good[2]['lat']) - 0.01:.6f}", lon=f"{float(good[2]['lon']) + 0.01:.6f}")
        return [*rows, new]

    r = ingest_file(analysed_store, _resend(demo_dir, tmp_path, edit))
    assert r.status == "completed" and r.assets_changed == 3 and r.affected_wards
    full = _copy(analysed_store, tmp_path, "full.duckdb")
    inc = recompute_affected(analysed_store, r.affected_wards)
    total_oas = analysed_store.scalar("SELECT count(*) FROM areas WHERE level = 'oa'")
    assert 0 < inc.oas < total_oas / 2  # only what the changed assets reach
    recompute(full)
    assert_same_results(analysed_store, full)
    full.close()


def test_incremental_recompute_after_an_asset_closes_equals_a_full_one(analysed_store, tmp_path):
    aid, ward = analysed_store.con.execute(
        "SELECT asset_id, ward_code FROM assets WHERE category = 'community_centre' ORDER BY asset_id LIMIT 1"
    ).fetchone()
    analysed_store.con.execute("DELETE FROM assets WHERE asset_id = ?", [aid])
    full = _copy(analysed_store, tmp_path, "full.duckdb")
    before = analysed_store.scalar("SELECT count(*) FROM oa_access WHERE nearest_asset_id = ?", [aid])
    assert before > 0
    recompute_affected(analysed_store, [ward])
    assert analysed_store.scalar("SELECT count(*) FROM oa_access WHERE nearest_asset_id = ?", [aid]) == 0
    recompute(full)
    assert_same_results(analysed_store, full)
    full.close()


def test_the_incremental_recompute_knows_which_assets_changed(analysed_store, tmp_path):
    """Only the moved asset's category is recomputed; the others keep their results untouched."""
    aid = analysed_store.scalar(
        "SELECT asset_id FROM assets WHERE category = 'esol_provider' ORDER BY asset_id LIMIT 1")
    stamp = "SELECT category, max(computed_at) FROM unit_access GROUP BY 1 ORDER BY 1"
    before = dict(analysed_store.con.execute(stamp).fetchall())
    analysed_store.con.execute("UPDATE assets SET geom = ST_Translate(geom, 250, 0) WHERE asset_id = ?", [aid])
    full = _copy(analysed_store, tmp_path, "full.duckdb")
    res = recompute_affected(analysed_store, [])  # no wards named: the store finds the change itself
    after = dict(analysed_store.con.execute(stamp).fetchall())
    assert res.oas > 0
    assert after["esol_provider"] > before["esol_provider"]
    assert all(after[c] == before[c] for c in before if c != "esol_provider")
    recompute(full)
    assert_same_results(analysed_store, full)
    full.close()


def test_results_from_before_the_store_kept_its_assets_are_updated_from_the_wards(analysed_store, demo_dir,
                                                                                 tmp_path):
    analysed_store.con.execute("DELETE FROM analysed_assets")  # as a store made before migration 9
    aid, ward = analysed_store.con.execute(
        "SELECT asset_id, ward_code FROM assets WHERE category = 'refugee_support' ORDER BY asset_id LIMIT 1"
    ).fetchone()
    analysed_store.con.execute("UPDATE assets SET geom = ST_Translate(geom, 0, 300) WHERE asset_id = ?", [aid])
    geography.reassign_assets(analysed_store.con)  # its OA and ward where it is now, as ingest does
    new_ward = analysed_store.scalar("SELECT ward_code FROM assets WHERE asset_id = ?", [aid])
    full = _copy(analysed_store, tmp_path, "full.duckdb")
    recompute_affected(analysed_store, [ward, new_ward])  # the wards an assets.changed event names
    assert analysed_store.scalar("SELECT count(*) FROM analysed_assets") == analysed_store.scalar(
        "SELECT count(*) FROM assets WHERE geom IS NOT NULL")  # and from now on it keeps them
    recompute(full)
    assert_same_results(analysed_store, full)
    full.close()


def test_recompute_by_msoa_and_la_when_data_has_no_wards(analysed_store):
    res = recompute(analysed_store, level="la")
    assert res.units == 1
    assert analysed_store.scalar("SELECT count(*) FROM unit_gaps WHERE unit_level = 'la'") == 4
    # the ward results are untouched by a recompute at another level
    assert analysed_store.scalar("SELECT count(*) FROM unit_gaps WHERE unit_level = 'ward'") == 240
    with pytest.raises(ValueError, match="unit level"):
        recompute(analysed_store, level="county")
