"""Every dashboard page, run by Streamlit's AppTest on a published snapshot of the demo city.

Each test reads as what a user does: opens a page (or a shared URL), changes a control, and
sees the page follow. What the pages show is checked against the snapshot, not against itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import mapclassify
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from assetmap import queries
from assetmap.db.store import Store, connect
from assetmap.settings import settings
from assetmap.snapshots import latest_path, list_snapshots
from tests.conftest import HOSTILE_NAMES, SENSITIVE_PLANTED
from tests.conftest import pair_in as _pair_in

VIEWS = Path(__file__).resolve().parents[1] / "dashboards" / "views"
APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


def page(name: str, map_drawn: bool = True, **params: str) -> AppTest:
    """Run a page with these query parameters.

    With ``map_drawn``, the session's map has already reported back (as a browser's does once it
    has drawn the map, which AppTest has no browser to do): the map page then shows everything.
    """
    at = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    if map_drawn:
        at.session_state["_map_reported"] = True
    return at.run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def snap(dashboard_home):
    con = connect(latest_path(settings.db_path), read_only=True)
    yield con
    con.close()


def map_script(at: AppTest) -> str:
    """What the map component runs: the map's script and the view's (a public map's view)."""
    (component,) = at.get("component_instance")
    args = json.loads(component.proto.json_args)
    return args["script"] + "\n" + (args.get("feature_group") or "")


def map_files(at: AppTest) -> dict[str, str]:
    """The map's files the script names (dashboards/geo.py), as the route answers them."""
    import gzip
    import urllib.parse

    from dashboards import geo

    out = {}
    for url in set(re.findall(r'/assetmap/geo/[^"\\]+', map_script(at))):
        parts = urllib.parse.urlsplit(url)
        snapshot, name = parts.path.split("/")[-2:]
        got = geo.answer(snapshot, name, dict(urllib.parse.parse_qsl(parts.query)))
        assert got is not None, url
        out[url] = gzip.decompress(got[1]).decode()
    return out


# -- the app and the map -------------------------------------------------------------------------

def test_the_app_opens_on_the_map_with_every_page_in_its_navigation(dashboard_home):
    at = ok(AppTest.from_file(APP, default_timeout=90).run())
    assert at.title[0].value == "Provision-gap map"
    assert at.subheader[0].value == "Provision gap: ESOL classes"


def test_a_sessions_first_map_comes_alone_and_its_controls_follow_once_it_has_drawn(dashboard_home):
    """The first run sends the map and nothing that would compete with it for the browser's
    attention (benchmarks/dashboard.py); the controls come with the rerun its first report makes."""
    at = ok(page("map", map_drawn=False, measure="need"))
    assert len(at.get("component_instance")) == 1
    assert not at.sidebar.selectbox and not at.get("download_button")
    assert at.caption[-1].value == "Loading the map's controls…"
    assert at.subheader[0].value.startswith("Need")  # the view from the URL, already
    at.session_state["_map_reported"] = True
    at.run()
    assert [s.label for s in at.sidebar.selectbox][:2] == ["Measure", "Category"]
    assert at.sidebar.selectbox[0].value == "need"


def test_the_map_a_session_first_drew_stays_when_its_controls_come(dashboard_home):
    """The controls' first values ("every religion") are the view the map was drawn with: the same
    map (script and component key), not a new one the browser would mount beside the old while it
    swaps them (which the browser tests once caught as two map frames at once)."""
    def drawn(at: AppTest) -> tuple[str, str]:
        (component,) = at.get("component_instance")
        return json.loads(component.proto.json_args)["script"], component.proto.id

    at = ok(page("map", map_drawn=False, layers="place_of_worship"))
    first = drawn(at)
    at.session_state["_map_reported"] = True
    ok(at.run())
    religions = at.sidebar.multiselect(key="m-religions")
    assert len(religions.value) > 1 and drawn(at) == first
    one = religions.value[0]
    ok(religions.unselect(one).run())
    assert drawn(at)[0] != first[0]  # one religion fewer is another map's markers
    ok(at.sidebar.multiselect(key="m-religions").select(one).run())
    assert drawn(at) == first


def test_the_map_draws_every_ward_coloured_by_mapclassify_breaks(dashboard_home, snap):
    at = ok(page("map"))
    assert [s.label for s in at.sidebar.selectbox][:3] == ["Measure", "Category", "Class breaks"]
    files = map_files(at)  # a public map: the wards and the view's values are files
    n_wards = snap.execute("SELECT count(*) FROM areas WHERE level = 'ward'").fetchone()[0]
    (wards,) = [json.loads(t) for u, t in files.items() if "/wards-" in u]
    (view,) = [json.loads(t) for u, t in files.items() if "/values.json" in u]
    assert len({f["properties"]["code"] for f in wards["features"]}) == n_wards == len(view["wards"])
    public = connect(latest_path(settings.db_path, "public"), read_only=True)  # what a public page reads
    try:
        values = queries.measure_values(public, queries.Measure())["value"]
    finally:
        public.close()
    fitted = mapclassify.Quantiles(values.to_numpy(), k=5)
    bins = fitted.bins
    legend = next(c.value for c in at.caption if c.value.startswith("Classes (Quantiles)"))
    assert f"{bins[-1]:.3f}" in legend and f"{bins[0]:.3f}" in legend
    assert sorted(c for c, _ in view["wards"].values()) == sorted(fitted.yb)  # the classes drawn


def test_changing_the_measure_redraws_the_map_and_updates_the_url(dashboard_home):
    at = ok(page("map"))
    at.sidebar.selectbox(key="m-kind").set_value("index").run()
    at.sidebar.selectbox(key="m-index").set_value("theil_h").run()
    ok(at)
    assert at.subheader[0].value == "Theil's H (multigroup)"
    assert at.query_params["measure"] == ["index"] or at.query_params["measure"] == "index"
    assert "Theil" in map_script(at)
    at.sidebar.selectbox(key="m-scheme").set_value("fisher_jenks").run()
    at.sidebar.selectbox(key="m-k").set_value("4").run()
    ok(at)
    assert re.search(r"Classes \(Fisher-Jenks\)", " ".join(c.value for c in at.caption))


def test_a_shared_url_restores_the_measure_classes_and_ward(dashboard_home, snap):
    ward = snap.execute("SELECT code, name FROM areas WHERE level = 'ward' ORDER BY code LIMIT 1 OFFSET 7").fetchone()
    at = ok(page("map", measure="share", group="black_african", scheme="equal_interval", k="4", ward=ward[0],
                 layers="place_of_worship", lat="52.78", lon="-1.25", zoom="13"))
    assert at.subheader[0].value == "Share of residents: Black African"
    assert at.sidebar.selectbox(key="m-scheme").value == "equal_interval"
    assert at.sidebar.selectbox(key="m-k").value == "4"
    assert at.sidebar.multiselect(key="m-layers").value == ["place_of_worship"]
    assert any(h.value == f"Ward profile: {ward[1]} ({ward[0]})" for h in at.header)
    args = json.loads(at.get("component_instance")[0].proto.json_args)
    assert args["zoom"] == 13 and args["center"] == [52.78, -1.25]


def test_nonsense_in_the_url_falls_back_to_the_default_view(dashboard_home):
    at = ok(page("map", measure="<script>", k="99", layers="nope", ward="E05999999"))
    assert at.subheader[0].value == "Provision gap: ESOL classes"
    assert any("No ward E05999999" in w.value.replace("\\", "") for w in at.warning)


def test_public_mode_draws_no_sensitive_place_and_escapes_names(dashboard_home, snap):
    at = ok(page("map", layers="esol_provider,community_centre,refugee_support,place_of_worship"))
    script = map_script(at)
    files = map_files(at)
    for name in HOSTILE_NAMES:  # never in the map's script (markup); in its files as JSON data only
        assert name not in script
    markers = [row[3] for u, t in files.items() if "/assets-" in u
               for _, _, rows in json.loads(t)["groups"] for row in rows]
    assert "<img src=x onerror=alert(1)>" in markers  # set as text in the browser (maps._PIN_CALLBACK)
    sent = script + "\n".join(files.values())
    sensitive = snap.execute("SELECT name, ST_Y(p), ST_X(p) FROM (SELECT name, ST_Transform(geom, 'EPSG:27700', "
                             "'EPSG:4326', always_xy := true) AS p FROM assets WHERE sensitive)").fetchall()
    assert len(sensitive) > 100
    for name, lat, lon in sensitive:
        assert not _pair_in(sent, lat, lon), name
    assert SENSITIVE_PLANTED[0] not in sent and SENSITIVE_PLANTED[0].replace("'", "\\u0027") not in sent
    assert "Sensitive services (count only)" in script  # they are counted per ward instead
    public = snap.execute("SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', "
                          "always_xy := true) AS p FROM assets WHERE NOT sensitive AND category = 'esol_provider') "
                          "LIMIT 20").fetchall()
    assert sum(_pair_in(sent, lat, lon) for lat, lon in public) >= 10  # (the check can fail)


def test_partner_mode_shows_sensitive_places(dashboard_home, monkeypatch):
    monkeypatch.setattr(settings, "dashboard_mode", "partner")
    at = ok(page("map", layers="esol_provider"))
    script = map_script(at)
    assert _pair_in(script, SENSITIVE_PLANTED[1], SENSITIVE_PLANTED[2])


def test_a_partners_ward_profile_lists_the_sensitive_sites_in_reach_and_the_publics_counts_them(
        dashboard_home, snap, monkeypatch):
    ward = snap.execute("SELECT ward_code FROM assets WHERE name = ?", [SENSITIVE_PLANTED[0]]).fetchone()[0]

    def assets_and_caption(mode: str) -> tuple[pd.DataFrame, str]:
        monkeypatch.setattr(settings, "dashboard_mode", mode)
        at = ok(page("ward_profile", ward=ward))
        frame = next(d.value for d in at.dataframe if "distance_m" in d.value.columns)
        return frame, " ".join(c.value for c in at.caption)

    listed, said = assets_and_caption("partner")
    mine = listed[listed["name"] == SENSITIVE_PLANTED[0]]
    assert len(mine) == 1 and bool(mine["sensitive"].iloc[0])
    assert "listed above for partners" in said and "counted, not located" not in said
    listed, said = assets_and_caption("public")
    assert SENSITIVE_PLANTED[0] not in set(listed["name"]) and "sensitive" not in listed.columns
    assert "Sensitive services within reach (counted, not located)" in said


# -- the other pages -------------------------------------------------------------------------------

def test_the_ward_profile_follows_the_chosen_ward(dashboard_home, snap):
    at = ok(page("ward_profile"))
    wards = snap.execute("SELECT code, name FROM areas WHERE level = 'ward' ORDER BY code").fetchall()
    assert at.header[0].value == f"Ward profile: {wards[0][1]} ({wards[0][0]})"
    at.selectbox(key="p-ward").set_value(wards[5][0]).run()
    ok(at)
    assert at.header[0].value == f"Ward profile: {wards[5][1]} ({wards[5][0]})"
    assert at.query_params["ward"] in (wards[5][0], [wards[5][0]])
    metrics = {m.label: m.value for m in at.metric}
    public = connect(latest_path(settings.db_path, "public"), read_only=True)  # what a public page reads
    try:
        gap = public.execute("SELECT gap FROM unit_gaps WHERE unit_code = ? AND category = 'esol_provider'",
                             [wards[5][0]]).fetchone()[0]
    finally:
        public.close()
    assert metrics["ESOL classes"] == f"{gap:+.2f}"
    subheaders = [s.value for s in at.subheader]
    for part in ("Provision gaps: why this ward is flagged", "Who lives here", "The ward beside its local authority",
                 "Segregation indices", "Accessibility", "Assets within 1,600 m"):
        assert part in subheaders
    assert at.get("download_button")  # the ward brief
    # the demo has streets: the profile says both distances, as the snapshot holds them
    nearest = snap.execute("SELECT crow_m, nearest_m, nearest_min FROM unit_access WHERE unit_code = ? AND "
                           "category = 'esol_provider' AND unit_level = 'ward'", [wards[5][0]]).fetchone()
    said = " ".join(md.value for md in at.markdown).replace("\\", "")
    assert "Nearest ESOL class: " in said and "as the crow flies" in said and "on foot" in said
    assert f"({nearest[2]:.0f} minutes' walk)" in said
    assert nearest[1] > nearest[0]
    assert any("walks along the street network" in c.value for c in at.caption)


def test_the_map_draws_the_walking_area_around_a_provider(dashboard_home, snap):
    at = ok(page("map", measure="access", field="nearest_min"))
    assert any("walks along the street network" in c.value for c in at.caption)
    pick = at.selectbox(key="walk-from")
    # the default layers' places, none of them sensitive (public mode: no sensitive place to walk from)
    shown = snap.execute("SELECT count(*) FROM assets WHERE NOT sensitive AND category IN "
                         "('esol_provider', 'community_centre')").fetchone()[0]
    assert len(pick.options) == shown > 100
    first = snap.execute("SELECT asset_id FROM assets WHERE category = 'esol_provider' AND NOT sensitive "
                         "ORDER BY asset_id LIMIT 1").fetchone()[0]
    pick.set_value(first).run()
    ok(at)
    assert any("Streets within 10 minutes' walk" in c.value for c in at.caption)
    area = queries.walking_area(snap, first)
    assert area["nodes"][10] < area["nodes"][20]
    hidden = snap.execute("SELECT asset_id FROM assets WHERE sensitive LIMIT 1").fetchone()
    assert hidden is None or queries.walking_area(snap, hidden[0]) is None


def test_the_gaps_ranking_filters_and_offers_a_csv(dashboard_home, snap):
    at = ok(page("gap_ranking"))
    table = at.dataframe[0].value
    assert len(table) == snap.execute("SELECT count(*) FROM unit_gaps WHERE category = 'esol_provider'").fetchone()[0]
    assert list(table["rank"]) == sorted(table["rank"])
    at.selectbox(key="g-category").set_value("community_centre").run()
    at.checkbox(key="g-flagged").check().run()
    ok(at)
    flagged = at.dataframe[0].value
    expected = snap.execute(
        """SELECT count(*) FROM unit_gaps WHERE category = 'community_centre'
           AND (list_contains(CAST(flags AS VARCHAR[]), 'high_need_low_provision')
                OR list_contains(CAST(flags AS VARCHAR[]), 'no_provision_within_reach'))""").fetchone()[0]
    assert len(flagged) == expected
    name = table["name"].iloc[3]
    at.checkbox(key="g-flagged").uncheck()
    at.text_input(key="g-search").input(name[:5]).run()
    assert name in list(at.dataframe[0].value["name"])
    assert at.get("download_button")


def test_what_if_a_new_esol_class_narrows_gaps_nearby_and_suggest_draws_sites(dashboard_home, snap):
    at = ok(page("what_if"))
    gap_ward = snap.execute("""SELECT g.unit_code FROM unit_gaps g WHERE category = 'esol_provider'
                               ORDER BY rank LIMIT 1""").fetchone()[0]
    lat, lon = snap.execute("""SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom),
                               'EPSG:27700', 'EPSG:4326', always_xy := true) AS p FROM areas WHERE code = ?)""",
                            [gap_ward]).fetchone()
    at.number_input(key="wi-lat").set_value(lat)
    at.number_input(key="wi-lon").set_value(lon)
    at.number_input(key="wi-capacity").set_value(40)
    at.button(key="wi-add").click().run()
    ok(at)
    result = next(d.value for d in at.dataframe if "gap_after" in d.value.columns)
    assert (result["delta"] < 0).any() and (result["delta"] <= 1e-12).all()
    assert gap_ward in set(result["unit_code"])
    assert "What-if 1" in map_script(at)
    at.slider(key="wi-k").set_value(3)
    at.button(key="wi-suggest").click().run()
    ok(at)
    suggested = next(d.value for d in at.dataframe if "covered_demand" in d.value.columns)
    assert list(suggested["order"]) == [1, 2, 3]
    assert "Suggested 3" in map_script(at)


def test_the_dispersal_review_shows_the_study_areas_region_over_time(dashboard_home, snap):
    at = ok(page("dispersal_review"))
    assert at.selectbox(key="d-region").value == "Synthetic Region"  # the region of the loaded authorities
    in_region = {r[0] for r in snap.execute(
        "SELECT DISTINCT la_code FROM dispersal WHERE region = 'Synthetic Region'").fetchall()}
    frames = [d.value for d in at.dataframe]
    grown = next(f for f in frames if "change_per_10k" in f.columns)
    latest = next(f for f in frames if "supported_per_10k" in f.columns and "period" in f.columns)
    assert set(grown["la_code"]) == set(latest["la_code"]) == in_region and len(in_region) == 4
    assert list(grown["change_per_10k"]) == sorted(grown["change_per_10k"], reverse=True)
    assert {"esol_places_per_10k", "refugee_support_per_10k", "residents_basis"} <= set(latest.columns)
    assert set(latest["period"].astype(str)) == {"2025-09-30"}
    caption = " ".join(c.value for c in at.caption).replace("\\", "")  # markdown-escaped on the page
    assert "31 Dec 2023 to 30 Sep 2025" in caption and "Asy_D11" in caption
    assert "ONS mid-year estimate 2024" in caption and "Suppressed cells: 1" in caption
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # the trend and the latest date

    at.selectbox(key="d-region").set_value("Another Synthetic Region").run()
    ok(at)
    grown = next(d.value for d in at.dataframe if "change_per_10k" in d.value.columns)
    assert list(grown["la_code"]) == ["E06999999"]

    at.selectbox(key="d-region").set_value("Synthetic Region").run()
    at.selectbox(key="d-from").set_value("2025-06-30").run()
    ok(at)
    grown = next(d.value for d in at.dataframe if "change_per_10k" in d.value.columns)
    assert set(grown["first"].astype(str)) == {"2025-06-30"}


def test_provenance_lists_layers_ingests_events_and_compares_snapshots(dashboard_home, snap):
    at = ok(page("provenance"))
    frames = [d.value for d in at.dataframe]
    layers = next(f for f in frames if "layer" in f.columns)
    assert "assets: esol_provider" in set(layers["layer"])
    ingests = next(f for f in frames if "rows_read" in f.columns)
    assert (ingests["rows_read"] == ingests["rows_accepted"] + ingests["rows_quarantined"]).all()
    assert len(ingests) == snap.execute("SELECT count(*) FROM ingests").fetchone()[0]
    timeline = next(f for f in frames if "occurred_at" in f.columns)
    assert "assetmap.snapshot.published" in set(timeline["name"])
    changed = next(f for f in frames if "gap_before" in f.columns)  # the planted classes changed gaps
    assert len(changed) > 0 and "ESOL classes" in set(changed["category"])
    before = [s for s in list_snapshots(settings.db_path) if not s["latest"]]
    assert at.selectbox(key="pv-before").value == before[0]["snapshot_id"]


def test_a_submission_lands_in_the_inbox_for_the_pipeline(writable_dashboard_home):
    at = ok(page("submit"))
    at.text_input(key="s-name").input("Tuesday Conversation Club")
    at.selectbox(key="s-category").set_value("esol_provider")
    at.text_input(key="s-lat").input("52.7801")
    at.text_input(key="s-lon").input("-1.2502")
    at.multiselect(key="s-levels").set_value(["Entry 1", "Entry 2"])
    at.text_input(key="s-contact").input("club@example.org")
    at.button[0].click().run()
    ok(at)
    assert at.success and "waiting for a moderator" in at.success[0].value
    files = list((writable_dashboard_home / "inbox" / "submissions").glob("sub-*.json"))
    assert len(files) == 1
    payload = json.loads(files[0].read_text())
    assert payload["name"] == "Tuesday Conversation Club" and payload["esol_levels"] == ["Entry 1", "Entry 2"]
    assert payload["lat"] == 52.7801


def test_a_submission_without_a_place_is_refused_and_nothing_is_written(writable_dashboard_home):
    at = ok(page("submit"))
    at.text_input(key="s-name").input("Somewhere")
    at.button[0].click().run()
    assert at.error and "latitude and longitude, or a postcode" in at.error[0].value
    assert not (writable_dashboard_home / "inbox" / "submissions").exists() or not list(
        (writable_dashboard_home / "inbox" / "submissions").glob("*.json"))


def test_moderation_is_closed_without_a_secret(writable_dashboard_home, monkeypatch):
    monkeypatch.setattr(settings, "moderator_secret", "")
    at = ok(page("moderate"))
    assert "Moderation is closed" in at.info[0].value
    assert not at.text_input


def test_moderation_approves_behind_the_secret_and_publishes(writable_dashboard_home, monkeypatch):
    from assetmap.submissions import submit

    monkeypatch.setattr(settings, "moderator_secret", "s3cret-for-tests")
    with Store(settings.db_path) as store:
        sid = submit(store, {"name": "Harbour Welcome Cafe", "category": "refugee_support", "lat": 52.7790,
                             "lon": -1.2440, "submitted_by": "me@example.org"})
        bad = submit(store, {"name": "Spam", "category": "community_centre", "lat": 52.7, "lon": -1.2})
    before = latest_path(settings.db_path)
    at = ok(page("moderate"))
    at.text_input(key="mod-secret").input("wrong").run()
    assert at.error and "not the moderators' secret" in at.error[0].value
    assert not at.dataframe
    at.text_input(key="mod-secret").input("s3cret-for-tests").run()
    ok(at)
    assert set(at.dataframe[0].value["id"]) == {sid, bad}
    at.selectbox(key="mod-id").set_value(sid)
    at.button(key="mod-approve").click().run()
    ok(at)
    assert any(f"Approved {sid}" in s.value for s in at.success)
    after = latest_path(settings.db_path)
    assert after != before
    con = connect(after, read_only=True)
    try:
        row = con.execute("SELECT category, sensitive FROM assets WHERE name = 'Harbour Welcome Cafe'").fetchone()
        assert row == ("refugee_support", True)
        assert con.execute("SELECT count(*) FROM submissions WHERE status = 'pending'").fetchone()[0] == 0
    finally:
        con.close()
    at.selectbox(key="mod-id").set_value(bad)
    at.button(key="mod-reject").click().run()
    assert at.error and "Give a reason" in at.error[0].value
    at.text_input(key="mod-reason").input("not a real place")
    at.button(key="mod-reject").click().run()
    ok(at)
    assert any(f"Rejected {bad}" in s.value for s in at.success)


def test_every_page_says_when_nothing_is_published(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "db_path", tmp_path / "nothing.duckdb")
    for name in ("map", "ward_profile", "gap_ranking", "what_if", "dispersal_review", "provenance"):
        at = ok(page(name))
        assert "No snapshot has been published yet" in at.warning[0].value, name


def test_a_map_of_many_wards_draws_them_on_a_canvas(dashboard_home, monkeypatch):
    """Past the wards a map draws in detail, the same map draws on a canvas, not a path per ward
    (a nation's 7,602 paths cost the browser about a second: benchmarks/dashboard.py)."""
    assert "L.canvas(" not in map_script(ok(page("map")))
    monkeypatch.setattr(settings, "map_detail_max_wards", 10)
    st.cache_resource.clear()  # the maps kept for the setting as it was
    script = map_script(ok(page("map")))
    st.cache_resource.clear()
    assert "options.renderer = L.canvas(" in script and "wards-overview.json" in script


def test_too_many_markers_are_drawn_only_within_the_view(dashboard_home, monkeypatch):
    """A partner's national map (its markers inline) starts without markers; once the map reports
    its view, those in it are drawn. A public map's markers are files the browser clusters: all."""
    monkeypatch.setattr(settings, "map_max_markers", 10)
    at = ok(page("map", layers="esol_provider"))
    assert "assets-esol_provider.json" in map_script(at)
    assert not any("not drawn: zoom in" in c.value for c in at.caption)
    monkeypatch.setattr(settings, "dashboard_mode", "partner")
    at = ok(page("map", layers="esol_provider"))
    assert "var groups = [];" in map_script(at)  # no marker layer at all
    assert any("not drawn: zoom in" in c.value for c in at.caption)
    at.session_state["_map_bounds"] = {"_southWest": {"lat": 52.7795, "lng": -1.2510},
                                       "_northEast": {"lat": 52.7805, "lng": -1.2490}}
    at.run()
    script = map_script(at)
    assert "var groups = [];" not in script and "\\u003cimg src=x onerror=alert(1)\\u003e" in script


# -- changes: openings and closures, the gap then and now ---------------------------------------

def _close_some(tmp_path, store, category: str, n: int) -> list[str]:
    """Close ``n`` sites of ``category`` from their own source by a file saying so; their names."""
    from assetmap.ingest import ingest_file

    rows = store.con.execute(
        """SELECT source, source_record_id, name, ST_Y(p), ST_X(p) FROM (SELECT *, ST_Transform(geom,
           'EPSG:27700', 'EPSG:4326', always_xy := true) AS p FROM assets WHERE category = ?
           AND source_record_id IS NOT NULL) ORDER BY asset_id LIMIT ?""", [category, n]).fetchall()
    by_source: dict[str, list] = {}
    for src, rid, name, lat, lon in rows:
        by_source.setdefault(src, []).append((rid, name, lat, lon))
    for src, recs in by_source.items():
        path = tmp_path / f"closing-{category}-{src}.csv"
        path.write_text("id,name,category,lat,lon,status\n" + "".join(
            f'{rid},"{name}",{category},{lat},{lon},closed\n' for rid, name, lat, lon in recs), encoding="utf-8")
        r = ingest_file(store, path, source=src)
        assert r.status == "completed" and f"{len(recs)} closed" in r.message, r.message
    return [name for _, _, name, _, _ in rows]


def test_the_changes_page_shows_what_closed_and_the_gap_then_and_now(writable_dashboard_home, tmp_path,
                                                                        monkeypatch):
    import datetime as _dt

    from assetmap.analysis import recompute, recompute_as_at
    from assetmap.snapshots import publish

    with Store(settings.db_path) as store:
        moment = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
        esol = _close_some(tmp_path, store, "esol_provider", 3)
        refuge = _close_some(tmp_path, store, "refugee_support", 1)
        recompute(store)
        recompute_as_at(store, moment)
        publish(store, reason="closures")
    at = ok(page("changes"))
    assert any("Provision over time" in h.value for h in at.subheader)
    # the demo's two years of history come first: its classes opening, moving and closing
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["x"]["axis"]["format"] == "%d %b %Y"  # dates on the time axis, not ".990"
    whole = next(h.value for h in at.subheader if "opened or first recorded" in h.value)
    assert whole.startswith("31 Dec 2023 to ") and not whole.endswith(" 0 closed, 0 moved"), whole
    at.date_input(key="ch-period").set_value((moment.date(), _dt.date.today())).run()  # today's closures
    ok(at)
    assert any(re.search(r": \d+ opened or first recorded, 3 closed, 0 moved", h.value) for h in at.subheader), \
        [h.value for h in at.subheader]
    wards_table, listed, then_now = (d.value for d in at.dataframe)  # per ward, the list, then and now
    assert wards_table["closed"].sum() == 3
    closed = set(listed.loc[listed["change"] == "closed", "name"])
    assert closed == set(esol)  # the refugee support venue is not in the public history
    assert refuge[0] not in set(listed["name"])
    assert len(then_now) > 10 and then_now["change"].max() > 0  # gaps rose where classes closed
    # a partner sees the refugee support venue close too
    monkeypatch.setattr(settings, "dashboard_mode", "partner")
    at = ok(page("changes"))
    at.date_input(key="ch-period").set_value((moment.date(), _dt.date.today())).run()
    ok(at)
    listed = at.dataframe[1].value
    assert set(listed.loc[listed["change"] == "closed", "name"]) == set(esol) | set(refuge)
    # choosing a category narrows the period's list
    at.multiselect(key="ch-categories").set_value(["refugee_support"]).run()
    ok(at)
    assert set(at.dataframe[1].value["name"]) >= set(refuge)
    assert not set(at.dataframe[1].value["name"]) & set(esol)


def test_the_map_shows_bus_access_in_tfls_bands_and_the_profile_the_routes_behind_it(dashboard_home, snap):
    at = ok(page("map", measure="ptal"))
    assert at.subheader[0].value.startswith("Bus and rail access: PTAL access index")
    legend = next(c.value for c in at.caption if c.value.startswith("Classes (TfL's PTAL bands)"))
    # the wards' bands as the snapshot holds them, each named in the legend
    bands = {r[0] for r in snap.execute("SELECT ptal_band FROM unit_ptal WHERE unit_level = 'ward'").fetchall()}
    assert bands and all(f"PTAL {b} (" in legend for b in bands)
    assert all(f"PTAL {b} (" in map_script(at) for b in bands)  # the map's own legend names the bands
    assert "Class breaks" not in [s.label for s in at.sidebar.selectbox]  # the bands are the classes
    ward = snap.execute("SELECT unit_code FROM unit_ptal WHERE unit_level = 'ward' ORDER BY ptal_ai DESC "
                        "LIMIT 1").fetchone()[0]
    at = ok(page("ward_profile", ward=ward))
    assert "Bus and rail access (PTAL)" in [s.value for s in at.subheader]
    said = " ".join(md.value for md in at.markdown).replace("\\", "")
    band = snap.execute("SELECT ptal_band FROM unit_ptal WHERE unit_level = 'ward' AND unit_code = ?",
                        [ward]).fetchone()[0]
    assert f"PTAL {band} (access index" in said and "on foot along the streets" in said
    routes = next(d.value for d in at.dataframe if "per_hour" in d.value.columns)
    assert len(routes) >= 2 and routes["share_of_oas"].between(0, 1).all()


@pytest.mark.parametrize("name", ["map", "ward_profile", "gap_ranking", "dispersal_review", "changes", "provenance"])
def test_every_table_is_headed_in_words_not_column_names(dashboard_home, snap, name):
    code = snap.execute("SELECT code FROM areas WHERE level = 'ward' ORDER BY code LIMIT 1").fetchone()[0]
    at = ok(page(name, **({"ward": code} if name in ("map", "ward_profile") else {})))
    assert at.dataframe, name
    for d in at.dataframe:
        config = json.loads(d.proto.columns or "{}")
        for col in d.value.columns:
            label = config.get(str(col), {}).get("label")
            assert label, (name, col)  # every column carries its words
            assert "_" not in label and (label[0].isupper() or label[0].isdigit()), (name, col, label)
    # and every chart's tooltips
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        tips = [t for layer in [spec, *spec.get("layer", [])]
                for t in (layer.get("encoding", {}).get("tooltip") or [])]
        for t in tips:
            assert t.get("title") and "_" not in t["title"], (name, t)
