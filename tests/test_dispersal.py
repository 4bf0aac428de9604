"""The Home Office Asy_D11 reader, the dispersal review, and partner-published indices."""

from __future__ import annotations

import csv
import datetime
import json

import pandas as pd
import pytest

from assetmap.analysis import recompute
from assetmap.demo import DEMO_QUARTERS
from assetmap.ingest import ingest_file
from assetmap.queries.dispersal import growth, review, trend
from tests.conftest import digest

HEADER = "Date,Year,Quarter,Support Type,UK Region,Local Authority,LAD Code,Accommodation Type,People\n"
#: The published data sheet's header: ``Date (as at…)`` on most sheets, ``Date (as at...)`` on some.
PUBLISHED = ["Date (as at…)", "Support Type", "UK Region / Nation", "Local Authority", "LAD Code",
             "Accommodation Type", "People"]
TITLE = "Asy_D11: Asylum seekers in receipt of support, by local authority - dataset"
NA = "N/A - Subsistence Only (Dec 2023 - Dec 2024)"
#: The rows of a published sheet: text dates, thousands separators, a suppressed cell, a Welsh and
#: a Scottish authority, and a row of support not allocated to any authority.
ROWS = [
    ["30 Jun 2025", "Section 95", "West Midlands", "Demoford", "E08900001", "Dispersal Accommodation", "2,143"],
    ["30 Jun 2025", "Section 95", "West Midlands", "Demoford", "E08900001", "Subsistence only", "z"],
    ["30 Jun 2025", "Section 98", "West Midlands", "Demoford", "E08900001", "Contingency Accommodation - Hotel", "88"],
    ["30 Jun 2025", "Section 95", "Wales", "Cardiff", "W06000015", "Initial Accommodation", "40"],
    ["30 Jun 2025", "Section 95", "Scotland", "Aberdeen City", "S12000033", "Dispersal Accommodation", "300"],
    ["30 Jun 2025", "Section 95", NA, NA, NA, "Subsistence Only", "7"],
    ["30 Sep 2025", "Section 95", "West Midlands", "Demoford", "E08900001", "Dispersal Accommodation", "2,410"],
    ["30 Sep 2025", "Section 95", "Wales", "Cardiff", "W06000015", "Initial Accommodation", "44"],
]


def _check_published(store, r, layout):
    """What every published layout must give: each row accounted for, suppressed kept as such."""
    assert r.status == "completed" and r.kind == "dispersal", r.message
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (8, 7, 1), layout
    assert store.scalar("SELECT reason_code FROM quarantine WHERE ingest_id = ?", [r.ingest_id]) == "invalid_code"
    rows = store.con.execute(
        "SELECT la_code, region, support_type, period::VARCHAR, people, suppressed FROM dispersal "
        "WHERE ingest_id = ? ORDER BY period, la_code, support_type", [r.ingest_id]).fetchall()
    assert ("E08900001", "West Midlands", "Section 95 / Dispersal Accommodation", "2025-06-30", 2143, False) in rows
    assert ("E08900001", "West Midlands", "Section 95 / Subsistence Only", "2025-06-30", None, True) in rows
    assert ("W06000015", "Wales", "Section 95 / Initial Accommodation", "2025-09-30", 44, False) in rows
    assert ("S12000033", "Scotland", "Section 95 / Dispersal Accommodation", "2025-06-30", 300, False) in rows
    assert len(rows) == 7


@pytest.mark.parametrize("date_header", ["Date (as at…)", "Date (as at...)"])
def test_the_data_sheet_saved_as_csv_is_read_as_published(city_store, tmp_path, date_header):
    p = tmp_path / "asy_d11.csv"
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([TITLE] + [""] * 6)
        w.writerow([date_header, *PUBLISHED[1:], "", ""])  # the sheet's empty columns at the right
        for row in ROWS:
            w.writerow([*row, "", ""])
        w.writerow(["End of table"] + [""] * 8)
        w.writerow(["Source: Home Office"] + [""] * 8)  # a note below the table is not a row either
    _check_published(city_store, ingest_file(city_store, p), "csv")


