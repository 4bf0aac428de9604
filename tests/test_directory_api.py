"""The published sites as an Open Referral UK 3.0 API beside the dashboard (dashboards/directory.py):
every answer in the standard's shapes, checked against its own schemas; paged as its OpenAPI
says; nothing sensitive; and a directory importer (assetmap's own `fetch --url`) takes it whole."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from assetmap import fetch as fetchmod
from assetmap import openreferral
from assetmap.db.store import connect
from assetmap.ingest import ingest_file
from assetmap.snapshots import PARTNER, PUBLIC, latest_path
from dashboards import directory

API = directory.ROUTE


@pytest.fixture
def client(dashboard_home):
    directory._document.cache_clear()
    with TestClient(Starlette(routes=directory.routes())) as c:
        yield c


def _public(dashboard_home) -> dict[str, str]:
    """The public snapshot's sites: asset id -> name."""
    con = connect(latest_path(dashboard_home / "assetmap.duckdb", PUBLIC), read_only=True)
    try:
        return dict(con.execute("SELECT asset_id, name FROM assets").fetchall())
    finally:
        con.close()


def _all(client: TestClient, what: str, per_page: int) -> list[dict]:
    got, number = [], 1
    while True:
        r = client.get(f"{API}/{what}", params={"page": number, "per_page": per_page})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        body = r.json()
        assert openreferral._validators()["page3"].is_valid(body) and body["page_number"] == number
        assert body["size"] == len(body["contents"]) <= per_page and body["first_page"] is (number == 1)
        got += body["contents"]
        if body["last_page"]:
            assert number == body["total_pages"] and len(got) == body["total_items"]
            return got
        number += 1


def test_every_service_is_served_paged_and_whole_and_meets_the_standard(client, dashboard_home):
    public = _public(dashboard_home)
    assert client.get(API).json()["version"] == "HSDS-UK-3.0"
    listed = _all(client, "services", per_page=40)
    assert len(listed) == len({s["id"] for s in listed}) == len(public) > 40
    assert all("service_at_locations" not in s for s in listed)  # a list page gives services without them
    check = openreferral._validators()["service3"]
    names = set()
    for s in listed:
        whole = client.get(f"{API}/services/{s['id']}").json()
        assert not list(check.iter_errors(whole)), whole["id"]
        assert whole["id"] == s["id"] and whole["assetmap"]["asset_id"] in public
        names.add(whole["name"])
    assert names == set(public.values())

    sals = _all(client, "service_at_locations", per_page=100)
    assert len(sals) == len(public) and {x["service"]["id"] for x in sals} == {s["id"] for s in listed}
    one = client.get(f"{API}/service_at_locations/{sals[0]['id']}").json()
    assert one == sals[0] and one["location"]["location_type"] == "physical"

    orgs = _all(client, "organizations", per_page=2)
    org = client.get(f"{API}/organizations/{orgs[0]['id']}").json()
    assert org["services"] and all(s["organization_id"] == org["id"] for s in org["services"])
    assert sum(len(client.get(f"{API}/organizations/{o['id']}").json()["services"]) for o in orgs) == len(public)
    terms = _all(client, "taxonomy_terms", per_page=10)
    assert {t["term"] for t in terms} <= {"esol_provider", "community_centre", "place_of_worship",
                                          "refugee_support"} and len(terms) >= 3


def test_the_api_serves_nothing_sensitive(client, dashboard_home):
    con = connect(latest_path(dashboard_home / "assetmap.duckdb", PARTNER), read_only=True)
    hidden = [n for (n,) in con.execute("SELECT name FROM assets WHERE sensitive").fetchall()]
    con.close()
    assert hidden
    text = json.dumps(_all(client, "services", per_page=500)) + json.dumps(
        _all(client, "service_at_locations", per_page=500))
    assert not [n for n in hidden if json.dumps(n) in text]


def test_a_request_the_api_cannot_answer_says_why(client, tmp_path, monkeypatch):
    for url, status, said in [(f"{API}/services?per_page=0", 400, "per_page must be from 1 to 500"),
                              (f"{API}/services?page=two", 400, "page must be a whole number"),
                              (f"{API}/services/no-such-id", 404, "no service 'no-such-id'"),
                              (f"{API}/parcels", 404, "no such resource"),
                              (f"{API}/services/a/b", 404, "no such resource")]:
        r = client.get(url)
        assert (r.status_code, r.json()["error"][:len(said)]) == (status, said), url
    from assetmap.settings import settings

    monkeypatch.setattr(settings, "db_path", tmp_path / "empty" / "assetmap.duckdb")
    r = client.get(f"{API}/services")
    assert r.status_code == 503 and "nothing is published yet" in r.json()["error"]


def test_assetmaps_own_fetch_takes_the_directory_whole(dashboard_home, tmp_path, city_store):
    """The API served by a real HTTP server, walked by `fetch --url` as another council's
    assetmap would, and read into an empty store: the same public sites."""
    import uvicorn

    directory._document.cache_clear()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=directory.routes()), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        got = fetchmod.fetch([], tmp_path / "pulled", what=["openreferral"], url=f"http://127.0.0.1:{port}{API}",
                             client=fetchmod.Client(tmp_path / "cache"))
    finally:
        server.should_exit = True
        thread.join(10)
    assert not got.problems, got.problems
    (path,) = got.files["openreferral"]
    r = ingest_file(city_store, path)
    assert r.status == "completed" and r.rows_quarantined == 0, r.message
    public = _public(dashboard_home)
    assert sorted(n for (n,) in city_store.con.execute("SELECT name FROM assets").fetchall()) == sorted(
        public.values())
