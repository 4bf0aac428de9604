"""`assetmap fetch`: a local authority's open data from the services that publish it, run here
against local stand-ins that answer in the services' real shapes with the real Cardiff data
(tests/fake_services.py): no internet on these machines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from assetmap import alerts
from assetmap import fetch as fetchmod
from assetmap.analysis import recompute
from assetmap.cli import main
from assetmap.db.store import Store
from assetmap.ingest import ingest_paths
from assetmap.settings import settings
from tests.conftest import real_data
from tests.fake_services import FakeServices

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def shared() -> Path:
    path = real_data("cardiff", "oa_2011.geojson")
    return path.parents[1]


@pytest.fixture
def services(shared, monkeypatch, tmp_path):
    with FakeServices(shared, arcgis_page=300, nomis_page=10_000) as fs:
        monkeypatch.setattr(settings, "fetch_urls", fs.urls)
        monkeypatch.setattr(settings, "home", tmp_path / "home")
        monkeypatch.setattr(settings, "fetch_backoff_s", 0.01)
        monkeypatch.setattr(fetchmod.ons, "ARCGIS_PAGE", 300)  # as many as the stand-in gives a page
        monkeypatch.setattr(fetchmod.nomis, "NOMIS_PAGE", 10_000)
        yield fs


def _by_hand(shared: Path, tmp_path: Path) -> Store:
    """Cardiff loaded from its files as a user with downloads would (README "Your own place")."""
    folder = tmp_path / "by_hand"
    folder.mkdir()
    for name in ("wards_2013.geojson", "oa_2011.geojson"):
        (folder / name).write_bytes((shared / "cardiff" / name).read_bytes())
    codes = {f["properties"]["OA11CD"] for f in json.loads((shared / "cardiff" / "oa_2011.geojson").read_text())
             ["features"]}
    with gzip.open(shared / "census2011" / "oa_ethnic_group_2011_ew.csv.gz", "rt") as fh:
        lines = [line for i, line in enumerate(fh) if i == 0 or line.split(",", 1)[0] in codes]
    (folder / "oa_ethnic_group_2011_cardiff.csv").write_text("".join(lines))
    store = Store(tmp_path / "by_hand.duckdb")
    ingest_paths(store, [folder])
    recompute(store)
    return store


def _high_level(store: Store) -> dict[tuple[str, str, str], float]:
    rows = store.con.execute(
        "SELECT unit_code, focal_group, index_name, value FROM unit_indices WHERE unit_level = 'ward' "
        "AND (focal_group IN ('white_all', 'asian_all', 'black_all', 'other_all', 'mixed_all') OR "
        "focal_group = 'all') AND value IS NOT NULL").fetchall()
    return {(w, f, i): v for w, f, i, v in rows}


def test_fetch_cardiff_and_ingest_gives_the_place_loaded_by_hand(services, shared, tmp_path, capsys):
    db = tmp_path / "fetched.duckdb"
    into = tmp_path / "cardiff"
    rc = main(["fetch", "--la", "Cardiff", "--into", str(into), "--ingest", "--db", str(db)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Cardiff (W06000015)" in out
    manifest = json.loads((into / "SOURCES.json").read_text())
    assert manifest["local_authorities"] == [{"code": "W06000015", "name": "Cardiff"}]
    assert {r["licence"] for r in manifest["requests"]} == {
        "Open Government Licence v3.0", "Open Database Licence (ODbL) 1.0, (c) OpenStreetMap contributors"}
    assert all(r["retrieved_at"] for r in manifest["requests"])

    hand = _by_hand(shared, tmp_path)
    with Store(db) as got:
        for level in ("ward", "oa"):
            q = "SELECT code FROM areas WHERE level = ? ORDER BY code"
            assert got.con.execute(q, [level]).fetchall() == hand.con.execute(q, [level]).fetchall(), level
        q = "SELECT code, parent_code FROM areas WHERE level = 'oa' ORDER BY code"
        assert got.con.execute(q).fetchall() == hand.con.execute(q).fetchall()  # OA -> ward alike
        fetched, by_hand = _high_level(got), _high_level(hand)
        assert len(by_hand) > 29 * 20 and set(fetched) == set(by_hand)
        assert max(abs(fetched[k] - by_hand[k]) for k in by_hand) < 1e-9
        # the census tables came in whole: every row stored or quarantined (totals, subtotals)
        for kind_rows in got.con.execute("SELECT rows_read, rows_accepted, rows_quarantined, message FROM "
                                         "ingests WHERE kind = 'census'").fetchall():
            assert kind_rows[0] == kind_rows[1] + kind_rows[2] and kind_rows[1] > 0
        variables = {r[0] for r in got.con.execute("SELECT DISTINCT variable FROM population").fetchall()}
        assert variables == {"ethnic_group", "english_proficiency", "country_of_birth"}
        places = dict(got.con.execute("SELECT category, count(*) FROM assets GROUP BY 1").fetchall())
        assert places.get("community_centre", 0) > 20 and places.get("place_of_worship", 0) > 0
        assert got.scalar("SELECT count(*) FROM unit_gaps") > 0
    hand.close()


def test_paging_the_cache_and_refresh(services, tmp_path):
    c = fetchmod.Client(tmp_path / "cache")
    got = fetchmod.fetch(["W06000015"], tmp_path / "out", what=["boundaries", "census"], client=c)
    assert not got.problems, got.problems
    oa_pages = [p for m, path, p in services.log if "Output_Areas_2021" in path]
    # 1,077 OAs asked for 400 codes at a time, 300 features a page: paged by resultOffset while
    # the service says exceededTransferLimit (400 + 400 + 277 -> 2 + 2 + 1 pages)
    assert sorted(int(p["resultOffset"]) for p in oa_pages) == [0, 0, 0, 300, 300]
    n_oas = len(json.loads((tmp_path / "out/boundaries/output_areas_2021.geojson").read_text())["features"])
    assert n_oas == 1077
    nomis = [p for m, path, p in services.log if path.endswith("NM_2041_1.data.csv")]
    assert [int(p["recordoffset"]) for p in nomis] == [0, 10_000, 20_000]  # 25,851 rows
    assert all(m == "POST" for m, path, _ in services.log if "FeatureServer" in path)  # long IN lists
    lines = (tmp_path / "out/census/ts021_ethnic_group_2021.csv").read_text().splitlines()
    assert lines[0].startswith('"DATE"') and len(lines) == 1 + 1077 * 20

    before = len(services.log)
    again = fetchmod.Client(tmp_path / "cache")
    fetchmod.fetch(["W06000015"], tmp_path / "out2", what=["boundaries", "census"], client=again)
    assert len(services.log) == before and again.requests == 0 and again.cached > 0  # all from the cache
    fresh = fetchmod.Client(tmp_path / "cache", refresh=True)
    fetchmod.fetch(["W06000015"], tmp_path / "out3", what=["census"], client=fresh)
    assert fresh.requests > 0 and len(services.log) > before


def test_429_with_retry_after_and_a_response_cut_short_are_retried(services, tmp_path):
    waits: list[float] = []
    services.faults["/api/v01/dataset/NM_2024_1.data.csv"] = {"kind": "429", "times": 2, "retry_after": 7}
    services.faults["/api/interpreter"] = {"kind": "cut", "times": 1}
    c = fetchmod.Client(tmp_path / "cache", sleep=waits.append)
    got = fetchmod.fetch(["Cardiff"], tmp_path / "out", what=["census", "osm"], client=c)
    assert not got.problems, got.problems
    assert waits[:2] == [7.0, 7.0]  # the service's Retry-After, not our own back-off
    assert len(waits) == 3  # and one back-off for the response cut short
    elements = json.loads((tmp_path / "out/assets/osm_places_W06000015.json").read_text())["elements"]
    assert len(elements) == 81
    assert services.agents == {fetchmod.USER_AGENT} and fetchmod.USER_AGENT.startswith("assetmap/")


def test_a_service_that_keeps_failing_is_reported_not_raised(services, tmp_path):
    services.faults["/api/interpreter"] = {"kind": "429", "times": 99, "retry_after": 0}
    c = fetchmod.Client(tmp_path / "cache", sleep=lambda s: None, retries=2)
    got = fetchmod.fetch(["Cardiff"], tmp_path / "out", what=["osm", "lookup"], client=c)
    assert got.unreachable == ["overpass"] and "lookup" in got.files
    assert "cannot reach the Overpass API" in got.problems[0] and "after 3 attempts" in got.problems[0]


def test_names_are_matched_against_the_authorities(services, tmp_path, capsys):
    c = fetchmod.Client(tmp_path / "cache")
    assert fetchmod.resolve(c, ["cardiff"]) == [("W06000015", "Cardiff")]
    assert fetchmod.resolve(c, ["Birm"]) == [("E08000025", "Birmingham")]
    with pytest.raises(fetchmod.FetchError) as exc:
        fetchmod.resolve(c, ["Ca"])
    assert "Cardiff (W06000015)" in str(exc.value) and "Caerphilly (W06000018)" in str(exc.value)
    assert main(["fetch", "--la", "Atlantis", "--into", str(tmp_path / "x")]) == 2
    assert "no local authority called 'Atlantis'" in capsys.readouterr().err


def test_offline_it_says_so_per_source_and_exits_3(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    monkeypatch.setattr(settings, "fetch_urls", {"ons": dead + "/arcgis", "nomis": dead + "/api/v01",
                                                 "overpass": dead + "/api/interpreter"})
    monkeypatch.setattr(settings, "home", tmp_path / "home")
    assert main(["fetch", "--la", "W06000015", "--into", str(tmp_path / "x")]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for service in ("the ONS Open Geography Portal", "the Nomis API", "the Overpass API"):
        assert err.count(f"cannot reach {service}") == 1, err
    assert "then `assetmap ingest DIR`" in err.replace("\n", " ")


def test_with_up_running_ingest_hands_the_files_to_the_pipeline(services, tmp_path, monkeypatch, capsys):
    import os

    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "worker.ready").write_text(str(os.getpid()))  # as `assetmap up`'s worker writes it
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setattr(settings, "inbox_dir", inbox)
    rc = main(["fetch", "--la", "W06000015", "--what", "lookup,osm", "--into", str(tmp_path / "x"), "--ingest",
               "--db", str(tmp_path / "unused.duckdb")])
    assert rc == 0
    assert sorted(p.name for p in inbox.iterdir()) == ["oa21_wd23_lad23_lookup.csv", "osm_places_W06000015.json"]
    assert "handed to the running pipeline" in capsys.readouterr().out
    assert not (tmp_path / "unused.duckdb").exists()  # the pipeline, not this command, writes the store


def test_fetch_the_walking_network_around_the_authority_and_walk_on_it(services, tmp_path, capsys):
    """`--what network`: the walkable ways in the wards' extent and 2 km around it, as OSM XML that
    the network reader takes; the access is then measured on foot."""
    db = tmp_path / "walk.duckdb"
    into = tmp_path / "cardiff"
    rc = main(["fetch", "--la", "W06000015", "--what", "lookup,boundaries,network", "--into", str(into),
               "--ingest", "--db", str(db)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (into / "network" / "osm_network_W06000015.osm").exists()
    query = next(p["data"] for _, path, p in services.log if path == "/api/interpreter")
    assert query.startswith("[out:xml]") and '"highway"~"^(' in query and "(._;>;);" in query
    south, w, north, e = map(float, query.split("[bbox:")[1].split("]")[0].split(","))
    wards = json.loads((into / "boundaries" / "wards_2023.geojson").read_text())["features"]
    lons = [c[0] for f in wards for ring in f["geometry"]["coordinates"] for c in
            (ring[0] if f["geometry"]["type"] == "MultiPolygon" else ring)]
    # 2 km beyond the wards on every side: about 0.029 degrees of longitude at Cardiff
    lats = [c[1] for f in wards for ring in f["geometry"]["coordinates"] for c in
            (ring[0] if f["geometry"]["type"] == "MultiPolygon" else ring)]
    assert 0.02 < min(lons) - w < 0.04 and 0.02 < e - max(lons) < 0.04
    assert 0.015 < min(lats) - south < 0.025 and 0.015 < north - max(lats) < 0.025  # 2 km is 0.018 degrees
    manifest = json.loads((into / "SOURCES.json").read_text())
    assert "network" in manifest["files"]
    with Store(db) as got:
        assert got.scalar("SELECT nodes FROM network_info") > 1000
        assert got.scalar("SELECT count(DISTINCT access_mode) FROM oa_access WHERE access_mode = 'network'") == 1


def test_fetch_a_timetable_from_the_bus_open_data_service_and_rate_every_area(services, tmp_path, capsys,
                                                                             monkeypatch):
    """`--gtfs URL`: the Bus Open Data Service's feed, with the API key it needs (never written
    down), cached, ingested beside the place: every output area gets its PTAL."""
    url = f"{services.urls['bods']}/timetable/download/gtfs-file/wales/"
    db, into = tmp_path / "bus.duckdb", tmp_path / "cardiff"
    # no key: named, with where to get one; nothing fetched
    monkeypatch.setattr(settings, "bods_api_key", "")
    assert main(["fetch", "--la", "W06000015", "--what", "gtfs", "--gtfs", url, "--into", str(into)]) == 2
    assert "ASSETMAP_BODS_API_KEY" in capsys.readouterr().err
    # a wrong key: the service's refusal, naming the setting
    monkeypatch.setattr(settings, "bods_api_key", "wrong")
    assert main(["fetch", "--la", "W06000015", "--gtfs", url, "--what", "gtfs", "--into", str(into)]) == 2
    err = " ".join(capsys.readouterr().err.split())  # the log's lines wrap
    assert "refused the API key (ASSETMAP_BODS_API_KEY)" in err and "wrong" not in err
    monkeypatch.setattr(settings, "bods_api_key", services.bods_key)
    rc = main(["fetch", "--la", "W06000015", "--what", "lookup,boundaries", "--gtfs", url, "--into", str(into),
               "--ingest", "--db", str(db)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (into / "timetables" / "wales_gtfs.zip").exists()
    # the key went to the service, and nowhere else
    assert [p.get("api_key") for _, path, p in services.log if path.startswith("/bods/")][-1] == services.bods_key
    written = (into / "SOURCES.json").read_text() + "".join(
        p.read_text() for p in (Path(settings.home) / "cache").rglob("*.meta.json"))
    assert services.bods_key not in written and "api_key=REDACTED" in written
    with Store(db) as got:
        assert got.scalar("SELECT count(*) FROM oa_ptal WHERE ptal_ai IS NOT NULL") == \
            got.scalar("SELECT count(*) FROM areas WHERE level = 'oa'") > 1000
    # asked again: from the cache
    before = len([1 for _, path, _ in services.log if path.startswith("/bods/")])
    assert main(["fetch", "--la", "W06000015", "--what", "gtfs", "--gtfs", url, "--into", str(into)]) == 0
    assert len([1 for _, path, _ in services.log if path.startswith("/bods/")]) == before


def test_fetch_a_timetable_from_a_path_and_refuse_what_is_not_one(services, tmp_path, capsys):
    feed = real_data("cardiff-network", "cardiff_gtfs_2018.zip")
    into = tmp_path / "by_path"
    assert main(["fetch", "--la", "W06000015", "--what", "gtfs", "--gtfs", str(feed), "--into", str(into)]) == 0
    assert (into / "timetables" / "cardiff_gtfs_2018_gtfs.zip").read_bytes() == feed.read_bytes()
    not_gtfs = tmp_path / "notes.zip"
    not_gtfs.write_bytes(b"PK\x03\x04 not really")
    assert main(["fetch", "--la", "W06000015", "--what", "gtfs", "--gtfs", str(not_gtfs), "--into", str(into)]) == 2
    assert "not a GTFS feed" in " ".join(capsys.readouterr().err.split())
    assert main(["fetch", "--la", "W06000015", "--what", "gtfs", "--into", str(into)]) == 2
    assert "--gtfs URL or PATH" in " ".join(capsys.readouterr().err.split())


def _asy_d11(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """An Asy_D11 data sheet as published, one quarter, for (code, name, region) rows."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Asy_D11: Asylum seekers in receipt of support, by local authority - dataset"] + [""] * 6)
        w.writerow(["Date (as at…)", "Support Type", "UK Region / Nation", "Local Authority", "LAD Code",
                    "Accommodation Type", "People"])
        for i, (code, name, region) in enumerate(rows):
            w.writerow(["30 Sep 2025", "Section 95", region, name, code, "Dispersal Accommodation", str(100 + i)])
        w.writerow(["End of table"] + [""] * 6)
    return path


