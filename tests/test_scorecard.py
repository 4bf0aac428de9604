"""Race equality scorecards: a council's disparity figures read like any other file (every row
stored or quarantined with its reason), shown as disparity ratios beside the census population
of each group, small groups flagged, and printed as a brief."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assetmap import queries
from assetmap.db.store import Store
from assetmap.ingest import ingest_file
from assetmap.settings import settings
from assetmap.snapshots import publish
from assetmap.sources import sniff
from assetmap.vocab.scorecards import DOMAINS, group_categories

HEADER = "la_code,domain,indicator,group,value,reference_group,reference_value,year,source,lower,upper"
VIEWS = Path(__file__).resolve().parents[1] / "dashboards" / "views"


def _la(store) -> str:
    return store.scalar("SELECT code FROM areas WHERE level = 'la' ORDER BY code LIMIT 1")


def test_the_demo_scorecard_is_read_whole_and_recognised_by_its_columns(full_store, demo_dir):
    path = demo_dir / "scorecards" / "race_equality_scorecard.csv"
    assert sniff(path, path.read_bytes()) == "scorecard"
    n = full_store.scalar("SELECT count(*) FROM scorecard_indicators")
    las = full_store.scalar("SELECT count(DISTINCT la_code) FROM scorecard_indicators")
    assert n == las * 14 * 7  # 14 indicators over the seven domains, seven groups each
    assert {d for (d,) in full_store.con.execute("SELECT DISTINCT domain FROM scorecard_indicators").fetchall()} == \
        set(DOMAINS)
    assert full_store.scalar("SELECT count(*) FROM scorecard_indicators WHERE source NOT LIKE 'Synthetic%'") == 0


def test_every_bad_row_is_quarantined_with_its_reason(full_store, tmp_path):
    la = _la(full_store)
    rows = [
        f"{la},Criminal Justice,Stop and search per 1000,Black Caribbean,24.1,White British,3.0,2024,Police.uk,20,28",
        f"{la},housing,Overcrowding (%),Bangladeshi,\"1,024\",White British,5,2023,Census 2021,,",  # thousands
        "E05900001,housing,Overcrowding (%),Pakistani,20,White British,5,2023,Census 2021,,",  # a ward
        f"{la},transport,Bus use,Indian,20,White British,5,2023,DfT,,",  # no such domain
        f"{la},health,Bad health (%),Indian,n/a,White British,5,2023,Census 2021,,",
        f"{la},health,Bad health (%),Chinese,4,White British,0,2023,Census 2021,,",  # ratio undefined
        f"{la},health,Bad health (%),Black African,4,White British,5,23,Census 2021,,",
        f"{la},health,Bad health (%),Arab,4,White British,5,2023,,,",  # no source
        f"{la},health,Bad health (%),Pakistani,4,White British,5,2023,Census 2021,4.5,6",  # interval misses it
        f"{la},Criminal Justice,Stop and search per 1000,Black Caribbean,25,White British,3.0,2024,Police.uk,,",
    ]
    path = tmp_path / "scorecard.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    r = ingest_file(full_store, path)
    assert r.status == "completed" and r.kind == "scorecard"
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (10, 2, 8)
    reasons = dict(full_store.con.execute(
        "SELECT row_number, reason_code FROM quarantine WHERE ingest_id = ? ORDER BY 1", [r.ingest_id]).fetchall())
    assert reasons == {3: "invalid_code", 4: "invalid_value", 5: "invalid_value", 6: "invalid_value",
                       7: "invalid_value", 8: "missing_required", 9: "invalid_value", 10: "duplicate_area"}
    messages = " ".join(m for (m,) in full_store.con.execute(
        "SELECT message FROM quarantine WHERE ingest_id = ?", [r.ingest_id]).fetchall())
    assert "not a local authority" in messages and "Support for the BME voluntary sector" in messages
    assert "does not hold the value" in messages and "needs its source" in messages
    assert full_store.scalar("SELECT value FROM scorecard_indicators WHERE grp = 'Bangladeshi' AND la_code = ? "
                             "AND indicator = 'Overcrowding (%)'", [la]) == 1024.0
    again = ingest_file(full_store, path)
    assert again.status == "unchanged"


def test_the_scorecard_sets_each_figure_against_its_reference_and_the_census(full_store):
    la = _la(full_store)
    card = queries.scorecard(full_store.con, la)
    assert len(card) == 14 * 7
    assert (card["ratio"] - card["value"] / card["reference_value"]).abs().max() < 1e-12
    # the group's residents: the census's ethnic counts summed over the authority's output areas
    pop = queries.la_ethnic_population(full_store.con, la)
    direct = full_store.scalar(
        """SELECT sum(count) FROM census_latest WHERE variable = 'ethnic_group' AND category = 'black_caribbean'
           AND area_code IN (SELECT area_code FROM area_lookup WHERE parent_level = 'la' AND parent_code = ?)""",
        [la])
    assert pop["black_caribbean"] == direct > 0
    row = card[card["group"] == "Black Caribbean"].iloc[0]
    assert row["group_population"] == direct
    assert row["reference_population"] == pop["white_british"]
    # flags: a group under the floor is unreliable; an interval across 1 is said
    floor = sorted(card["group_population"].dropna().unique())[1]
    small = queries.scorecard(full_store.con, la, min_population=floor)
    assert small.loc[small["group_population"] < floor, "reliability"].str.contains("small group").all()
    spans = small[(small["ratio_low"] <= 1) & (small["ratio_high"] >= 1)]
    assert spans["reliability"].str.contains("interval spans parity").all()
    assert group_categories("Gypsy or Irish Traveller") == ("white_gypsy_traveller",)
    assert group_categories("Martian") == ()


def test_the_scorecard_page_shows_every_domain_and_prints_an_escaped_brief(full_store, tmp_path, monkeypatch):
    la = _la(full_store)
    path = tmp_path / "hostile.csv"
    path.write_text(HEADER + "\n" + f"{la},health,<script>alert(1)</script>,Indian,4,White British,5,2024,"
                    "<b>Trust me</b>,,\n", encoding="utf-8")
    assert ingest_file(full_store, path).rows_accepted == 1
    publish(full_store)
    full_store.close()
    monkeypatch.setattr(settings, "db_path", full_store.path)
    at = AppTest.from_file(str(VIEWS / "scorecard.py"), default_timeout=90)
    at.query_params["la"] = la
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.subheader] == list(DOMAINS.values())
    # each domain a plain table, every indicator and group in full, a hostile one as its characters
    health = next(t.value for t in at.table if "<script>alert(1)</script>" in set(t.value.index))
    assert "<b>Trust me</b>, 2024" in set(health["Source, year"]) and "Indian" in set(health["Group"])
    assert list(health.columns)[:2] == ["Group", "Value"]
    (button,) = at.get("download_button")
    assert button.proto.label == "Download the scorecard brief (HTML)"
    from dashboards import scorecard_brief

    with Store(full_store.path, read_only=True) as store:
        html_text = scorecard_brief.render(la, "Demo", queries.scorecard(store.con, la))
    assert "<script>alert(1)</script>" not in html_text and "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert html_text.count("<h2>") == 7 and "Synthetic demo data generated by assetmap (CC0), 202" in html_text


@pytest.mark.parametrize("text", ["Criminal justice", "criminal_justice", "CRIMINAL-JUSTICE", "Policing"])
def test_domains_are_recognised_as_councils_write_them(text):
    from assetmap.vocab.scorecards import normalise_domain

    assert normalise_domain(text) == "criminal_justice"
