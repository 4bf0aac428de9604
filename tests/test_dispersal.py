"""The Home Office Asy_D11 reader, the dispersal review, and partner-published indices."""

from __future__ import annotations

import json

import pytest

from assetmap.dispersal import review
from assetmap.ingest import ingest_file
from assetmap.recompute import recompute
from tests.conftest import digest

HEADER = "Date,Year,Quarter,Support Type,UK Region,Local Authority,LAD Code,Accommodation Type,People\n"


def test_the_demo_asy_d11_is_read_as_published(full_store):
    r = full_store.con.execute(
        "SELECT rows_read, rows_accepted, rows_quarantined FROM ingests WHERE kind = 'dispersal'").fetchone()
    assert r == (24, 23, 1)  # 4 authorities x 3 support types x 2 dates; one suppressed figure
    reason = full_store.scalar("SELECT reason_code FROM quarantine q JOIN ingests i USING (ingest_id) "
                               "WHERE i.kind = 'dispersal'")
    assert reason == "invalid_count"
    assert full_store.scalar("SELECT count(DISTINCT period) FROM dispersal") == 2


def test_messy_rows_are_quarantined_with_reasons(city_store, tmp_path):
    p = tmp_path / "asy_d11.csv"
    p.write_text(
        "Asylum seekers in receipt of support\nNotes: see cover sheet\n\n" + HEADER +
        "31/03/2025,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Dispersal Accommodation,\"1,234\"\n"
        "31/03/2025,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Subsistence Only,z\n"
        "31/03/2025,2025,Q1,Section 95,West Midlands,Nowhere,E12000005,Dispersal Accommodation,10\n"
        "sometime,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Initial Accommodation,4\n"
        "31/03/2025,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Dispersal Accommodation,7\n"
        "2025 Q2,2025,Q2,Section 95,West Midlands,Demoford,e08900001,Dispersal Accommodation,1300\n",
        encoding="utf-8")
    r = ingest_file(city_store, p)
    assert r.status == "completed" and r.kind == "dispersal"
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (6, 2, 4)
    reasons = [x[0] for x in city_store.con.execute(
        "SELECT reason_code FROM quarantine WHERE ingest_id = ? ORDER BY row_number", [r.ingest_id]).fetchall()]
    assert reasons == ["invalid_count", "invalid_code", "invalid_value", "duplicate_area"]
    rows = city_store.con.execute("SELECT period::VARCHAR, people FROM dispersal ORDER BY period").fetchall()
    assert rows == [("2025-03-31", 1234), ("2025-06-30", 1300)]


def test_a_table_without_its_columns_is_refused_and_changes_nothing(full_store, tmp_path):
    p = tmp_path / "asy.csv"
    p.write_text("LAD Code,People,Accommodation Type\nE08900001,4,Dispersal\n")
    before = digest(full_store)
    r = ingest_file(full_store, p, kind="dispersal")
    assert r.status == "refused" and r.reason_code == "missing_columns"
    assert digest(full_store) == before


def test_dispersal_review_per_10000(full_store):
    df = review(full_store.con)
    assert list(df["la_code"]) == ["E08900001"]  # authorities beyond the study area have no residents here
    row = df.iloc[0]
    residents = full_store.scalar("SELECT sum(count) FROM population WHERE variable = 'ethnic_group'")
    supported = full_store.scalar("SELECT sum(people) FROM dispersal WHERE la_code = 'E08900001' "
                                  "AND period = (SELECT max(period) FROM dispersal)")
    places = full_store.scalar("SELECT sum(coalesce(TRY_CAST(attrs->>'capacity' AS DOUBLE), 1)) FROM assets "
                               "WHERE category = 'esol_provider'")
    assert row["residents"] == residents and row["supported"] == supported
    assert row["supported_per_10k"] == pytest.approx(supported / residents * 10_000)
    assert row["esol_places_per_10k"] == pytest.approx(places / residents * 10_000)
    assert row["places_per_supported"] == pytest.approx(places / supported)
    earlier = review(full_store.con, period="2025-06-30").iloc[0]
    assert earlier["supported"] != supported


def test_partner_indices_are_kept_apart_and_disagreements_reported(full_store, tmp_path, capsys):
    from assetmap.cli import main

    recompute(full_store)
    (code, d), (code2, h) = full_store.con.execute(
        "SELECT ward_code, value FROM ward_indices WHERE index_name IN ('dissimilarity', 'theil_h') "
        "AND focal_group IN ('white_british', 'all') ORDER BY index_name, ward_code LIMIT 2").fetchall()
    p = tmp_path / "uni_indices_2024.csv"
    p.write_text("ward_code,focal_group,index_name,value,ci_low,ci_high\n"
                 f"{code},white_british,dissimilarity,{d:.4f},,\n"             # agrees (rounded)
                 f"{code},white_british,isolation,0.999,0.9,1.0\n"              # disagrees
                 f"{code},white_british,dissimilarity,0.5,,\n"                  # duplicate
                 f"{code},white_british,atkinson,0.3,,\n"                       # not an index we compute
                 f"E05999999,all,theil_h,0.2,,\n")                              # no computed value
    r = ingest_file(full_store, p)
    assert r.kind == "indices" and (r.rows_accepted, r.rows_quarantined) == (3, 2)
    assert full_store.scalar("SELECT count(*) FROM partner_indices WHERE source = 'uni_indices_2024'") == 3
    full_store.close()
    assert main(["--db", str(full_store.path), "indices", "--compare", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["compared"] == 3
    got = {(x["ward_code"], x["index_name"]) for x in out["disagreements"]}
    assert got == {(code, "isolation"), ("E05999999", "theil_h")}
