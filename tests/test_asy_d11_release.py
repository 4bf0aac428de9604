"""The whole September 2024 Asy_D11 release as the Home Office filled it: wrong codes, repeated
rows, two spellings, retired districts and a series break, each checked against a recount of the
file's own text (the ``csv`` module, not the reader)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections import defaultdict

import pytest

from assetmap.db.store import Store
from assetmap.ingest import ingest_file
from assetmap.queries import dispersal
from assetmap.vocab import local_authorities
from tests.conftest import SHARED

RELEASE = SHARED / "asy_d11" / "asy_d11_sep2024_release_reshaped.csv"
pytestmark = pytest.mark.skipif(not RELEASE.exists(), reason="the real Asy_D11 release is not under ../shared")


def _rows() -> list[dict[str, str]]:
    with RELEASE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    path = tmp_path_factory.mktemp("asy") / "store.duckdb"
    with Store(path) as store:
        r = ingest_file(store, RELEASE)
    store = Store(path, read_only=True)
    yield store, r
    store.close()


def _stored(store, code, when, support_like="%"):
    return store.scalar("SELECT sum(people) FROM dispersal WHERE la_code = ? AND period = ? AND support_type LIKE ?",
                        [code, when, support_like])


def test_every_row_is_accounted_for(release):
    store, r = release
    rows = _rows()
    assert r.status == "completed" and r.rows_read == len(rows) == 21_743
    assert r.rows_read == r.rows_accepted + r.rows_quarantined
    allocated = [x for x in rows if not x["LAD Code"].startswith("N/A")]
    assert r.rows_quarantined == len(rows) - len(allocated) == 147  # support not allocated to an authority
    reasons = store.con.execute("SELECT reason_code, count(*) FROM quarantine WHERE ingest_id = ? GROUP BY 1",
                                [r.ingest_id]).fetchall()
    assert reasons == [("invalid_code", 147)]
    # every person the file allocates to an authority is stored, none twice
    assert store.scalar("SELECT sum(people) FROM dispersal") == sum(int(x["People"]) for x in allocated)


def test_rows_carrying_another_authoritys_code_land_on_the_authority_their_name_says(release):
    store, _ = release
    by_name: dict[tuple[str, str], int] = defaultdict(int)
    wrong = 0
    for x in _rows():
        if x["Date"] == "2022-12-31" and x["Support Type"] == "Section 98" and not x["LAD Code"].startswith("N/A"):
            code = local_authorities.codes_named(x["Local Authority"])
            wrong += x["LAD Code"] not in code
            by_name[(x["Local Authority"], x["LAD Code"] if x["LAD Code"] in code else code[-1])] += int(x["People"])
    assert wrong == 46  # (the 47th repair is a typing slip of 2014: "Bamberg" for Babergh)
    for (name, code), people in by_name.items():
        assert _stored(store, code, "2022-12-31", "Section 98%") == people, name
    # Bradford's Section 98 figure is Bradford's (311 + 134 + 7 under Hull's code, 8 + 7 under its own)
    assert _stored(store, "E08000032", "2022-12-31", "Section 98%") == 467
    hull = sum(int(x["People"]) for x in _rows() if x["Date"] == "2022-12-31" and x["Support Type"] == "Section 98"
               and x["Local Authority"] == "Kingston upon Hull, City of")
    assert _stored(store, "E06000010", "2022-12-31", "Section 98%") == hull
    assert _stored(store, "S12000014", "2022-12-31", "Section 98%") == 20 + 12  # Falkirk, under two others' codes
    repairs = store.con.execute("SELECT given, stored, reason FROM repairs WHERE field = 'la_code' "
                                "AND given LIKE 'E06000010 Bradford'").fetchall()
    assert {s for _, s, _ in repairs} == {"E08000032"} and len(repairs) == 3
    assert "Kingston upon Hull, City of's code" in repairs[0][2]


def test_repeated_rows_are_added_up_and_recorded(release):
    store, _ = release
    assert _stored(store, "E08000031", "2023-03-31", "Section 98 / Dispersal Accommodation") == 4 + 12
    given = store.scalar("SELECT given FROM repairs WHERE field = 'people' AND reason LIKE '%E08000031%'")
    assert given == "4; 12"


def test_one_spelling_per_support_type_and_region(release):
    store, _ = release
    supports = [r[0] for r in store.con.execute("SELECT DISTINCT support_type FROM dispersal").fetchall()]
    regions = [r[0] for r in store.con.execute("SELECT DISTINCT region FROM dispersal").fetchall()]
    for labels in (supports, regions):
        assert len({x.casefold().replace(" ", "") for x in labels}) == len(labels)
    assert "Section 95 / Subsistence Only" in supports and "Yorkshire and The Humber" in regions
    assert "East of England" in regions and "East Of England" not in regions


def test_the_vocabulary_agrees_with_every_code_and_name_the_release_uses():
    """Written down from ONS, tested against the publisher: every code is known, and every name
    is its code's, except 46 rows of 31 Dec 2022 and one typing slip (``Bamberg``)."""
    disagree = set()
    for x in _rows():
        code, name = x["LAD Code"], x["Local Authority"]
        if code.startswith("N/A"):
            continue
        assert code in local_authorities.authorities(), code
        if not local_authorities.is_named(code, name):
            disagree.add((x["Date"], code, name))
    assert {d for d, _, _ in disagree} == {"2014-03-31", "2022-12-31"}
    assert ("2014-03-31", "E07000200", "Bamberg") in disagree


