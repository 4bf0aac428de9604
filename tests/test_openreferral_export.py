"""Open Referral UK out: what the store holds, written as Open Referral UK 3.0 (a page of the API's
service list) or the 2019 v1 package, each meeting the standard's own JSON Schemas with their
formats checked, and read back into an empty store as the same sites."""

from __future__ import annotations

import copy
import json
import re

import pytest

from assetmap import openreferral
from assetmap.cli import main
from assetmap.ingest import ingest_file

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SITES = """SELECT category, coalesce(subtype, '') AS subtype, name, coalesce(address, '') AS address,
                   coalesce(postcode, '') AS postcode, attrs::VARCHAR AS attrs, sensitive,
                   coalesce(source_record_id, '') AS rid, ST_X(geom) AS x, ST_Y(geom) AS y
            FROM assets ORDER BY category, name, x"""


def test_the_3_0_export_meets_the_standards_own_schemas_and_formats(full_store):
    doc = openreferral.document(full_store, partner=True)
    assert openreferral.problems(doc) == []
    n = full_store.scalar("SELECT count(*) FROM assets")
    assert doc["total_items"] == doc["size"] == len(doc["contents"]) == n and doc["last_page"] and not doc["empty"]
    sources = {s for (s,) in full_store.con.execute("SELECT DISTINCT source FROM assets").fetchall()}
    assert {s["organization"]["name"] for s in doc["contents"]} == sources
    for s in doc["contents"]:
        assert s["organization_id"] == s["organization"]["id"] and UUID.match(s["id"])
        (sal,) = s["service_at_locations"]
        assert sal["service_id"] == s["id"] and sal["location_id"] == sal["location"]["id"]
        assert sal["location"]["location_type"] == "physical"
        (term,) = [a["taxonomy_term"] for a in s["attributes"]]
        assert term["taxonomy"] == "assetmap" and term["id"] == _term_id(doc, term["term"])
    addressed = [sal["location"]["addresses"][0] for s in doc["contents"] for sal in s["service_at_locations"]
                 if sal["location"].get("addresses")]
    # the demo's wards lie in one synthetic authority: its name is every address's city
    la = full_store.scalar("SELECT name FROM areas WHERE level = 'la'")
    assert addressed and {a["city"] for a in addressed} == {la}
    assert all(c["amount"] == 0 and c["currency"] == "GBP" for s in doc["contents"] for c in s.get("cost_options", [])
               if c["option"] == "Free")
    assert not [c for s in doc["contents"] for c in s.get("cost_options", []) if c.get("amount", 0) is None]
    hours = {s["id"]: s["assetmap"]["attrs"].get("opening_hours") for s in doc["contents"]}
    assert any(hours.values())  # opening hours go out as a 3.0 schedule, in words
    assert all([sch["description"] for sch in s.get("schedules", [])] == ([hours[s["id"]]] if hours[s["id"]] else [])
               for s in doc["contents"])
    # the check can fail, formats included: each break is named where it is
    broken = copy.deepcopy(doc)
    broken["contents"][0]["id"] = "not-a-uuid"
    broken["contents"][1]["url"] = "http://a place.example/with spaces"
    broken["contents"][2]["organization"]["email"] = "nobody"
    del broken["contents"][3]["service_at_locations"][0]["location"]["location_type"]
    broken["total_items"] = "586"
    found = openreferral.problems(broken, limit=20)
    assert len(found) == 5, found
    assert found[0].startswith("page/total_items") and "contents[0]/id: 'not-a-uuid' is not a 'uuid'" in found[1]
    assert "contents[1]/url" in found[2] and "is not a 'uri'" in found[2]
    assert "contents[2]/organization/email" in found[3] and "is not a 'email'" in found[3]
    assert "contents[3]/service_at_locations/0/location: 'location_type' is a required property" in found[4]
    with pytest.raises(openreferral.InvalidExport, match="does not meet the schema"):
        openreferral.validate(broken)


def _term_id(doc: dict, term: str) -> str:
    """The one id the export gives a category's term, wherever it appears."""
    (got,) = {a["taxonomy_term_id"] for s in doc["contents"] for a in s["attributes"]
              if a["taxonomy_term"]["term"] == term}
    return got


