"""Open Referral UK 3.0 read as UK directories publish it (issue 32, item 1): the standard's own
examples and the responses the official validator's tests use, from ../shared."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from assetmap.ingest import ingest_file
from tests.conftest import digest, real_data

pytestmark = pytest.mark.realdata


def _uuid(name: str) -> str:
    """An id as 3.0 requires one (a UUID), made from a name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _example(name: str) -> dict:
    return json.loads(real_data("openreferral-uk", "uk-profile", "examples", name).read_text())


def _inside(store) -> tuple[float, float]:
    """A point inside the demo city (the examples' own are latitude 100, longitude 101)."""
    return store.con.execute(
        "SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_Transform(ST_Centroid(geom), 'EPSG:27700', 'EPSG:4326', "
        "always_xy := true) p FROM areas WHERE level = 'ward' ORDER BY code LIMIT 1)").fetchone()


def test_a_full_service_is_placed_at_its_location_and_its_taxonomy_term_sets_the_category(tmp_path, city_store):
    doc = _example("service_full.json")
    lat, lon = _inside(city_store)
    loc = doc["service_at_locations"][0]["location"]
    loc["latitude"], loc["longitude"] = lat, lon
    doc["attributes"][0]["taxonomy_term"].update(name="English for Speakers of Other Languages", term="esol")
    doc["languages"] = [{"id": _uuid("l1"), "name": "Arabic", "code": "ar"},
                        {"id": _uuid("l2"), "name": "Somali", "code": "so"}]
    path = tmp_path / "service.json"
    path.write_text(json.dumps(doc))
    r = ingest_file(city_store, path)
    assert (r.kind, r.rows_read, r.rows_accepted) == ("openreferral", 1, 1), r.message
    name, category, address, attrs = city_store.con.execute(
        "SELECT name, category, address, attrs FROM assets").fetchone()
    assert (name, category) == (doc["name"], "esol_provider")
    assert address.startswith("1-30 Main Street, MyCity")  # the address as 3.0 gives it
    attrs = json.loads(attrs)
    assert attrs["cost"] == "fee"  # 35 a session
    assert attrs["languages"] == ["Arabic", "Somali"]
    assert attrs["opening_hours"] == doc["schedules"][0]["description"]  # 3.0's schedule, in words


def test_a_page_of_services_at_locations_gives_a_row_each(tmp_path, city_store):
    page = _example("service_at_location_list.json")
    lat, lon = _inside(city_store)
    item = page["contents"][0]
    second = copy.deepcopy(item)
    second["id"], second["location"]["id"] = _uuid("sal-2"), _uuid("loc-2")
    page["contents"].append(second)
    for n, it in enumerate(page["contents"]):
        it["location"]["latitude"], it["location"]["longitude"] = lat + n * 0.001, lon
        it["service"]["name"] = "Welcome community centre drop-in"
    path = tmp_path / "service_at_locations.json"
    path.write_text(json.dumps(page))
    r = ingest_file(city_store, path)
    assert (r.kind, r.rows_read, r.rows_accepted) == ("openreferral", 2, 2), r.message
    assert city_store.con.execute("SELECT DISTINCT category FROM assets").fetchall() == [("community_centre",)]
    assert city_store.scalar("SELECT count(DISTINCT source_record_id) FROM assets") == 2


def test_the_validators_service_list_is_read_and_every_service_without_a_place_quarantined(city_store):
    path = real_data("openreferral-uk", "validator-mocks", "V3.0-UK-Test", "service_list_data.json")
    n = len(json.loads(path.read_text())["contents"])
    before = digest(city_store, ("assets",))
    r = ingest_file(city_store, path, category="community_centre")
    assert r.status == "completed" and r.kind == "openreferral"
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (n, 0, n)  # a list page holds no locations
    reasons = city_store.con.execute("SELECT DISTINCT reason_code FROM quarantine").fetchall()
    assert reasons and all(reason for (reason,) in reasons)
    assert digest(city_store, ("assets",)) == before
    assert ingest_file(city_store, path, category="community_centre").status == "unchanged"


@pytest.mark.parametrize("name", ["organization_list.json", "taxonomy_list.json", "taxonomy_term.json"])
def test_organisations_and_taxonomies_alone_are_read_with_nothing_to_place_saying_so(city_store, name):
    """A valid response that holds no service is not refused: read, recognised without --kind,
    with nothing to load and the store's data as it was."""
    path = real_data("openreferral-uk", "uk-profile", "examples", name)
    before = digest(city_store)
    r = ingest_file(city_store, path)
    assert (r.status, r.kind, r.rows_read) == ("completed", "openreferral", 0), r.message
    assert "no service and no place in it: nothing to load" in r.message
    assert digest(city_store) == before