def test_the_workbook_itself_is_read_xlsx_and_ods(city_store, tmp_path):
    import openpyxl

    xlsx = tmp_path / "asylum-seekers-receipt-support-datasets-sep-2025.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Cover_sheet"
    ws.append(["Immigration system statistics, year ending September 2025"])
    ws = wb.create_sheet("Asy_D11")  # the pivot table sheet: not the data
    ws.append(["Sum of People", "Column Labels"])
    ws = wb.create_sheet("Data_Asy_D11")
    ws.append([TITLE])
    ws.append([*PUBLISHED, None, None])
    for row in ROWS:  # counts as numbers, dates as real dates in one row, as a saved workbook may hold
        cells = list(row)
        cells[6] = int(cells[6].replace(",", "")) if cells[6][0].isdigit() else cells[6]
        ws.append(cells)
    ws.cell(row=3, column=1).value = datetime.date(2025, 6, 30)
    ws.append(["End of table"])
    wb.save(xlsx)
    _check_published(city_store, ingest_file(city_store, xlsx), "xlsx")

    ods = tmp_path / "asylum-seekers-receipt-support-datasets-sep-2025.ods"
    with pd.ExcelWriter(ods, engine="odf") as xw:
        pd.DataFrame([["Immigration system statistics"]]).to_excel(xw, sheet_name="Cover_sheet", header=False,
                                                                   index=False)
        sheet = [[TITLE] + [None] * 6, PUBLISHED, *ROWS, ["End of table"] + [None] * 6]
        pd.DataFrame(sheet, dtype=object).to_excel(xw, sheet_name="Data - Asy_D11", header=False, index=False)
    _check_published(city_store, ingest_file(city_store, ods), "ods")


def test_an_older_release_with_support_sub_type_and_a_renamed_sheet(city_store, tmp_path):
    import openpyxl

    p = tmp_path / "section-95-support-local-authority-datasets-dec-2019.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"  # found by its header row, not its name
    ws.append(["Date", "Year", "Quarter", "Support Type", "Support sub-type", "UK Region",
               "Local Authority", "LAD Code", "People"])
    ws.append(["31 Dec 2019", 2019, "Q4", "Section 95", "Dispersed accommodation", "Wales", "Cardiff",
               "W06000015", 812])
    ws.append(["31 Dec 2019", 2019, "Q4", "Section 95", "Subsistence only", "Wales", "Cardiff", "W06000015", ".."])
    wb.save(p)
    r = ingest_file(city_store, p)
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (2, 2, 0)
    rows = city_store.con.execute("SELECT support_type, people, suppressed, region FROM dispersal "
                                  "ORDER BY support_type").fetchall()
    assert rows == [("Section 95 / Dispersed accommodation", 812, False, "Wales"),
                    ("Section 95 / Subsistence Only", None, True, "Wales")]


def test_a_workbook_without_the_table_is_refused_and_changes_nothing(city_store, tmp_path):
    import openpyxl

    p = tmp_path / "budget.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Item", "Cost"])
    wb.save(p)
    before = digest(city_store)
    r = ingest_file(city_store, p)
    assert r.status == "refused" and r.reason_code == "missing_columns" and "Asy_D11" in r.message
    assert digest(city_store) == before


def test_the_demo_asy_d11_is_read_as_published(full_store):
    r = full_store.con.execute(
        "SELECT rows_read, rows_accepted, rows_quarantined FROM ingests WHERE kind = 'dispersal'").fetchone()
    n = 5 * 3 * len(DEMO_QUARTERS)  # 5 authorities x 3 support types x 8 dates
    assert len(DEMO_QUARTERS) == 8 and r == (n + 1, n, 1)  # and one row of no authority
    reason = full_store.scalar("SELECT reason_code FROM quarantine q JOIN ingests i USING (ingest_id) "
                               "WHERE i.kind = 'dispersal'")
    assert reason == "invalid_code"
    assert full_store.scalar("SELECT count(*) FROM dispersal WHERE suppressed") == 1
    assert full_store.scalar("SELECT count(DISTINCT period) FROM dispersal") == 8
    assert full_store.scalar("SELECT count(*) FROM population_estimates") == 5


