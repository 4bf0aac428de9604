"""Language match: the census's main languages (2021 TS024 as Nomis publishes it, 2011 QS204EW)
set against the languages ESOL and refugee-support providers work in, within reach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assetmap.analysis import recompute, recompute_affected
from assetmap.ingest import ingest_file
from assetmap.settings import settings
from assetmap.sources import sniff
from assetmap.vocab.languages import language_slug
from tests.network_reference import Reference

VIEWS = Path(__file__).resolve().parents[1] / "dashboards" / "views"
P21 = "Main language (detailed): "
P11 = "Main Language: "


def _oas(store, n: int) -> list[str]:
    return [c for (c,) in store.con.execute("SELECT code FROM areas WHERE level = 'oa' ORDER BY code LIMIT ?",
                                            [n]).fetchall()]


def test_the_2021_table_as_published_is_read_with_every_row_accounted_for(full_store, tmp_path):
    oas = _oas(full_store, 4)
    header = ["date", "geography", "geography code", f"{P21}Total: All usual residents aged 3 years and over",
              f"{P21}English (English or Welsh in Wales)", f"{P21}Other European language (EU): Polish",
              f"{P21}South Asian language: Panjabi", f"{P21}West or Central Asian language: Persian or Farsi",
              f"{P21}Other language: Any other language"]
    rows = [["2021", oas[0], oas[0], 100, 70, 10, 12, 3, 5],
            ["2021", oas[1], oas[1], 100, 60, 10, 12, 3, 5],  # 10 more in the total than the columns
            ["2021", oas[2], oas[2], 50, 70, 0, 0, 0, 0],  # the columns exceed the total
            ["2021", "E05900001", "E05900001x", 10, 10, 0, 0, 0, 0],  # not a code
            ["2021", oas[3], oas[3], 10, "..", 0, 0, 0, 0],  # suppressed, not a count
            ["2021", oas[0], oas[0], 100, 70, 10, 12, 3, 5]]  # the same area again
    path = tmp_path / "census2021-ts024-oa.csv"
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n", encoding="utf-8")
    assert sniff(path, path.read_bytes()) == "languages"
    r = ingest_file(full_store, path)
    assert r.status == "completed" and (r.rows_read, r.rows_accepted, r.rows_quarantined) == (6, 2, 4)
    reasons = sorted(c for (c,) in full_store.con.execute(
        "SELECT reason_code FROM quarantine WHERE ingest_id = ?", [r.ingest_id]).fetchall())
    assert reasons == ["duplicate_area", "invalid_code", "invalid_value", "invalid_value"]
    got = dict(full_store.con.execute(
        "SELECT category, count FROM population WHERE variable = 'main_language' AND area_code = ? "
        "AND ingest_id = ?", [oas[1], r.ingest_id]).fetchall())
    assert got == {"english": 60, "polish": 10, "panjabi": 12, "persian": 3, "other": 5, "unlisted": 10}


def test_the_2011_table_maps_onto_the_same_languages(full_store, tmp_path):
    oa = _oas(full_store, 1)[0]
    m = "; measures: Value"
    header = ["date", "geography", "geography code", f"{P11}All usual residents aged 3 and over{m}",
              f"{P11}English (English or Welsh if in Wales){m}", f"{P11}Other European Language (EU): Polish{m}",
              f"{P11}South Asian Language: Total{m}", f"{P11}South Asian Language: Panjabi{m}",
              f"{P11}South Asian Language: Urdu{m}", f"{P11}Arabic{m}"]
    path = tmp_path / "qs204ew.csv"
    path.write_text(",".join(header) + f"\n2011,{oa},{oa},90,60,5,20,12,8,5\n", encoding="utf-8")
    r = ingest_file(full_store, path)
    assert r.status == "completed" and r.rows_accepted == 1, r.message
    got = dict(full_store.con.execute(
        "SELECT category, count FROM population WHERE variable = 'main_language' AND vintage = '2011' "
        "AND area_code = ?", [oa]).fetchall())
    assert got == {"english": 60, "polish": 5, "panjabi": 12, "urdu": 8, "arabic": 5}  # the subtotal left out


@pytest.mark.parametrize(("text", "slug"), [("Punjabi", "panjabi"), ("Panjabi", "panjabi"), ("Farsi", "persian"),
                                           ("Bengali (with Sylheti and Chatgaya)", "bengali"),
                                           ("Mandarin Chinese", "mandarin"), ("Klingon", None)])
def test_providers_and_the_census_name_languages_alike(text, slug):
    assert language_slug(text) == slug


def _brute_force(store, code: str, language: str, walks: Reference | None = None) -> tuple[float, float]:
    """Speakers in the ward, and those in OAs within reach of a provider listing the language: by
    SQL over the store (no tree, no shared code) as the crow flies, or where a walking network is
    loaded, 1,600 m on foot by networkx's Dijkstra (``walks``, built over every OA's point)."""
    speakers = store.scalar(
        """SELECT sum(count) FROM census_latest WHERE variable = 'main_language' AND category = ?
           AND area_code IN (SELECT area_code FROM area_lookup WHERE parent_level = 'ward' AND parent_code = ?)""",
        [language, code])
    providers = store.con.execute(
        """SELECT asset_id, ST_X(geom) AS x, ST_Y(geom) AS y, json_extract(attrs, '$.languages')::VARCHAR AS langs
           FROM assets WHERE category IN ('esol_provider', 'refugee_support')""").df()
    mine = providers[[isinstance(r.langs, str) and any(language_slug(x) == language for x in json.loads(r.langs))
                      for r in providers.itertuples()]]
    if walks is None:
        covered = store.scalar(
            """SELECT coalesce(sum(c.count), 0) FROM census_latest c
               JOIN areas o ON o.level = 'oa' AND o.code = c.area_code
               WHERE c.variable = 'main_language' AND c.category = ?
                 AND c.area_code IN (SELECT area_code FROM area_lookup WHERE parent_level = 'ward' AND parent_code = ?)
                 AND EXISTS (SELECT 1 FROM assets a WHERE list_contains(?, a.asset_id)
                             AND ST_DWithin(a.geom, ST_PointOnSurface(o.geom), 1600))""",
            [language, code, list(mine["asset_id"])])
        return float(speakers or 0), float(covered)
    on = walks.add_assets(mine[["x", "y"]].to_numpy(float))
    reached = sorted({walks.codes[i] for (_, i) in walks.within(on, settings.catchments_m[-1])})
    covered = store.scalar(
        """SELECT coalesce(sum(count), 0) FROM census_latest WHERE variable = 'main_language' AND category = ?
           AND area_code IN (SELECT area_code FROM area_lookup WHERE parent_level = 'ward' AND parent_code = ?)
           AND list_contains(?, area_code)""", [language, code, reached])
    return float(speakers or 0), float(covered)


def _walks(store) -> Reference:
    oas = store.con.execute("SELECT code, ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y "
                            "FROM areas WHERE level = 'oa' ORDER BY code").df()
    walks = Reference(store.con, oas[["x", "y"]].to_numpy(float))
    walks.codes = list(oas["code"])
    return walks


def test_the_language_gap_is_the_share_of_speakers_with_no_provider_in_their_language(analysed_store):
    rows = analysed_store.con.execute(
        "SELECT unit_code, language, speakers, covered, language_gap, providers, rank FROM unit_languages "
        "WHERE unit_level = 'ward' ORDER BY speakers DESC").fetchall()
    assert len(rows) > 100
    assert {lang for _, lang, *_ in rows} >= {"urdu", "panjabi", "polish", "arabic", "somali"}
    assert not {"english", "welsh", "unlisted", "other"} & {lang for _, lang, *_ in rows}
    checked = 0
    walks = _walks(analysed_store)  # the demo city has a walking network: reach is on foot
    for code, lang, speakers, covered, gap, _providers, _rank in rows[:: max(1, len(rows) // 12)]:
        want_speakers, want_covered = _brute_force(analysed_store, code, lang, walks)
        assert speakers == pytest.approx(want_speakers) and covered == pytest.approx(want_covered)
        assert gap == pytest.approx(1 - covered / speakers, abs=1e-12)
        checked += 1
    assert checked >= 10
    # ranks run 1.. within each ward, most speakers first
    per_ward = analysed_store.con.execute(
        """SELECT bool_and(ok) FROM (SELECT rank = row_number() OVER (PARTITION BY unit_code ORDER BY speakers DESC,
           rank) AS ok FROM unit_languages)""").fetchone()[0]
    assert per_ward


def test_without_a_walking_network_the_language_match_is_as_the_crow_flies(analysed_store):
    store = analysed_store
    with store.transaction() as con:  # a store whose place has no street network loaded
        for t in ("network_info", "network_edges", "network_nodes"):
            con.execute(f"DELETE FROM {t}")
    res = recompute_affected(store, [])  # measured another way than before: a full recompute
    assert res.mode == "full" and "crow flies" in " ".join(res.notes)
    assert store.con.execute("SELECT DISTINCT access_mode FROM oa_access").fetchall() == [("crow_flies",)]
    rows = store.con.execute("SELECT unit_code, language, speakers, covered FROM unit_languages "
                             "WHERE unit_level = 'ward' ORDER BY speakers DESC").fetchall()
    for code, lang, speakers, covered in rows[:: max(1, len(rows) // 8)]:
        assert (speakers, covered) == pytest.approx(_brute_force(store, code, lang))


def test_a_new_class_in_an_unserved_language_closes_that_gap_where_it_reaches(analysed_store, tmp_path):
    code, lat, lon = analysed_store.con.execute(
        """SELECT l.unit_code, ST_Y(p), ST_X(p) FROM unit_languages l JOIN areas w ON w.level = 'ward'
           AND w.code = l.unit_code, LATERAL (SELECT ST_Transform(ST_PointOnSurface(w.geom), 'EPSG:27700',
           'EPSG:4326', always_xy := true) AS p)
           WHERE l.language = 'gujarati' ORDER BY l.speakers DESC LIMIT 1""").fetchone()
    before = analysed_store.scalar("SELECT language_gap FROM unit_languages WHERE unit_code = ? AND "
                                   "language = 'gujarati'", [code])
    assert before == 1.0  # nobody in the demo teaches in Gujarati
    path = tmp_path / "gujarati.csv"
    path.write_text(f"id,name,category,lat,lon,languages\ng1,Gujarati ESOL Circle,esol_provider,{lat},{lon},"
                    "Gujarati\n", encoding="utf-8")
    r = ingest_file(analysed_store, path)
    assert r.status == "completed"
    recompute_affected(analysed_store, r.affected_wards)
    after = analysed_store.scalar("SELECT language_gap FROM unit_languages WHERE unit_code = ? AND "
                                  "language = 'gujarati'", [code])
    assert after < before
    rows = "SELECT * EXCLUDE (computed_at) FROM unit_languages ORDER BY ALL"
    incremental = analysed_store.con.execute(rows).fetchall()
    recompute(analysed_store)
    full = analysed_store.con.execute(rows).fetchall()
    assert incremental == full


def test_the_profile_and_the_map_show_the_language_match(dashboard_home):
    from assetmap.db.store import connect
    from assetmap.snapshots import latest_path

    con = connect(latest_path(settings.db_path), read_only=True)
    code = con.execute("SELECT unit_code FROM unit_languages ORDER BY speakers DESC LIMIT 1").fetchone()[0]
    con.close()
    at = AppTest.from_file(str(VIEWS / "ward_profile.py"), default_timeout=90)
    at.query_params["ward"] = code
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(h.value == "Languages and providers in them" for h in at.subheader)
    table = next(d.value for d in at.dataframe if "main language" in d.value.columns)
    assert len(table) >= 3 and table["language_gap"].between(0, 1).all()
    at = AppTest.from_file(str(VIEWS / "map.py"), default_timeout=90)
    for k, v in {"measure": "language", "language": "urdu"}.items():
        at.query_params[k] = v
    at.session_state["_map_reported"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Language gap: Urdu" in h.value for h in at.subheader)
