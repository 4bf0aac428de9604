"""Bad input gets a clear reason and loses nothing.

Each case writes one messy file, ingests it into a store holding the demo city's boundaries,
and checks three things: the reason code, that every row read is stored or quarantined, and
(for a refused file) that the data tables are exactly as they were.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import digest

HEADER = ["id", "name", "category", "subtype", "address", "postcode", "lat", "lon", "easting",
          "northing", "capacity", "esol_levels"]


@pytest.fixture
def inside(city_store):
    """(lat, lon, easting, northing, postcode) of a point well inside the demo city."""
    x, y = city_store.con.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM areas "
        "WHERE level = 'ward' ORDER BY code LIMIT 1)").fetchone()
    lon, lat = city_store.con.execute(
        "SELECT ST_X(q), ST_Y(q) FROM (SELECT ST_Transform(ST_Point(?, ?), 'EPSG:27700', 'EPSG:4326', "
        "always_xy := true) q)", [x, y]).fetchone()
    pc = city_store.scalar("SELECT postcode FROM postcodes ORDER BY postcode LIMIT 1")
    return {"lat": round(lat, 6), "lon": round(lon, 6), "e": round(x), "n": round(y), "pc": pc}


def provider_csv(tmp_path, rows: list[dict], name: str = "providers.csv", encoding: str = "utf-8") -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER)
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in HEADER})
    path = tmp_path / name
    path.write_bytes(buf.getvalue().encode(encoding))
    return str(path)


def good(pt: dict, i: int = 1, **over) -> dict:
    return {"id": f"g{i}", "name": f"Good ESOL {i}", "category": "esol_provider",
            "lat": pt["lat"] + 0.0003 * i, "lon": pt["lon"], **over}


def reasons(store, ingest_id) -> list[str]:
    return [row[0] for row in store.con.execute(
        "SELECT reason_code FROM quarantine WHERE ingest_id = ? ORDER BY row_number", [ingest_id]).fetchall()]


# ---------------------------------------------------------------------------------------
# row-level problems in a provider CSV: the good row is stored, the bad one quarantined
# ---------------------------------------------------------------------------------------
ROW_CASES = {
    "missing_required": lambda p: {"name": "  "},
    "unknown_category": lambda p: {"category": "library"},
    "missing_coordinates": lambda p: {"lat": "", "lon": ""},
    "unparsable_coordinates": lambda p: {"lat": "fifty-two", "lon": p["lon"]},
    "latlon_swapped": lambda p: {"lat": p["lon"], "lon": p["lat"]},
    "coordinates_out_of_range": lambda p: {"lat": 152.0, "lon": -1.1},
    "outside_uk": lambda p: {"lat": 48.8566, "lon": 2.3522},  # Paris
    "outside_study_area": lambda p: {"lat": 52.4862, "lon": -1.8904},  # Birmingham, not the demo city
    "invalid_postcode": lambda p: {"lat": "", "lon": "", "postcode": "NOT A POSTCODE"},
    "unknown_postcode": lambda p: {"lat": "", "lon": "", "postcode": "ZZ9 9ZZ"},
    "invalid_value": lambda p: {"capacity": "lots"},
}


@pytest.mark.parametrize("reason", sorted(ROW_CASES))
def test_row_problem_is_quarantined_with_its_reason(tmp_path, city_store, ingest, inside, reason):
    bad = {**good(inside, 2), **ROW_CASES[reason](inside)}
    path = provider_csv(tmp_path, [good(inside, 1), bad])
    r = ingest(path)
    assert r.status == "completed"
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (2, 1, 1)
    assert reasons(city_store, r.ingest_id) == [reason]
    msg = city_store.scalar("SELECT message FROM quarantine WHERE ingest_id = ?", [r.ingest_id])
    assert msg.startswith("row 2:") and len(msg) > 20
    raw = json.loads(city_store.scalar("SELECT raw FROM quarantine WHERE ingest_id = ?", [r.ingest_id]))
    assert raw["name"] == bad["name"] or raw["name"].strip() == ""  # the raw row is kept whole


def test_invalid_esol_level_names_the_field(tmp_path, city_store, ingest, inside):
    path = provider_csv(tmp_path, [good(inside, 1), good(inside, 2, esol_levels="Entry 1;Advanced")])
    r = ingest(path)
    assert reasons(city_store, r.ingest_id) == ["invalid_value"]
    assert "Advanced" in city_store.scalar("SELECT message FROM quarantine WHERE ingest_id = ?", [r.ingest_id])


def test_easting_northing_holding_latlon(tmp_path, city_store, ingest, inside):
    row = {**good(inside, 2), "lat": "", "lon": "", "easting": inside["lat"], "northing": inside["lon"]}
    r = ingest(provider_csv(tmp_path, [good(inside, 1), row]))
    assert reasons(city_store, r.ingest_id) == ["unparsable_coordinates"]


def test_duplicate_source_id_in_file(tmp_path, city_store, ingest, inside):
    r = ingest(provider_csv(tmp_path, [good(inside, 1), good(inside, 2, id="g1")]))
    assert reasons(city_store, r.ingest_id) == ["duplicate_source_id"]


def test_duplicate_same_name_within_25m_in_file(tmp_path, city_store, ingest, inside):
    twin = good(inside, 1, id="other", lat=inside["lat"] + 0.0003 + 0.0001)  # ~11 m north
    far = good(inside, 1, id="far", lat=inside["lat"] + 0.0003 + 0.001)  # ~110 m: a different place
    r = ingest(provider_csv(tmp_path, [good(inside, 1), twin, far]))
    assert reasons(city_store, r.ingest_id) == ["duplicate_nearby"]
    assert r.rows_accepted == 2


def test_duplicate_of_an_asset_from_another_source(tmp_path, city_store, ingest, inside):
    first = ingest(provider_csv(tmp_path, [good(inside, 1)], name="council.csv"))
    assert first.rows_accepted == 1
    again = ingest(provider_csv(tmp_path, [good(inside, 1, id="x9")], name="network.csv"))
    assert reasons(city_store, again.ingest_id) == ["duplicate_nearby"]
    assert city_store.scalar("SELECT count(*) FROM assets") == 1


def test_malformed_row(tmp_path, city_store, ingest, inside):
    path = provider_csv(tmp_path, [good(inside, 1)])
    with open(path, "a", encoding="utf-8") as f:
        f.write('x2,"Too Many Fields",esol_provider,,,,52.1,-1.2,,,,,EXTRA,EXTRA\n')
    r = ingest(path)
    assert reasons(city_store, r.ingest_id) == ["malformed_row"]
    assert (r.rows_read, r.rows_accepted) == (2, 1)


def test_bad_encoding_line_is_quarantined_and_the_rest_reads(tmp_path, city_store, ingest, inside):
    path = provider_csv(tmp_path, [good(inside, 1, name="Café Conversation ESOL"), good(inside, 2)])
    Path(path).write_bytes(Path(path).read_bytes().replace(b"Good ESOL 2", b"Good \x81\xff ESOL 2"))
    r = ingest(path)
    assert reasons(city_store, r.ingest_id) == ["bad_encoding"]
    assert city_store.scalar("SELECT name FROM assets") == "Café Conversation ESOL"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_common_encodings_all_read(tmp_path, city_store, ingest, inside, encoding):
    path = provider_csv(tmp_path, [good(inside, 1, name="Café Français – ESOL")], encoding=encoding)
    r = ingest(path)
    assert (r.rows_accepted, r.rows_quarantined) == (1, 0)
    assert city_store.scalar("SELECT name FROM assets") == "Café Français – ESOL"


# ---------------------------------------------------------------------------------------
# boundaries
# ---------------------------------------------------------------------------------------
def _square(x0, y0, d=0.01):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]]}


def boundary_file(tmp_path, features, name="wards.geojson"):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


BOUNDARY_CASES = {
    "missing_code": ({"WD22CD": None, "WD22NM": "Nameless"}, _square(-1.30, 52.70)),
    "invalid_code": ({"WD22CD": "X1234", "WD22NM": "Odd"}, _square(-1.30, 52.70)),
    "invalid_geometry": ({"WD22CD": "E05999003", "WD22NM": "Empty"}, None),
    "wrong_geometry_type": ({"WD22CD": "E05999004", "WD22NM": "Point"},
                            {"type": "Point", "coordinates": [-1.3, 52.7]}),
    "duplicate_code": ({"WD22CD": "E05999001", "WD22NM": "Again"}, _square(-1.28, 52.70)),
}


@pytest.mark.parametrize("reason", sorted(BOUNDARY_CASES))
def test_boundary_feature_problem(tmp_path, city_store, ingest, reason):
    ok = ({"WD22CD": "E05999001", "WD22NM": "Fine"}, _square(-1.32, 52.70))
    r = ingest(boundary_file(tmp_path, [ok, BOUNDARY_CASES[reason]]))
    assert r.status == "completed", r.message
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (2, 1, 1)
    assert reasons(city_store, r.ingest_id) == [reason]


def test_self_intersecting_polygon_is_repaired_not_lost(tmp_path, city_store, ingest):
    bowtie = {"type": "Polygon", "coordinates": [[[-1.3, 52.7], [-1.29, 52.71], [-1.29, 52.7],
                                                  [-1.3, 52.71], [-1.3, 52.7]]]}
    r = ingest(boundary_file(tmp_path, [({"WD22CD": "E05999009", "WD22NM": "Bowtie"}, bowtie)]))
    assert (r.rows_accepted, r.rows_quarantined) == (1, 0)
    valid, area = city_store.con.execute(
        "SELECT ST_IsValid(geom), ST_Area(geom) FROM areas WHERE code = 'E05999009'").fetchone()
    assert valid and area > 0


# ---------------------------------------------------------------------------------------
# census
# ---------------------------------------------------------------------------------------
def census_file(tmp_path, rows, header=None):
    header = header or ["geography code", "Ethnic group: Total: All usual residents",
                        "Ethnic group: White: Irish", "Ethnic group: White: Other White"]
    path = tmp_path / "ts021.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


CENSUS_CASES = {
    "invalid_count": ["E00900002", "10", "n/a", "4"],
    "total_mismatch": ["E00900002", "5", "4", "4"],
    "invalid_code": ["Birmingham", "10", "6", "4"],
    "duplicate_area": ["E00900001", "10", "6", "4"],
}


@pytest.mark.parametrize("reason", sorted(CENSUS_CASES))
def test_census_row_problem(tmp_path, city_store, ingest, reason):
    r = ingest(census_file(tmp_path, [["E00900001", "10", "6", "4"], CENSUS_CASES[reason]]))
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (2, 1, 1)
    assert reasons(city_store, r.ingest_id) == [reason]


def test_census_long_unknown_category(tmp_path, city_store, ingest):
    path = tmp_path / "long.csv"
    path.write_text("Output Areas Code,Ethnic group (20 categories),Observation\n"
                    "E00900001,White: Irish,5\nE00900001,Martian,3\n")
    r = ingest(str(path))
    assert reasons(city_store, r.ingest_id) == ["unknown_category"]


# ---------------------------------------------------------------------------------------
# OSM
# ---------------------------------------------------------------------------------------
def test_osm_unmapped_tags_and_missing_position(tmp_path, city_store, ingest, inside):
    doc = {"elements": [
        {"type": "node", "id": 1, "lat": inside["lat"], "lon": inside["lon"],
         "tags": {"amenity": "place_of_worship", "religion": "sikh", "name": "Gurdwara Test"}},
        {"type": "node", "id": 2, "lat": inside["lat"], "lon": inside["lon"],
         "tags": {"amenity": "cafe", "name": "Corner Cafe"}},
        {"type": "way", "id": 3, "tags": {"amenity": "community_centre", "name": "No Centre Hall"}},
    ]}
    path = tmp_path / "osm.json"
    path.write_text(json.dumps(doc))
    r = ingest(str(path))
    assert reasons(city_store, r.ingest_id) == ["unknown_category", "missing_coordinates"]
    assert city_store.scalar("SELECT subtype FROM assets") == "sikh"


# ---------------------------------------------------------------------------------------
# whole files refused: exit status 2, data tables untouched, the refusal audited
# ---------------------------------------------------------------------------------------
def _write(tmp_path, name, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


REFUSED_CASES = {
    "file_not_found": lambda t: (str(t / "nope.csv"), {}),
    "empty_file": lambda t: (_write(t, "empty.csv", b""), {}),
    "binary_file": lambda t: (_write(t, "blob.csv", b"\x00\x01\x02binary\x00" * 50), {}),
    "unreadable": lambda t: (_write(t, "broken.json", b'{"features": [ {"type": '), {}),
    "unknown_format": lambda t: (_write(t, "minutes.csv", b"date,attendees,notes\n2026-01-01,12,ok\n"), {}),
    "missing_columns": lambda t: (_write(t, "noname.csv", b"title,lat,lon\nHall,52.7,-1.3\n"),
                                  {"kind": "providers"}),
    "bad_mapping": lambda t: (_write(t, "venues.csv", b"title,lat,lon\nHall,52.7,-1.3\n"),
                              {"mapping": ["colour=title"], "category": "community_centre"}),
    "no_rows": lambda t: (_write(t, "none.geojson", b'{"type":"FeatureCollection","features":[]}'),
                          {"kind": "boundaries"}),
    "unreadable_gpkg": lambda t: (_write(t, "fake.gpkg", b"SQLite format 3\x00" + b"garbage" * 100), {}),
}


@pytest.mark.parametrize("case", sorted(REFUSED_CASES))
def test_refused_file_changes_no_data(tmp_path, city_store, ingest, case):
    path, options = REFUSED_CASES[case](tmp_path)
    before = digest(city_store)
    r = ingest(path, **options)
    assert r.status == "refused"
    assert r.reason_code == case.replace("_gpkg", "")
    assert r.message and len(r.message) > 15
    assert digest(city_store) == before
    status, rows = city_store.con.execute(
        "SELECT status, rows_read FROM ingests WHERE ingest_id = ?", [r.ingest_id]).fetchone()
    assert (status, rows) == ("refused", 0)
    assert city_store.scalar("SELECT count(*) FROM events WHERE name = 'assetmap.ingest.failed'") == 1


def test_failure_while_storing_rolls_back_everything(tmp_path, city_store, ingest, inside, monkeypatch):
    """A crash after some rows were written leaves the store exactly as before."""
    from assetmap.db import geography

    def explode(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(geography, "refresh_parent_codes", explode)
    path = tmp_path / "lk.csv"
    path.write_text("OA21CD,WD22CD\nE00900001,E05900002\n")
    before = digest(city_store, tables=("areas", "area_lookup", "population", "postcodes", "assets",
                                        "quarantine"))
    r = ingest(str(path))
    assert r.status == "refused" and r.reason_code == "store_failed"
    assert digest(city_store, tables=("areas", "area_lookup", "population", "postcodes", "assets",
                                      "quarantine")) == before


def test_census_long_subgroups_sum_into_one_category(tmp_path, city_store, ingest):
    path = tmp_path / "ts004_long.csv"
    path.write_text(
        "Output Areas Code,Country of birth (12 categories),Observation\n"
        "E00900001,Europe: United Kingdom,50\n"
        "E00900001,Europe: Other Europe: EU countries: Member countries in March 2001,4\n"
        "E00900001,Europe: Other Europe: EU countries: Accession countries April 2001 to March 2011,6\n"
        "E00900001,Europe: United Kingdom,50\n")
    r = ingest(str(path))
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (4, 3, 1)
    assert reasons(city_store, r.ingest_id) == ["duplicate_area"]
    got = dict(city_store.con.execute("SELECT category, count FROM population").fetchall())
    assert got == {"uk": 50, "europe_eu": 10}