def test_messy_rows_are_quarantined_with_reasons(city_store, tmp_path):
    p = tmp_path / "asy_d11.csv"
    p.write_text(
        "Asylum seekers in receipt of support\nNotes: see cover sheet\n\n" + HEADER +
        "31/03/2025,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Dispersal Accommodation,\"1,234\"\n"
        "31/03/2025,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Subsistence Only,z\n"
        "31/03/2025,2025,Q1,Section 95,West Midlands,Nowhere,E12000005,Dispersal Accommodation,10\n"
        "sometime,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Initial Accommodation,4\n"
        "31/03/2025,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Dispersal Accommodation,7\n"
        "31/03/2025,2025,Q1,Section 95,West Midlands,Demoford,E08900001,Initial Accommodation,\n"
        "2025 Q2,2025,Q2,Section 95,West Midlands,Demoford,e08900001,Dispersal Accommodation,1300\n",
        encoding="utf-8")
    r = ingest_file(city_store, p)
    assert r.status == "completed" and r.kind == "dispersal"
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (7, 4, 3)
    reasons = [x[0] for x in city_store.con.execute(
        "SELECT reason_code FROM quarantine WHERE ingest_id = ? ORDER BY row_number", [r.ingest_id]).fetchall()]
    assert reasons == ["invalid_code", "invalid_value", "invalid_count"]
    rows = city_store.con.execute("SELECT period::VARCHAR, people, suppressed FROM dispersal "
                                  "ORDER BY period, suppressed").fetchall()
    # the repeated Dispersal Accommodation figure (rows 1 and 5) is added up, and the sum is recorded
    assert rows == [("2025-03-31", 1241, False), ("2025-03-31", None, True), ("2025-06-30", 1300, False)]
    assert city_store.con.execute("SELECT row_number, field, given, stored FROM repairs WHERE ingest_id = ?",
                                  [r.ingest_id]).fetchall() == [(1, "people", "1234; 7", "1241")]


def test_a_table_without_its_columns_is_refused_and_changes_nothing(full_store, tmp_path):
    p = tmp_path / "asy.csv"
    p.write_text("LAD Code,People,Accommodation Type\nE08900001,4,Dispersal\n")
    before = digest(full_store)
    r = ingest_file(full_store, p, kind="dispersal")
    assert r.status == "refused" and r.reason_code == "missing_columns"
    assert digest(full_store) == before


def history_places(demo_dir, when) -> float:
    """ESOL places open at the end of ``when``, recounted from the demo's dated provider files (the
    latest taking effect by then lists every class open, and the ones that closed that day)."""
    dated = sorted(p for p in (demo_dir / "assets" / "history").iterdir() if p.name <= str(when))
    with (dated[-1] / "esol_providers.csv").open(encoding="utf-8", newline="") as fh:
        return float(sum(int(r["capacity"]) for r in csv.DictReader(fh) if r["status"] != "closed"))


def test_a_region_over_time_per_10000_residents(full_store, demo_dir):
    table = trend(full_store.con, region="synthetic region")
    assert set(table["la_code"]) == {"E08900001", "E08999990", "E08999991", "E08999992"}  # not "Far Away"
    assert table.groupby("la_code")["period"].nunique().eq(len(DEMO_QUARTERS)).all()
    for row in table.itertuples():
        supported = full_store.scalar("SELECT coalesce(sum(people), 0) FROM dispersal WHERE la_code = ? "
                                      "AND period = ?", [row.la_code, row.period])
        estimate = full_store.scalar("SELECT residents FROM population_estimates WHERE area_code = ?",
                                     [row.la_code])
        assert row.supported == supported and row.residents == estimate
        assert row.residents_basis == "ONS mid-year estimate 2024"
        assert row.supported_per_10k == pytest.approx(supported / estimate * 10_000)
    city = table[table["la_code"] == "E08900001"]
    # provision as it was at each date: a recount of the demo's dated provider files themselves
    assert [history_places(demo_dir, d) for d in city["period"]] == city["esol_places"].tolist()
    assert city["esol_places"].nunique() > 2  # the demo's classes opened and closed over the two years
    assert city["suppressed_cells"].tolist() == [1] + [0] * (len(DEMO_QUARTERS) - 1)  # said, not zeroed
    assert table.loc[table["la_code"] != "E08900001", "esol_places"].isna().all()  # not loaded: not zero
    since = trend(full_store.con, region="Synthetic Region", since="2025-06-01")
    assert sorted(map(str, since["period"].unique())) == ["2025-06-30", "2025-09-30"]
    two = trend(full_store.con, las=["e08999991", "E06999999"])
    assert set(two["la_code"]) == {"E08999991", "E06999999"}
    grown = growth(table)
    first = table.sort_values("period").groupby("la_code")["supported_per_10k"].first()
    last = table.sort_values("period").groupby("la_code")["supported_per_10k"].last()
    expected = (last - first).sort_values(ascending=False)
    assert list(grown["la_code"]) == list(expected.index)
    assert grown["change_per_10k"].tolist() == pytest.approx(expected.tolist())