def test_the_v1_export_meets_open_referral_uks_v1_schemas(full_store):
    doc = openreferral.document(full_store, partner=True, version="1")
    assert openreferral.problems(doc) == []
    # what the validator's later v1 schemas ask beyond the ones kept here: every physical address
    # with its city and state or province, and no cost option with a null amount
    addresses = [a for loc in doc["locations"] for a in loc.get("physical_addresses", [])]
    assert addresses and all(a["city"] and a["state_province"] == "England" for a in addresses)
    assert not [c for s in doc["services"] for c in s.get("cost_options", []) if "amount" in c and c["amount"] is None]
    n = full_store.scalar("SELECT count(*) FROM assets")
    assert len(doc["services"]) == len(doc["locations"]) == len(doc["service_at_locations"]) == n
    assert {o["name"] for o in doc["organizations"]} == {
        s for (s,) in full_store.con.execute("SELECT DISTINCT source FROM assets").fetchall()}
    assert all(UUID.match(o["id"]) for o in doc["organizations"])
    links = {(link["service_id"], link["location_id"]) for link in doc["service_at_locations"]}
    assert {(s["id"], s["service_at_locations"][0]["location"]["id"]) for s in doc["services"]} == links
    # the check can fail: what Open Referral UK requires, taken away, is named
    broken = copy.deepcopy(doc)
    broken["services"][0]["organization"]["id"] = "not-a-uuid"
    del broken["services"][1]["name"]
    broken["locations"][2]["latitude"] = "52.1"
    found = openreferral.problems(broken)
    assert len(found) == 3 and "services[0]/organization/id" in found[0] and "'name' is a required property" in \
        found[1] and "locations[2]/latitude" in found[2]
    with pytest.raises(openreferral.InvalidExport, match="does not meet the schema"):
        openreferral.validate(broken)


@pytest.mark.parametrize("version", ["3.0", "1"])
def test_exporting_and_ingesting_into_an_empty_store_gives_the_same_sites(full_store, city_store, tmp_path,
                                                                           version):
    path = tmp_path / "directory.json"
    full_store.close()
    assert main(["export", "--db", str(full_store.path), "--layer", "assets", "--format", "openreferral",
                 "--partner", "--oruk-version", version, "--out", str(path)]) == 0
    assert ("contents" in json.loads(path.read_text(encoding="utf-8"))) is (version == "3.0")
    assert city_store.scalar("SELECT count(*) FROM assets") == 0
    r = ingest_file(city_store, path)
    assert r.status == "completed" and r.kind == "openreferral", r.message
    assert r.rows_quarantined == 0 and r.rows_accepted == r.rows_read
    from assetmap.db.store import Store

    with Store(full_store.path, read_only=True) as before:
        want = before.con.execute(_SITES).fetchall()
    got = city_store.con.execute(_SITES).fetchall()
    assert len(got) == len(want) > 500
    for a, b in zip(want, got, strict=True):
        assert a[:8] == b[:8]
        assert abs(a[8] - b[8]) < 0.05 and abs(a[9] - b[9]) < 0.05  # 7 decimals of a degree: a centimetre


@pytest.mark.parametrize("version", ["3.0", "1"])
def test_a_public_export_holds_no_sensitive_site(full_store, tmp_path, capsys, version):
    path = tmp_path / "public.json"
    full_store.close()
    assert main(["export", "--db", str(full_store.path), "--layer", "assets", "--format", "openreferral",
                 "--oruk-version", version, "--out", str(path)]) == 0
    doc = json.loads(path.read_text(encoding="utf-8"))
    services = openreferral.services_in(doc)
    from assetmap.db.store import Store

    with Store(full_store.path, read_only=True) as store:
        hidden = [n for (n,) in store.con.execute("SELECT name FROM assets WHERE sensitive").fetchall()]
        public = store.scalar("SELECT count(*) FROM assets WHERE NOT sensitive")
    assert len(services) == public and hidden
    text = path.read_text(encoding="utf-8")
    assert not [n for n in hidden if f'"{n}"' in text]
    assert not any(s["assetmap"]["sensitive"] for s in services)
    assert main(["export", "--db", str(full_store.path), "--layer", "wards", "--format", "openreferral"]) == 2
    assert "for --layer assets" in capsys.readouterr().err
