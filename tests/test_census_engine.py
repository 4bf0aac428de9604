"""The wide census table read by DuckDB gives what the row-by-row reader gives: the same rows, the
same quarantine (reasons, messages, raw rows), the same row accounting and lookups."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from assetmap.sources import census
from tests.conftest import real_data

HEADER = ("date,geography,geography code,Ethnic group: Total: All usual residents,Ethnic group: White,"
          '"Ethnic group: White: English, Welsh, Scottish, Northern Irish or British",Ethnic group: White: Irish,'
          "Ethnic group: White: Other White,Ethnic group: Other ethnic group: Any other ethnic group,LSOA21CD\n")


def both(path, data: bytes, **options):
    fast = census.read(path, data, options)
    slow = census.read_rows(path, data, options)
    return fast, slow


def assert_same(fast, slow, engine: str | None = "duckdb") -> None:
    assert fast.meta.get("engine") == engine
    key = ["area_code", "variable", "category"]
    f = fast.frame.sort_values(key).reset_index(drop=True)
    s = slow.frame.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(f, s[f.columns], check_dtype=False)
    assert fast.quarantine == slow.quarantine
    assert fast.rows_read == slow.rows_read
    assert fast.meta["layout"] == slow.meta["layout"] and fast.meta["vintage"] == slow.meta["vintage"]
    def ordered(lk):  # the order of lookup rows does not matter to the store
        return None if lk is None else lk.sort_values(list(lk.columns)).reset_index(drop=True)

    lf, ls = ordered(fast.lookup), ordered(slow.lookup)
    if lf is None or ls is None:
        assert lf is None and ls is None
    else:
        pd.testing.assert_frame_equal(lf, ls)


def test_the_demo_s_published_tables(demo_dir):
    from assetmap.sources import sniff

    tables = [f for f in sorted((demo_dir / "census").glob("*.csv")) if sniff(f, f.read_bytes()) == "census"]
    assert len(tables) == 3  # TS021, TS029, TS004 (TS024 has a reader of its own)
    for f in tables:
        data = f.read_bytes()
        assert_same(*both(f, data))  # TS029 comes long, as the Nomis API gives it


def test_a_messy_table_quarantines_the_same_rows_for_the_same_reasons(tmp_path):
    rows = [
        "2021,A,E00900001,10,9,5,1,3,1,E01000001",        # good; the remainder 0
        "2021,B,E00900002,12,9,5,1,2,1,E01000002",        # good; 2 people unlisted
        "2021,C,E0090000X,10,9,5,1,3,1,E01000003",        # not a GSS code
        "2021,D,E00900001,10,9,5,1,3,1,E01000001",        # the same area again
        "2021,E,E00900003,10,9,5,x,3,1,E01000003",        # not a count
        "2021,F,E00900004,5,9,5,1,3,1,E01000004",         # categories above the total
        "2021,G, E00900005 ,\"1,000\",9,5,1,3,1,nonsense",  # thousands, spaces; a parent that is no code
        "2021,H,E00900006,,9,5,1,3,1,E01000006",          # an empty total
        "2021,I,E00900007,10,9,5,1,3.0,1,E01000007",      # 3.0 is a count
        "2021,J,E00900007,10,9,5,1,3,1,E01000007",        # a duplicate of an accepted row
    ]
    path = tmp_path / "ts021_messy_2021.csv"
    data = (HEADER + "\n".join(rows) + "\n").encode()
    fast, slow = both(path, data)
    assert_same(fast, slow)
    assert sorted({q["reason_code"] for q in fast.quarantine}) == [
        "duplicate_area", "invalid_code", "invalid_count", "total_mismatch"]
    assert "unlisted" in set(fast.frame["category"])


LONG_HEADER = ("Output Areas Code,Output Areas,Proficiency in English language (6 categories) Code,"
               "Proficiency in English language (6 categories),Observation\n")
ENG = "Main language is not English (English or Welsh in Wales): "


def test_a_messy_long_table_quarantines_the_same_rows_for_the_same_reasons(tmp_path):
    rows = [
        "E00900001,a,0,Total: All usual residents aged 3 and over,20",
        "E00900001,a,1,Main language is English (English or Welsh in Wales),12",
        f"E00900001,a,2,{ENG}Can speak English very well,3",
        f"E00900001,a,3,{ENG}Can speak English well,2",
        f"E00900001,a,4,{ENG}Cannot speak English well,1",   # 18 listed: 2 unlisted
        f"E00900001,a,4,{ENG}Cannot speak English well,1",   # twice
        "E0090000X,b,1,Main language is English (English or Welsh in Wales),5",  # not a code
        "E00900002,c,1,Main language is English (English or Welsh in Wales),many",  # not a count
        "E00900002,c,9,Speaks Klingon,4",                     # not a category
        f"E00900002,c,5,{ENG}Cannot speak English,\"1,200\"",  # thousands
        "E00900003,d,0,Total: All usual residents aged 3 and over,",  # an empty total
        "E00900003,d,1,Main language is English (English or Welsh in Wales),7",
    ]
    path = tmp_path / "ts029_messy_2021.csv"
    data = (LONG_HEADER + "\n".join(rows) + "\n").encode()
    fast, slow = both(path, data)
    assert_same(fast, slow)
    assert sorted({q["reason_code"] for q in fast.quarantine}) == [
        "duplicate_area", "invalid_code", "invalid_count", "total_row", "unknown_category"]
    assert "unlisted" in set(fast.frame["category"])


def test_a_gzipped_table_and_a_forced_variable(tmp_path):
    path = tmp_path / "ethnic.csv.gz"
    data = gzip.compress((HEADER + "2021,A,E00900001,10,9,5,1,3,1,E01000001\n").encode())
    assert_same(*both(path, data, vintage="2021"))


@pytest.mark.parametrize("damage", [
    b"\n\n",                                   # a blank line
    b"2021,Z,E00900009,10,9,5,1,3,1,E01000009,extra\n",  # a row of the wrong length
    "2021,Z\xe9,E00900009,10,9,5,1,3,1,E01000009\n".encode("cp1252"),  # not UTF-8
])
def test_a_damaged_table_goes_row_by_row(tmp_path, damage):
    path = tmp_path / "ts021_damaged_2021.csv"
    data = (HEADER + "2021,A,E00900001,10,9,5,1,3,1,E01000001\n").encode() + damage + \
        b"2021,B,E00900002,10,9,5,1,3,1,E01000002\n"
    got = census.read(path, data, {})
    assert got.meta.get("engine") != "duckdb"
    assert got.rows_read == len(got.quarantine) + got.frame["row_number"].nunique()


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.concurrent
@pytest.mark.xdist_group("census_engine")
def test_the_national_2011_file():
    """Both engines on every fourth row of the national file (45,352 real OAs, from every part of
    England and Wales; the whole file took the row-by-row reader 23 s of a 20-minute suite, and
    tests/test_realdata.py ingests all of it)."""
    import gzip

    path = real_data("census2011", "oa_ethnic_group_2011_ew.csv.gz")
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    data = b"".join([lines[0], *lines[1::4]])
    fast, slow = both(path.with_suffix(""), data)
    assert fast.rows_read == 45_352
    assert_same(fast, slow)


def test_a_messy_lookup_quarantines_the_same_rows_for_the_same_reasons(tmp_path):
    from assetmap.sources import lookup

    rows = [
        "OA21CD,WD22CD,LAD22CD",
        "E00900001,E05900001,E06000001",
        "E00900002,E05900001,",            # no LA: only the ward
        "E0090000X,E05900001,E06000001",   # not an OA
        "E00900003,E06000001,E06000001",   # a ward column holding an LA
        "E00900001,E05900002,E06000001",   # the same OA again
        " E00900004 , E05900002 ,E06000002",
    ]
    path = tmp_path / "oa_ward_lookup.csv"
    data = ("\n".join(rows) + "\n").encode()
    fast, slow = lookup.read(path, data, {}), lookup.read_rows(path, data, {})
    assert fast.meta.get("engine") == "duckdb"
    pd.testing.assert_frame_equal(fast.frame.reset_index(drop=True), slow.frame.reset_index(drop=True),
                                  check_dtype=False)
    assert fast.quarantine == slow.quarantine and fast.rows_read == slow.rows_read
    assert sorted({q["reason_code"] for q in fast.quarantine}) == ["duplicate_area", "invalid_code"]


def test_the_demo_lookup(demo_dir):
    from assetmap.sources import lookup

    for f in sorted((demo_dir / "lookups").glob("oa_*.csv")):
        data = f.read_bytes()
        fast, slow = lookup.read(f, data, {}), lookup.read_rows(f, data, {})
        assert fast.meta.get("engine") == "duckdb"
        pd.testing.assert_frame_equal(fast.frame.reset_index(drop=True), slow.frame.reset_index(drop=True),
                                      check_dtype=False)
        assert fast.quarantine == slow.quarantine and fast.rows_read == slow.rows_read