def test_retired_districts_sum_into_todays_authorities(release):
    store, _ = release
    table = dispersal.trend(store.con, region="North West")
    assert not table["la_code"].isin(["E07000027", "E07000028", "E07000029", "E07000030", "E07000031"]).any()
    raw = dispersal.trend(store.con, region="North West", current=False)
    for today, olds in {"E06000063": ["E07000026", "E07000028", "E07000029"],
                        "E06000064": ["E07000027", "E07000030", "E07000031"]}.items():
        line = table[table["la_code"] == today].set_index("period")
        before = raw[raw["la_code"].isin(olds)].groupby("period")["supported"].sum()
        assert len(before) > 8
        for when, supported in before.items():
            if when < dt.date(2023, 4, 1):
                assert line.loc[when, "supported"] == supported
                assert set(line.loc[when, "carried_from"].split(", ")) <= set(olds)
        # one unbroken line: every date from the districts' first to the release's last
        dates = sorted(line.index)
        assert dates[0] == min(before.index) and dates[-1] == dt.date(2024, 9, 30)
    moved = dispersal.carried_forward(store.con)
    row = moved[moved["code"] == "E07000028"].iloc[0]
    assert (row["today"], row["today_name"], str(row["date"])) == ("E06000063", "Cumberland", "2023-04-01")
    assert "Cumbria (Structural Changes) Order 2022" in row["reference"]
    taunton = moved[moved["code"] == "E07000190"].iloc[0]  # two steps: 2019, then 2023
    assert (taunton["today"], str(taunton["date"]), taunton["change"]) == \
        ("E06000066", "2023-04-01", "merge then merge")
    assert taunton["reference"].startswith("The Somerset West and Taunton") and "Somerset (Structural" in \
        taunton["reference"]


def test_series_breaks_are_said_where_they_happen(release):
    store, _ = release
    types = ["Section 95 / Subsistence Only", "Section 95 / Dispersal Accommodation"]
    table = dispersal.trend(store.con, las=["E08000025"], support_types=types)
    noted = sorted(str(d) for d in table.loc[table["series_note"] != "", "period"])
    assert noted == ["2023-12-31", "2024-03-31", "2024-06-30", "2024-09-30"]
    assert "Subsistence Only (Dec 2023 - Sep 2024)" in table["series_note"].iloc[-1]
    section98 = dispersal.trend(store.con, las=["E08000025"],
                                      support_types=["Section 98 / Dispersal Accommodation"])
    assert section98.loc[section98["period"] < dt.date(2022, 12, 31), "series_note"].str.contains("pre-Dec 2022").all()


