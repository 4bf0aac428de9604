"""Census main-language tables at output area.

2021 TS024 (as Nomis publishes it) and 2011 QS204EW, one column per language, rows per area.

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
import numpy as np
import pandas as pd

from assetmap.db.sql import scalar
from assetmap.sources._io import FileRefused, ReadResult, drop_repeats, level_of, quarantine_row, read_csv_records
from assetmap.sources.registry import Reader, Written
from assetmap.vocab.file_kinds import KINDS
from assetmap.vocab.languages import language_slug

KIND = "languages"
#: A main-language table has at least this many language columns (beside its code column).
_MIN_LANGUAGES = 3
VARIABLE = "main_language"
_PREFIX = re.compile(r"^\s*main\s+language(\s*\(detailed\))?\s*:\s*", re.I)
_MEASURE = re.compile(r";\s*measures\s*:\s*value\s*$", re.I)
_LEVELS = ("oa", "lsoa", "msoa", "ward")
_CODE_HEADERS = ("geography code", "geography_code", "geographycode", "oa21cd", "oa11cd", "code")


def _label(header: str) -> str | None:
    """Return a language column's label without the table's prefix, or None for a column that is not one."""
    if not _PREFIX.search(header):
        return None
    return _MEASURE.sub("", _PREFIX.sub("", header)).strip()


def looks_like_languages(header: list[str]) -> bool:
    """Whether a header (or document) is this reader's format."""
    labels = [_label(h) for h in header]
    return sum(1 for lab in labels if lab) >= _MIN_LANGUAGES and any(h.strip().lower() in _CODE_HEADERS for h in header)


def _is_total(label: str) -> bool:
    low = label.lower()
    return "all usual residents" in low


def _is_subtotal(label: str) -> bool:
    last = label.split(":")[-1].strip().lower()
    return last.startswith("total") or last.endswith("(all)") or last == "all"


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
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
    slugs = sorted(set(columns.values()))
    table = pd.DataFrame.from_records([row for _, row in rec.rows], columns=rec.header) if rec.rows else \
        pd.DataFrame(columns=rec.header)
    row_numbers = np.array([rn for rn, _ in rec.rows], dtype=int)
    codes = table[code_col].fillna("").astype(str).str.strip().to_numpy(dtype=object)
    good_code = np.fromiter((level_of(c) in _LEVELS for c in codes), bool, len(codes))
    used = [total_col, *columns]
    text = {h: table[h].fillna("").astype(str).str.strip().str.replace(",", "", regex=False) for h in used}
    numeric = {h: t.str.fullmatch(r"\d+").fillna(False).to_numpy(dtype=bool) for h, t in text.items()}
    all_numeric = np.logical_and.reduce([numeric[h] for h in used]) if used else np.ones(len(codes), bool)
    counts = np.zeros((len(codes), len(slugs)), dtype=np.int64)
    total = np.where(numeric[total_col], pd.to_numeric(text[total_col].where(numeric[total_col], "0")), 0)
    for h, slug in columns.items():
        counts[:, slugs.index(slug)] += np.where(numeric[h], pd.to_numeric(text[h].where(numeric[h], "0")), 0)
    listed = counts.sum(axis=1)
    ok = good_code & all_numeric & (listed <= total)
    for i in np.flatnonzero(~ok):  # only the bad rows are looked at one by one, to say why
        rn, row = rec.rows[i]
        if not good_code[i]:
            quarantine.append(quarantine_row(rn, row, "invalid_code",
                                             f"row {rn}: {codes[i]!r} is not an area's GSS code"))
        elif not all_numeric[i]:
            h = next(h for h in used if not numeric[h][i])
            quarantine.append(quarantine_row(rn, row, "invalid_value",
                                             f"row {rn}: {h!r} is {text[h].iloc[i] or 'empty'!r}, not a count"))
        else:
            quarantine.append(quarantine_row(
                rn, row, "invalid_value",
                f"row {rn}: the languages add up to {listed[i]}, more than the total {total[i]}"))
    frame = pd.DataFrame({"row_number": row_numbers[ok], "area_code": codes[ok]})
    frame = drop_repeats(frame, ["area_code"], rec.rows, quarantine, "the same area")
    kept = np.flatnonzero(ok)[~pd.Index(row_numbers[ok]).isin(
        set(row_numbers[ok]) - set(frame["row_number"]))] if len(frame) != int(ok.sum()) else np.flatnonzero(ok)
    block = np.column_stack([counts[kept], (total[kept] - listed[kept])[:, None]])
    names = np.array([*slugs, "unlisted"], dtype=object)
    r_i, c_i = np.nonzero(block)
    long = pd.DataFrame({"row_number": row_numbers[kept][r_i], "area_code": codes[kept][r_i],
                         "category": names[c_i], "count": block[r_i, c_i]})
    return ReadResult(KIND, long, quarantine, rec.rows_read,
                      {"vintage": vintage, "areas": len(frame), "languages": slugs})


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    frame = result.frame
    vintage = result.meta.get("vintage", "2021")
    areas = int(result.meta.get("areas", frame["area_code"].nunique() if len(frame) else 0))
    if len(frame):
        con.register("_l", frame[["area_code", "category", "count"]])
        try:
            if scalar(con, "SELECT EXISTS (SELECT 1 FROM population WHERE variable = ? AND vintage = ?)",
                      [VARIABLE, vintage]):  # a first table of its vintage has nothing to replace
                con.execute("DELETE FROM population WHERE variable = ? AND vintage = ? AND area_code IN "
                            "(SELECT DISTINCT area_code FROM _l)", [VARIABLE, vintage])
            con.execute("""INSERT INTO population (area_code, variable, category, count, vintage, source, ingest_id)
                           SELECT area_code, ?, category, count, ?, ?, ? FROM _l""",
                        [VARIABLE, vintage, source, ingest_id])
        finally:
            con.unregister("_l")
    return Written(areas, result.quarantine, [], 0,
                   f"main languages of {areas} areas ({vintage}; {len(result.meta.get('languages', []))} columns)")


READER = Reader(
    KIND, KINDS[KIND], read, write, tables=("population",),
    rank=2, csv=lambda header, _text, _options: looks_like_languages(header))
