"""Census main-language tables at output area: 2021 TS024 (as Nomis publishes it) and 2011
QS204EW, one column per language, rows per area.

Headers such as ``Main language (detailed): Other European language (EU): Polish`` (2021) or
``Main Language: South Asian Language: Panjabi; measures: Value`` (2011) are read by their last
part; the total column (``…: Total: All usual residents aged 3 years and over`` / ``All usual
residents aged 3 and over``) gives each area's residents aged 3 and over. Languages the
vocabulary does not name are counted together as ``other``, and what the row's total holds
beyond its columns as ``unlisted``, so every area adds up to its total. Stored as the census
variable ``main_language``. Each row is stored or quarantined with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from assetmap.sources._io import FileRefused, ReadResult, drop_repeats, level_of, quarantine_row, read_csv_records
from assetmap.sources.registry import Reader, Written
from assetmap.vocab.languages import language_slug

KIND = "languages"
VARIABLE = "main_language"
_PREFIX = re.compile(r"^\s*main\s+language(\s*\(detailed\))?\s*:\s*", re.I)
_MEASURE = re.compile(r";\s*measures\s*:\s*value\s*$", re.I)
_CODE_HEADERS = ("geography code", "geography_code", "geographycode", "oa21cd", "oa11cd", "code")


def _label(header: str) -> str | None:
    """A language column's label without the table's prefix, or None for a column that is not one."""
    if not _PREFIX.search(header):
        return None
    return _MEASURE.sub("", _PREFIX.sub("", header)).strip()


def looks_like_languages(header: list[str]) -> bool:
    labels = [_label(h) for h in header]
    return sum(1 for lab in labels if lab) >= 3 and any(h.strip().lower() in _CODE_HEADERS for h in header)


def _is_total(label: str) -> bool:
    low = label.lower()
    return "all usual residents" in low


def _is_subtotal(label: str) -> bool:
    last = label.split(":")[-1].strip().lower()
    return last.startswith("total") or last.endswith("(all)") or last == "all"


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    path = Path(path)
    rec = read_csv_records(data, path)
    code_col = next((h for h in rec.header if h.strip().lower() in _CODE_HEADERS), None)
    total_col = next((h for h in rec.header if (lab := _label(h)) and _is_total(lab)), None)
    if code_col is None or total_col is None:
        raise FileRefused("missing_columns", f"{path}: a main-language table needs a geography code column and "
                                             "its total (all usual residents aged 3 and over)")
    columns: dict[str, str] = {}  # header -> slug ('other' for languages the vocabulary does not name)
    for h in rec.header:
        lab = _label(h)
        if not lab or h == total_col or _is_subtotal(lab):
            continue
        columns[h] = language_slug(lab.split(":")[-1]) or "other"
    vintage = str(options.get("vintage") or ("2011" if any("measures" in h.lower() for h in rec.header) else "2021"))
    quarantine = list(rec.quarantine)
    rows: list[tuple] = []
    ok_rows: list[tuple[int, str]] = []
    for rn, row in rec.rows:
        code = (row.get(code_col) or "").strip()
        if level_of(code) not in ("oa", "lsoa", "msoa", "ward"):
            quarantine.append(quarantine_row(rn, row, "invalid_code",
                                             f"row {rn}: {code!r} is not an area's GSS code"))
            continue
        counts: dict[str, int] = {}
        bad = None
        for h, slug in [(total_col, "_total"), *columns.items()]:
            text = (row.get(h) or "").strip().replace(",", "")
            if not text.isdigit():
                bad = f"row {rn}: {h!r} is {text or 'empty'!r}, not a count"
                break
            counts[slug] = counts.get(slug, 0) + int(text)
        if bad:
            quarantine.append(quarantine_row(rn, row, "invalid_value", bad))
            continue
        total = counts.pop("_total")
        listed = sum(counts.values())
        if listed > total:
            quarantine.append(quarantine_row(
                rn, row, "invalid_value", f"row {rn}: the languages add up to {listed}, more than the total {total}"))
            continue
        if total > listed:
            counts["unlisted"] = total - listed
        ok_rows.append((rn, code))
        rows += [(rn, code, slug, n) for slug, n in counts.items() if n > 0]
    frame = pd.DataFrame(ok_rows, columns=["row_number", "area_code"])
    frame = drop_repeats(frame, ["area_code"], rec.rows, quarantine, "the same area")
    long = pd.DataFrame(rows, columns=["row_number", "area_code", "category", "count"])
    long = long[long["row_number"].isin(frame["row_number"])]
    n_areas = len(frame)
    return ReadResult(KIND, long, quarantine, rec.rows_read,
                      {"vintage": vintage, "areas": n_areas, "languages": sorted(set(columns.values()))})


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    frame = result.frame
    vintage = result.meta.get("vintage", "2021")
    areas = int(result.meta.get("areas", frame["area_code"].nunique() if len(frame) else 0))
    if len(frame):
        con.register("_l", frame[["area_code", "category", "count"]])
        try:
            con.execute("DELETE FROM population WHERE variable = ? AND vintage = ? AND area_code IN "
                        "(SELECT area_code FROM _l)", [VARIABLE, vintage])
            con.execute("""INSERT INTO population (area_code, variable, category, count, vintage, source, ingest_id)
                           SELECT area_code, ?, category, count, ?, ?, ? FROM _l""",
                        [VARIABLE, vintage, source, ingest_id])
        finally:
            con.unregister("_l")
    return Written(areas, result.quarantine, [], 0,
                   f"main languages of {areas} areas ({vintage}; {len(result.meta.get('languages', []))} columns)")


READER = Reader(
    KIND, "census main-language table by area (2021 TS024, 2011 QS204EW)", read, write, tables=("population",),
    rank=2, csv=lambda header, _text, _options: looks_like_languages(header))