def test_the_cli_marks_the_break_and_names_the_mapping(release, capsys):
    from assetmap.cli import main

    store, _ = release
    assert main(["dispersal", "--la", "E06000063", "--from", "2022-06-01", "--db", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert "Series break, 31 Dec 2023 to 30 Sep 2024" in out
    assert "Carlisle (E07000028) in Cumberland (E06000063) from 01 Apr 2023" in out
    assert "counts, not rates" in out  # no residents are loaded here


def _write(rows, path, change=lambda x: x):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for x in rows:
            w.writerow(change(dict(x)))


def test_the_same_release_twice_changes_nothing(tmp_path):
    rows = _rows()
    with Store(tmp_path / "s.duckdb") as store:
        ingest_file(store, RELEASE)
        before = store.con.execute("SELECT * EXCLUDE (ingest_id, source) FROM dispersal ORDER BY ALL").fetchall()
        again = tmp_path / "copy.csv"
        shutil.copy(RELEASE, again)
        assert ingest_file(store, again).status == "unchanged"
        resaved = tmp_path / "resaved.csv"  # other bytes, same figures: read again, nothing added
        _write(rows, resaved)
        r = ingest_file(store, resaved)
        assert r.status == "completed" and r.rows_accepted == 21_596
        after = store.con.execute("SELECT * EXCLUDE (ingest_id, source) FROM dispersal ORDER BY ALL").fetchall()
        assert after == before


def test_a_later_release_replaces_an_earlier_one_and_never_adds(tmp_path):
    rows = _rows()
    older = tmp_path / "asy_d11_dec2023.csv"  # an earlier release: to Dec 2023, with other figures
    _write([x for x in rows if x["Date"] <= "2023-12-31"], older,
           lambda x: {**x, "People": str(int(x["People"]) + 1)})
    with Store(tmp_path / "a.duckdb") as a:  # newer first, then the older
        ingest_file(a, RELEASE)
        newer = a.con.execute("SELECT * EXCLUDE (ingest_id) FROM dispersal ORDER BY ALL").fetchall()
        r = ingest_file(a, older)
        assert r.status == "completed" and r.rows_accepted == 0
        unallocated = sum(x["Date"] <= "2023-12-31" and x["LAD Code"].startswith("N/A") for x in rows)
        assert a.scalar("SELECT count(*) FROM quarantine WHERE ingest_id = ? AND reason_code = 'superseded'",
                        [r.ingest_id]) == r.rows_quarantined - unallocated
        assert a.con.execute("SELECT * EXCLUDE (ingest_id) FROM dispersal ORDER BY ALL").fetchall() == newer
    with Store(tmp_path / "b.duckdb") as b:  # older first, then the newer
        ingest_file(b, older)
        assert _stored(b, "E08000031", "2023-03-31", "Section 98 / Dispersal Accommodation") == 5 + 13
        ingest_file(b, RELEASE)
        assert b.con.execute("SELECT * EXCLUDE (ingest_id) FROM dispersal ORDER BY ALL").fetchall() == newer
        assert _stored(b, "E08000031", "2023-03-31", "Section 98 / Dispersal Accommodation") == 16


def test_a_file_holding_a_quarter_twice_is_caught_not_added(tmp_path):
    rows = [x for x in _rows() if x["Date"] == "2024-09-30"]
    doubled = tmp_path / "pasted_twice.csv"
    _write(rows + rows, doubled)
    with Store(tmp_path / "s.duckdb") as store:
        r = ingest_file(store, doubled)
        allocated = [x for x in rows if not x["LAD Code"].startswith("N/A")]
        assert store.scalar("SELECT sum(people) FROM dispersal") == sum(int(x["People"]) for x in allocated)
        reasons = dict(store.con.execute("SELECT reason_code, count(*) FROM quarantine WHERE ingest_id = ? "
                                         "GROUP BY 1", [r.ingest_id]).fetchall())
        assert reasons["duplicate_quarter"] == len(allocated)
        assert r.rows_read == r.rows_accepted + r.rows_quarantined == 2 * len(rows)


def test_the_vocabulary_is_whole_and_its_successors_lead_to_authorities_in_use():
    known = local_authorities.authorities()
    for reorg in local_authorities.REORGANISATIONS:
        assert reorg.new in known and all(c in known for c in reorg.olds), reorg
        assert reorg.kind in {"merge", "recode"} and reorg.reference
    for code in known:
        today = local_authorities.current(code)
        assert known[today].ended is None, code  # every chain ends at an authority in use
    assert local_authorities.current("E07000190") == "E06000066"  # Taunton Deane: 2019, then Somerset 2023
    assert local_authorities.current("S12000046") == "S12000049"
    assert len([a for a in known.values() if a.ended is None]) == 361  # the UK's authorities in 2024


def test_a_name_that_could_be_two_authorities_is_quarantined_not_guessed(tmp_path, monkeypatch):
    named = local_authorities.codes_named
    monkeypatch.setattr(local_authorities, "codes_named",
                        lambda name: ("E08000032", "E06000011") if name == "Bradriding" else named(name))
    p = tmp_path / "asy.csv"
    p.write_text("Date,Support Type,UK Region,Local Authority,LAD Code,Accommodation Type,People\n"
                 "2024-09-30,Section 95,Yorkshire and The Humber,Bradriding,E06000010,Dispersal Accommodation,5\n"
                 "2024-09-30,Section 95,Yorkshire and The Humber,Bradford,E06000010,Dispersal Accommodation,6\n",
                 encoding="utf-8")
    with Store(tmp_path / "s.duckdb") as store:
        r = ingest_file(store, p)
        assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (2, 1, 1)
        assert store.scalar("SELECT reason_code FROM quarantine") == "code_name_mismatch"
        assert "2 authorities are called Bradriding" in store.scalar("SELECT message FROM quarantine")
        assert store.con.execute("SELECT la_code, people FROM dispersal").fetchall() == [("E08000032", 6)]


@pytest.fixture
def release_published(release, tmp_path, monkeypatch):
    """The release in a store of its own, published, with the dashboard's settings pointing at it."""
    from assetmap.settings import settings
    from assetmap.snapshots import publish

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(release[0].path, home / "assetmap.duckdb")
    with Store(home / "assetmap.duckdb") as store:
        publish(store, reason="the Asy_D11 release")
    monkeypatch.setattr(settings, "db_path", home / "assetmap.duckdb")
    monkeypatch.setattr(settings, "dashboard_mode", "public")
    return home


def _lines(at) -> set[str]:
    """The authorities drawn on the page's chart over time (its data, as the browser receives it)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    chart = at.get("vega_lite_chart")[0].proto
    frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.datasets]
    return {a for f in frames if "authority" in f.columns for a in f["authority"]}


def test_the_pages_show_the_breaks_the_mapping_and_the_repairs(release_published):
    from tests.test_dashboard_pages import ok, page

    at = page("dispersal_review")
    at.selectbox(key="d-region").set_value("North West").run()
    ok(at)
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "Series break, 31 Dec 2023 to 30 Sep 2024" in warnings and "Subsistence Only" in warnings
    moved_el = next(d for d in at.dataframe if "today_name" in d.value.columns)
    headings = {k: v.get("label") for k, v in json.loads(moved_el.proto.columns).items()}
    assert headings["today_name"] == "Today's authority" and headings["code"] == "Retired code"  # words, not names
    moved = moved_el.value
    assert {"E07000028", "E07000029", "E07000027", "E07000030", "E07000031"} <= set(moved["code"])
    assert set(moved.loc[moved["code"] == "E07000028", "today_name"]) == {"Cumberland"}
    assert any("counts, not rates" in i.value for i in at.info)  # no residents loaded here
    assert "Cumberland (E06000063)" in _lines(at) and "Carlisle (E07000028)" not in _lines(at)
    at.toggle(key="d-published").set_value(True).run()
    ok(at)
    assert "Carlisle (E07000028)" in _lines(at)  # Carlisle's own line, as published
    assert not any("today_name" in d.value.columns for d in at.dataframe)

    at = ok(page("provenance"))
    fixed = next(d.value for d in at.dataframe if "reason" in d.value.columns and "given" in d.value.columns)
    assert len(fixed) == 66 and "E06000010 Bradford" in set(fixed["given"])


@pytest.mark.parametrize("name", ["asy_d11_sep2024_layout_sample.csv", "asy_d11_sep2024_layout_sample.xlsx",
                                  "asy_d11_2026_layout_sample.xlsx"])
def test_the_published_workbook_layouts_are_read_and_checked_alike(tmp_path, name):
    with Store(tmp_path / "s.duckdb") as store:
        r = ingest_file(store, SHARED / "asy_d11" / name)
        assert r.status == "completed" and r.kind == "dispersal", r.message
        assert r.rows_read == r.rows_accepted + r.rows_quarantined and r.rows_accepted > 0
        reasons = {x[0] for x in store.con.execute("SELECT reason_code FROM quarantine").fetchall()}
        assert reasons <= {"invalid_code"}  # only support not allocated to an authority
        for code, la_name in store.con.execute("SELECT DISTINCT la_code, la_name FROM dispersal").fetchall():
            assert local_authorities.is_named(code, la_name), (code, la_name)