def test_fetch_a_nation_loads_its_authorities_together_and_the_review_opens_on_it(shared, tmp_path, monkeypatch,
                                                                                   capsys):
    """`--region Wales`: every authority of the nation (here Cardiff's wards stand as two
    authorities), with one SOURCES.json and one file per source; their wards and OAs load
    together, and the dispersal review opens on Wales, not on the region with most figures."""
    from assetmap.queries import dispersal

    with FakeServices(shared, arcgis_page=300, nomis_page=10_000, layout="wales") as fs:
        monkeypatch.setattr(settings, "fetch_urls", fs.urls)
        monkeypatch.setattr(settings, "home", tmp_path / "home")
        monkeypatch.setattr(fetchmod.ons, "ARCGIS_PAGE", 300)
        monkeypatch.setattr(fetchmod.nomis, "NOMIS_PAGE", 10_000)
        db = tmp_path / "wales.duckdb"
        assert main(["fetch", "--region", "wales", "--ingest", "--db", str(db)]) == 0
        out = capsys.readouterr().out
        folder = tmp_path / "home" / "fetched" / "wales"  # named by the region, not a list of codes
        manifest = json.loads((folder / "SOURCES.json").read_text())
        assert manifest["region"] == "Wales" and "Wales, 2 authorities" in out
        assert manifest["local_authorities"] == [{"code": "W06000015", "name": "Cardiff"},
                                                 {"code": "W06000018", "name": "Caerphilly"}]
        assert sorted(manifest["files"]["osm"]) == ["assets/osm_places_W06000015.json",
                                                    "assets/osm_places_W06000018.json"]
        assert list(folder.rglob("SOURCES.json")) == [folder / "SOURCES.json"]
        # one census file per table holding both authorities' OAs, each once
        lines = (folder / "census" / "ts021_ethnic_group_2021.csv").read_text().splitlines()
        assert len(lines) == 1 + 1077 * 20
        nomis = {p["geography"] for _, path, p in fs.log if path.endswith("NM_2041_1.data.csv")}
        assert nomis == {"1946157397TYPE150", "1946157398TYPE150"}
        lookup = {r["OA21CD"]: r for r in fs.data.lookup if r["OA21CD"] != "E00999999"}
        # alerts for the region: its authorities, resolved as the fetch resolved them
        assert main(["subscribe", "--email", "lead@partnership.test", "--region", "wales", "--db", str(db)]) == 0
        assert main(["subscribe", "--email", "lead@partnership.test", "--region", "atlantis", "--db", str(db)]) == 2
        assert "atlantis" in capsys.readouterr().err
    with Store(db) as got:
        las = got.con.execute("SELECT parent_code, count(*) FROM area_lookup WHERE parent_level = 'la' "
                              "GROUP BY 1 ORDER BY 1").fetchall()
        in_first = sum(r["LAD23CD"] == "W06000015" for r in lookup.values())
        assert las == [("W06000015", in_first), ("W06000018", 1077 - in_first)] and 0 < in_first < 1077
        wards = {r[0] for r in got.con.execute("SELECT code FROM areas WHERE level = 'ward'").fetchall()}
        assert wards == {r["WD23CD"] for r in lookup.values()} and len(wards) == 29
        oas = dict(got.con.execute("SELECT code, parent_code FROM areas WHERE level = 'oa'").fetchall())
        assert oas == {oa: r["WD23CD"] for oa, r in lookup.items()}
        assert got.scalar("SELECT count(DISTINCT area_code) FROM population WHERE variable = 'ethnic_group'") == 1077
        assert got.scalar("SELECT count(*) FROM unit_gaps WHERE unit_level = 'ward'") > 0
        # more West Midlands authorities in the figures than Welsh ones: the review opens on Wales
        sheet = _asy_d11(tmp_path / "asy_d11.csv", [
            ("W06000015", "Cardiff", "Wales"), ("W06000018", "Caerphilly", "Wales"),
            ("E08000025", "Birmingham", "West Midlands"), ("E08000026", "Coventry", "West Midlands"),
            ("E08000027", "Dudley", "West Midlands")])
        assert ingest_paths(got, [sheet])[0].status == "completed"
        assert dispersal.home_region(got.con) == "Wales"
        [sub] = alerts.subscriptions(got.con, got.path)
        assert (sub["region"], sub["las"]) == ("Wales", ["W06000015", "W06000018"])
        assert alerts.scope_wards(got.con, sub) == sorted(wards)