def test_an_organisation_with_its_services_reads_them(tmp_path, city_store):
    doc = _example("organization_full.json")
    lat, lon = _inside(city_store)
    for s in doc["services"]:
        s["name"] = "Refugee and asylum seeker advice"
        for sal in s.get("service_at_locations") or []:
            sal["location"]["latitude"], sal["location"]["longitude"] = lat, lon
    path = tmp_path / "organisation.json"
    path.write_text(json.dumps(doc))
    r = ingest_file(city_store, path)
    assert r.kind == "openreferral" and r.rows_accepted == r.rows_read >= 1, r.message
    assert city_store.con.execute("SELECT DISTINCT category FROM assets").fetchall() == [("refugee_support",)]


def test_a_directorys_own_terms_place_its_services_and_settings_extend_them(tmp_path, city_store, monkeypatch):
    """Terms a council's directory uses name a category outright (``Asylum seekers``); a term of
    its own (``Language cafe``) is quarantined until the settings map it; a term mapped to a
    category that does not exist places nothing."""
    from assetmap.settings import settings

    lat, lon = _inside(city_store)

    def directory(path, terms: list[str], page: int = 1) -> None:
        services = []
        for n, term in enumerate(terms):
            s = _example("service_full.json")
            s["id"], s["name"], s["description"] = _uuid(f"svc-{n}"), f"Service {n}", "Open to all."
            s["service_at_locations"][0]["location"].update(id=_uuid(f"loc-{n}"), latitude=lat + n * 0.001,
                                                            longitude=lon)
            s["attributes"] = [{"id": _uuid(f"a{n}"), "taxonomy_term": {"id": _uuid(f"t{n}"), "name": term,
                                                                        "description": ""}}]
            services.append(s)
        path.write_text(json.dumps({"total_items": len(services), "page_number": page, "contents": services}))

    terms = ["Asylum seekers", "Places of worship", "Language cafe", "Counselling"]
    directory(tmp_path / "a.json", terms)
    r = ingest_file(city_store, tmp_path / "a.json")
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (4, 2, 2), r.message
    assert sorted(c for (c,) in city_store.con.execute("SELECT category FROM assets").fetchall()) == [
        "place_of_worship", "refugee_support"]
    monkeypatch.setattr(settings, "openreferral_terms", {**settings.openreferral_terms,
                                                         "language cafe": "esol_provider",
                                                         "counselling": "not_a_category"})
    (tmp_path / "again").mkdir()
    directory(tmp_path / "again" / "a.json", terms, page=2)  # the same directory's services, read again
    r = ingest_file(city_store, tmp_path / "again" / "a.json")
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (4, 3, 1), r.message
    assert city_store.scalar("SELECT category FROM assets WHERE name = 'Service 2'") == "esol_provider"


def test_terms_are_extended_from_the_environment(monkeypatch):
    from assetmap.settings import Settings

    monkeypatch.setenv("ASSETMAP_OPENREFERRAL_TERMS", "Language Cafe=esol_provider; Sanctuary = refugee_support;junk")
    got = Settings().openreferral_terms
    assert got["language cafe"] == "esol_provider" and got["sanctuary"] == "refugee_support"
    assert got["asylum seekers"] == "refugee_support" and "junk" not in got


def _mock(kind: str, name: str) -> Path:
    return real_data("openreferral-uk", "validator-mocks", kind, name)


@pytest.mark.parametrize("name", ["service_full.json", "service_list.json"])
def test_the_validators_failing_services_are_quarantined_with_the_schemas_reasons(tmp_path, city_store, name):
    """The official validator's own V3.0-UK-Fail responses: each service quarantined, the reason
    the schema gives (a url that is not one, an email that is not one, a name missing), with
    --category given so that nothing else could hold them back; its V3.0-UK-Test twins pass."""
    r = ingest_file(city_store, _mock("V3.0-UK-Fail", name), category="community_centre")
    reasons = city_store.con.execute("SELECT reason_code, message FROM quarantine WHERE ingest_id = ?",
                                     [r.ingest_id]).fetchall()
    assert r.rows_read == r.rows_quarantined == len(reasons) >= 1 and r.rows_accepted == 0, r
    assert {code for code, _ in reasons} == {"schema_violation"}
    assert all("breaks Open Referral UK 3.0's service schema" in m for _, m in reasons)
    said = " ".join(m for _, m in reasons)
    assert "is not a 'uri'" in said and "is not a 'email'" in said
    if name == "service_list.json":
        assert "'name' is a required property" in said

    passing = tmp_path / name
    passing.write_bytes(_mock("V3.0-UK-Test", name).read_bytes())
    r = ingest_file(city_store, passing, category="community_centre")
    codes = {c for (c,) in city_store.con.execute("SELECT reason_code FROM quarantine WHERE ingest_id = ?",
                                                  [r.ingest_id]).fetchall()}
    assert "schema_violation" not in codes and r.rows_read == r.rows_accepted + r.rows_quarantined