def test_without_an_estimate_residents_come_from_the_census(full_store, demo_dir):
    full_store.con.execute("DELETE FROM population_estimates")
    df = review(full_store.con)
    assert list(df["la_code"]) == ["E08900001"]  # authorities beyond the study area have no residents here
    row = df.iloc[0]
    residents = full_store.scalar("SELECT sum(count) FROM population WHERE variable = 'ethnic_group'")
    supported = full_store.scalar("SELECT sum(people) FROM dispersal WHERE la_code = 'E08900001' "
                                  "AND period = (SELECT max(period) FROM dispersal)")
    places = history_places(demo_dir, row["period"])
    assert row["residents"] == residents and row["supported"] == supported
    assert row["residents_basis"] == "census 2021"
    assert row["supported_per_10k"] == pytest.approx(supported / residents * 10_000)
    assert row["esol_places_per_10k"] == pytest.approx(places / residents * 10_000)
    assert row["places_per_supported"] == pytest.approx(places / supported)
    earlier = review(full_store.con, period="2025-06-30").iloc[0]
    assert earlier["supported"] != supported


def test_the_cli_shows_a_region_over_time(full_store, capsys):
    from assetmap.cli import main

    db = str(full_store.path)
    full_store.close()
    assert main(["dispersal", "--region", "Synthetic Region", "--db", db]) == 0  # options after the subcommand
    out = capsys.readouterr().out
    assert "Elsewhere 2 (synthetic) (E08999991)" in out and "2025-09-30" in out and "Asy_D11" in out
    assert main(["--db", db, "dispersal", "--la", "E06999999", "--from", "2025-03-01", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert {r["period"] for r in got["trend"]} == {"2025-03-31", "2025-06-30", "2025-09-30"}
    assert got["growth"][0]["la_code"] == "E06999999" and got["source"].startswith("Home Office")
    assert main(["--db", db, "dispersal", "--region", "Atlantis"]) == 2
    assert "Synthetic Region" in capsys.readouterr().err


def test_partner_indices_are_kept_apart_and_disagreements_reported(full_store, tmp_path, capsys):
    from assetmap.cli import main

    recompute(full_store)
    (code, d), (_code2, _h) = full_store.con.execute(
        "SELECT unit_code, value FROM unit_indices WHERE index_name IN ('dissimilarity', 'theil_h') "
        "AND focal_group IN ('white_british', 'all') ORDER BY index_name, unit_code LIMIT 2").fetchall()
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
    got = {(x["unit_code"], x["index_name"]) for x in out["disagreements"]}
    assert got == {(code, "isolation"), ("E05999999", "theil_h")}


def test_provision_is_counted_as_it_was_at_each_date(city_store, demo_dir, tmp_path):
    """A class that closed counts until it closed: provision per 10,000 falls at the quarter after
    the closure, and not before; a date before the history loaded says so."""
    for sub in ("dispersal/mid_year_population_estimates_2024.csv", "dispersal/asy_d11_supported_asylum_seekers.csv"):
        assert ingest_file(city_store, demo_dir / sub).status == "completed"
    providers = demo_dir / "assets" / "esol_providers.csv"
    assert ingest_file(city_store, providers, effective="2025-01-15").status == "completed"
    places_sql = ("SELECT sum(coalesce(TRY_CAST(attrs->>'capacity' AS DOUBLE), 1)) FROM assets "
                  "WHERE category = 'esol_provider'")
    total = city_store.scalar(places_sql)  # today's provision, before the closure
    with providers.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    closing = max((r for r in rows if r["capacity"].isdigit()), key=lambda r: int(r["capacity"]))
    later = tmp_path / "esol_providers.csv"
    with later.open("w", encoding="utf-8", newline="") as fh:  # the provider's notice: this class has closed
        w = csv.DictWriter(fh, fieldnames=[*rows[0], "status"])
        w.writeheader()
        w.writerow({**closing, "status": "closed"})
    r = ingest_file(city_store, later, effective="2025-05-02")
    assert r.status == "completed", r.message
    after = city_store.scalar(places_sql)
    assert after == total - float(closing["capacity"])  # the largest class closed on 2 May 2025
    city = trend(city_store.con, las=["E08900001"]).set_index("period")
    places = {str(d): v for d, v in city["esol_places"].items()}
    assert places["2025-03-31"] == total  # open then, though closed today
    assert places["2025-06-30"] == places["2025-09-30"] == after
    per = {str(d): v for d, v in city["esol_places_per_10k"].items()}
    assert per["2025-06-30"] < per["2025-03-31"]
    assert places["2024-12-31"] == total  # before the history began: provision as first loaded, and said
    assert city.loc[datetime.date(2024, 12, 31), "provision_basis"] == \
        "as first loaded, 15 Jan 2025 (no history before)"
    assert city.loc[datetime.date(2025, 6, 30), "provision_basis"] == "open at the date"