def test_an_authority_created_in_2023_gets_its_census_through_the_districts_it_replaced(shared, tmp_path,
                                                                                        monkeypatch):
    """North Yorkshire (E06000065, April 2023) is not in Nomis's list of 2022 districts: its
    census comes from the districts it replaced (Harrogate, Selby here), found through the ONS
    OA-to-2022-district lookup and kept for its own OAs; asked for by its region's short name,
    with one progress step per authority and source."""
    with FakeServices(shared, arcgis_page=300, nomis_page=10_000, layout="north-yorkshire") as fs:
        monkeypatch.setattr(settings, "fetch_urls", fs.urls)
        monkeypatch.setattr(settings, "home", tmp_path / "home")
        monkeypatch.setattr(fetchmod.ons, "ARCGIS_PAGE", 300)
        monkeypatch.setattr(fetchmod.nomis, "NOMIS_PAGE", 10_000)
        steps: list[tuple[int, int, str]] = []
        got = fetchmod.fetch([], what=["lookup", "census", "osm"], region="yorkshire",
                             progress=lambda *step: steps.append(step))
        assert not got.problems, got.problems
        assert got.region == "Yorkshire and The Humber" and got.las == [("E06000065", "North Yorkshire")]
        assert [s[:2] for s in steps] == [(1, 3), (2, 3), (3, 3)]
        assert [s[2] for s in steps] == ["lookup", "census E06000065", "places E06000065"]
        asked = [p for _, path, p in fs.log if "OA21_LSOA21_MSOA21_LAD22_EW_LU" in path]
        assert asked and all(p["outFields"] == "LAD22CD" for p in asked)
        nomis = {p["geography"] for _, path, p in fs.log if path.endswith(".data.csv")}
        assert nomis == {"1946157101TYPE150", "1946157102TYPE150"}  # the two districts, nothing else
        oas_of = {r["OA21CD"] for r in fs.data.lookup if r["LAD23CD"] == "E06000065"}
    import csv
    from collections import Counter

    for table, per_oa in (("ts021_ethnic_group", 20), ("ts029_english_proficiency", 7),
                          ("ts004_country_of_birth", 12)):
        with (got.folder / "census" / f"{table}_2021.csv").open() as fh:
            counts = Counter(row["GEOGRAPHY_CODE"] for row in csv.DictReader(fh))
        assert set(counts) == oas_of and set(counts.values()) == {per_oa}, table  # every OA, each once
    store = Store(tmp_path / "ny.duckdb")
    results = ingest_paths(store, [got.folder])
    assert all(r.status == "completed" for r in results), [r.message for r in results]
    assert store.scalar("SELECT count(DISTINCT area_code) FROM population") == len(oas_of) == 1077
    store.close()