def test_every_test_response_of_the_validator_is_read_with_every_row_accounted_for(city_store):
    """V3.0-UK-Test: every response is read (none refused), each row stored or quarantined for a
    reason of the row's own (the examples' placeholder position, latitude 100, is not on Earth; a
    list page's services carry no location); what holds no service (taxonomies, organisations
    alone, the API's details) is read with nothing to place, saying so."""
    folder = real_data("openreferral-uk", "validator-mocks", "V3.0-UK-Test")
    for path in sorted(folder.glob("*.json")):
        r = ingest_file(city_store, path, category="esol_provider")
        assert r.status == "completed" and r.kind == "openreferral", (path.name, r.message)
        assert r.rows_read == r.rows_accepted + r.rows_quarantined, path.name
        if r.rows_read == 0:
            assert path.stem.startswith(("taxonomy", "api_details", "organization_list")), path.name
            assert "no service and no place in it: nothing to load" in r.message
            continue
        codes = {c for (c,) in city_store.con.execute("SELECT reason_code FROM quarantine WHERE ingest_id = ?",
                                                      [r.ingest_id]).fetchall()}
        assert codes <= {"coordinates_out_of_range", "missing_coordinates", "duplicate_source_id"}, (path.name, codes)


@pytest.mark.parametrize(("name", "said"), [
    ("api_details.json", "openapi_url: 'docs-openreferraluk-org/en/latest/openapi30.json' is not a 'uri'"),
    ("taxonomy_term.json", "'description' is a required property"),
])
def test_the_validators_failing_responses_that_hold_no_service_are_refused_with_the_schemas_reasons(
        city_store, name, said):
    r = ingest_file(city_store, _mock("V3.0-UK-Fail", name))
    assert r.status == "refused" and r.reason_code == "schema_violation" and said in r.message, r.message
    assert ingest_file(city_store, _mock("V3.0-UK-Test", name)).status == "completed"


def test_the_examples_placeholder_position_is_placed_by_its_postcode_where_a_lookup_knows_it(tmp_path, city_store):
    """The standard's example sits at latitude 100, longitude 101: with a postcode a loaded lookup
    knows, the site is placed there; with the example's own ("ABC 1234"), it is quarantined,
    saying both."""
    known = city_store.con.execute("SELECT postcode, ST_X(geom), ST_Y(geom) FROM postcodes LIMIT 1").fetchone()
    assert known, "the demo city loads its postcode lookup"
    for n, postcode in enumerate([known[0], None]):
        doc = _example("service_full.json")
        doc["id"], doc["name"] = _uuid(f"placeholder-{n}"), f"Welcome community centre {n}"
        loc = doc["service_at_locations"][0]["location"]
        assert (loc["latitude"], loc["longitude"]) == (100, 101)
        if postcode:
            loc["addresses"][0]["postal_code"] = postcode
        path = tmp_path / f"placeholder-{n}.json"
        path.write_text(json.dumps(doc))
        r = ingest_file(city_store, path)
        if postcode:
            assert r.rows_accepted == 1, r.message
            x, y = city_store.con.execute("SELECT ST_X(geom), ST_Y(geom) FROM assets WHERE name = ?",
                                          [doc["name"]]).fetchone()
            assert (round(x), round(y)) == (round(known[1]), round(known[2]))
        else:
            (code, message), = city_store.con.execute(
                "SELECT reason_code, message FROM quarantine WHERE ingest_id = ?", [r.ingest_id]).fetchall()
            assert code == "coordinates_out_of_range" and "placeholder" in message
            assert "'ABC 1234' is not a UK postcode" in message


def test_opening_hours_come_from_the_nearest_schedule_in_words():
    from assetmap.sources.openreferral import _hours

    timed = {"schedules": [{"byday": "TH,FR", "opens_at": "10:00:00", "closes_at": "18:00:00"},
                           {"byday": "SA", "opens_at": "09:30:00"}]}
    said = {"schedules": [{"description": "Tuesdays in term time"}]}
    assert _hours({}, timed, said) == "TH,FR 10:00-18:00; SA 09:30"  # the location's before the service's
    assert _hours({"schedules": []}, {}, said) == "Tuesdays in term time"
    assert _hours({}, {"schedules": ["junk", {}]}) is None
