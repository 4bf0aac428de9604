"""Open Referral UK out: what the store holds, written as a package that meets Open Referral UK's
JSON Schemas, and read back into an empty store as the same sites."""

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


def test_the_export_meets_the_open_referral_uk_schemas(full_store):
    doc = openreferral.document(full_store, partner=True)
    assert openreferral.problems(doc) == []
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


def test_exporting_and_ingesting_into_an_empty_store_gives_the_same_sites(full_store, city_store, tmp_path):
    path = tmp_path / "directory.json"
    full_store.close()
    assert main(["export", "--db", str(full_store.path), "--layer", "assets", "--format", "openreferral",
                 "--partner", "--out", str(path)]) == 0
    assert city_store.scalar("SELECT count(*) FROM assets") == 0
    r = ingest_file(city_store, path)
    assert r.status == "completed" and r.kind == "openreferral", r.message
    assert r.rows_quarantined == 0 and r.rows_accepted == r.rows_read
    from assetmap.store import Store

    with Store(full_store.path, read_only=True) as before:
        want = before.con.execute(_SITES).fetchall()
    got = city_store.con.execute(_SITES).fetchall()
    assert len(got) == len(want) > 500
    for a, b in zip(want, got, strict=True):
        assert a[:8] == b[:8]
        assert abs(a[8] - b[8]) < 0.05 and abs(a[9] - b[9]) < 0.05  # 7 decimals of a degree: a centimetre


def test_a_public_export_holds_no_sensitive_site(full_store, tmp_path, capsys):
    path = tmp_path / "public.json"
    full_store.close()
    assert main(["export", "--db", str(full_store.path), "--layer", "assets", "--format", "openreferral",
                 "--out", str(path)]) == 0
    doc = json.loads(path.read_text(encoding="utf-8"))
    from assetmap.store import Store

    with Store(full_store.path, read_only=True) as store:
        hidden = [n for (n,) in store.con.execute("SELECT name FROM assets WHERE sensitive").fetchall()]
        public = store.scalar("SELECT count(*) FROM assets WHERE NOT sensitive")
    assert len(doc["services"]) == public and hidden
    text = path.read_text(encoding="utf-8")
    assert not [n for n in hidden if f'"{n}"' in text]
    assert not any(s["assetmap"]["sensitive"] for s in doc["services"])
    assert main(["export", "--db", str(full_store.path), "--layer", "wards", "--format", "openreferral"]) == 2
    assert "for --layer assets" in capsys.readouterr().err