def test_regions_are_named_as_ons_names_them(services, tmp_path, capsys):
    c = fetchmod.Client(tmp_path / "cache")
    assert fetchmod.resolve_region(c, "west  MIDLANDS") == ("West Midlands", [("E08000025", "Birmingham")])
    assert fetchmod.resolve_region(c, "Wales")[1] == [("W06000015", "Cardiff"), ("W06000018", "Caerphilly")]
    assert main(["fetch", "--region", "Scotland", "--into", str(tmp_path / "x")]) == 2
    assert "England and Wales" in " ".join(capsys.readouterr().err.split())
    assert main(["fetch", "--region", "Atlantis", "--into", str(tmp_path / "x")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no region or nation called 'Atlantis'" in err and "West Midlands" in err and "Wales" in err
    assert main(["fetch", "--into", str(tmp_path / "x")]) == 2
    assert "--region NAME" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_directorys_open_referral_api_is_walked_page_by_page_and_every_service_accounted_for(
        services, tmp_path, capsys, monkeypatch):
    """A council's directory as Open Referral UK 3.0 (the standard's own example service, thirty
    times over, placed in Cardiff): its list walked to the last page, each service fetched whole,
    a service listed but gone named, and every service either stored or quarantined with a reason."""
    services.directory_gone = {services.directory[-3]["id"]}
    monkeypatch.setenv("COLUMNS", "400")  # the log's line unwrapped, an id whole
    db, into = tmp_path / "directory.duckdb", tmp_path / "cardiff"
    rc = main(["fetch", "--la", "Cardiff", "--what", "boundaries,lookup", "--url", services.directory_url,
               "--into", str(into), "--ingest", "--db", str(db)])
    captured = capsys.readouterr()
    out = captured.out
    # the one service that could not be had is named, and the fetch says it is not whole (exit 2);
    # the rest is written and loaded
    assert rc == 2, out
    (gone,) = [line for line in captured.err.splitlines() if "could not be had" in line]
    assert "1 services of" in gone and services.directory[-3]["id"] in gone and "HTTP 404" in gone
    assert "completed openreferral_" in out.replace("  ", " ")
    pages = [int(p["page"]) for m, path, p in services.log if path == "/directory/api/v3/services"]
    assert pages == [1, 2, 3]  # 30 services, 10 a page: the API's cap, not the 100 asked for
    whole = [path for m, path, p in services.log if path.startswith("/directory/api/v3/services/")]
    assert len(whole) == len(set(whole)) == 30
    (written,) = (into / "assets").glob("openreferral_*.json")
    assert len(json.loads(written.read_text())["contents"]) == 29
    manifest = json.loads((into / "SOURCES.json").read_text())
    assert any(r["url"].startswith(services.directory_url) for r in manifest["requests"])
    with Store(db, read_only=True) as got:
        read, accepted, quarantined = got.con.execute(
            "SELECT rows_read, rows_accepted, rows_quarantined FROM ingests WHERE kind = 'openreferral'").fetchone()
        reasons = dict(got.con.execute(
            "SELECT reason_code, count(*) FROM quarantine q JOIN ingests i USING (ingest_id) "
            "WHERE i.kind = 'openreferral' GROUP BY 1").fetchall())
        places = dict(got.con.execute("SELECT category, count(*) FROM assets GROUP BY 1").fetchall())
        in_wards = got.scalar("SELECT count(*) FROM assets WHERE ward_code LIKE 'W05%'")
    # 29 had: 3 counselling services (no category of ours) and the 3 left at the example's
    # placeholder coordinates (latitude 100, longitude 101) quarantined; the church gone is not here
    assert (read, accepted, quarantined) == (29, 23, 6)
    assert reasons == {"unknown_category": 3, "coordinates_out_of_range": 3}
    assert places == {"esol_provider": 9, "community_centre": 6, "place_of_worship": 5, "refugee_support": 3}
    assert in_wards == 23

    # again, the directory alone (no authority named), with the church back: everything else comes
    # from the cache, and only what was not had before is asked for
    services.directory_gone = set()
    before = len(services.log)
    assert main(["fetch", "--url", services.directory_url, "--into", str(tmp_path / "again")]) == 0
    assert [path for _, path, _ in services.log[before:]] == [
        f"/directory/api/v3/services/{services.directory[-3]['id']}"]
    (again,) = (tmp_path / "again" / "assets").glob("openreferral_*.json")
    assert len(json.loads(again.read_text())["contents"]) == 30


def test_a_directory_fetch_that_cannot_work_says_why(services, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    for argv, said in [
        (["--what", "openreferral"], "--what openreferral needs the directory's API: --url BASE"),
        (["--url", "ftp://directory.example/api"], "give the Open Referral UK API's http(s) address"),
        # an address that answers, but not as a 3.0 API does (the stand-in's other services 404)
        (["--url", f"{services.base}/bods"], "HTTP 404"),
    ]:
        assert main(["fetch", *argv, "--into", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, err
    assert not (tmp_path / "x" / "assets").exists()
