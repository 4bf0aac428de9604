"""ONS / Nomis census CSV, wide (a column per category) or long (a row per category).

Wide: one row per area, an area-code column (``geography code``, ``OA21CD``, ``OA``...) and one
column per category, labelled as ONS or Nomis publish them (``Ethnic group: White: Irish``) or
in a known condensed form (``WhiteBrit``). Totals are used to check the row; subtotals ignored.

Long: one row per area and category, with an area-code column, a category-label column and an
``Observation`` (or ``count``) column; our own long form ``area_code, variable, category,
count`` too.

Columns ``LSOA``/``MSOA`` (or ``LSOA11CD``...) on an OA row become lookup rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import duckdb
import pandas as pd

from assetmap import vocab
from assetmap.db import geography
from assetmap.db.sql import upsert
from assetmap.sources._duckcsv import LongLayout, WideLayout, read_csv_head, read_long, read_wide
from assetmap.sources._io import (
    FileRefused,
    ReadResult,
    level_of,
    norm_key,
    quarantine_row,
    read_csv_records,
)
from assetmap.sources._store import upsert_lookup, wards_of_areas
from assetmap.sources.registry import Reader, Written
from assetmap.vocab.file_kinds import KINDS

KIND = "census"

_AREA_KEYS = {
    "geographycode", "outputareascode", "outputareacode", "oa", "oa11cd", "oa21cd", "oacode",
    "areacode", "geocode", "mnemonic", "lsoa11cd", "lsoa21cd", "msoa11cd", "msoa21cd",
    "wd22cd", "wd11cd", "lad21cd", "lad11cd",
}
_COUNT_KEYS = {"observation", "obsvalue", "count", "value", "observations"}
_PARENT_COLS = {"lsoa": "lsoa", "lsoa11cd": "lsoa", "lsoa21cd": "lsoa", "msoa": "msoa",
                "msoa11cd": "msoa", "msoa21cd": "msoa"}


def area_column(header: list[str]) -> str | None:
    """Return the column holding area codes, by name; the finest level wins."""
    candidates = [h for h in header if norm_key(h) in _AREA_KEYS]
    order = ["oa", "outputareascode", "outputareacode", "oa21cd", "oa11cd", "oacode", "geographycode",
             "areacode", "geocode", "mnemonic"]
    for key in order:
        for h in candidates:
            if norm_key(h) == key:
                return h
    return candidates[0] if candidates else None


def looks_like_census(header: list[str]) -> bool:
    """Whether a header (or document) is this reader's format."""
    if area_column(header) is None:
        return False
    if _long_columns(header) is not None:
        return True
    matched = [h for h in header if isinstance(vocab.match_label(h), tuple)]
    return len(matched) > 1


def _long_columns(header: list[str]) -> tuple[str, str, str | None] | None:
    """(category label column, count column, variable column) of a long layout, or None."""
    count = next((h for h in header if norm_key(h) in _COUNT_KEYS), None)
    if count is None:
        return None
    variable = next((h for h in header if norm_key(h) == "variable"), None)
    label = None
    for h in header:
        k = norm_key(h)
        nomis_categories = re.search(r"categories\)?$", h.strip().lower()) and not k.endswith("code")
        if k == "category" or nomis_categories or re.fullmatch(r"c\d{4}[a-z0-9]*name", k):
            label = h
    if label is None:
        return None
    return label, count, variable


def _vintage(options: dict[str, Any], path: Path, header: list[str], rows: list[Any]) -> str:
    if options.get("vintage"):
        return str(options["vintage"])
    date_col = next((h for h in header if norm_key(h) == "date"), None)
    if date_col and rows:
        value = rows[0][1].get(date_col, "").strip()
        if re.fullmatch(r"\d{4}", value):
            return cast("str", value)
    m = re.search(r"(20\d{2})", path.name)
    if m:
        return m.group(1)
    if any(norm_key(h) == "whitebrit" for h in header):
        return "2011"  # the MLID condensed 2011 extract
    return "unknown"


def _count(value: str) -> int | None:
    text = value.strip().replace(",", "")
    if not re.fullmatch(r"\d+(\.0+)?", text):
        return None
    return int(float(text))


def _wide_layout(header: list[str], area_col: str, forced_var: str | None
                 ) -> tuple[list[tuple[str, str, str]], str | None, list[tuple[str, str]]]:
    """Return a wide table's category columns, its total column and its parent columns.

    Return a wide table's category columns ``(header, variable, category)``, its total column, and the columns
    giving each area's LSOA or MSOA.
    """
    cat_cols: list[tuple[str, str, str]] = []
    total_col = None
    clean = {h: vocab.clean_label(h) for h in header}
    for h in header:
        if h == area_col:
            continue
        # a label that prefixes another label is a subtotal of it
        if any(o != clean[h] and o.startswith(clean[h] + ":") for o in clean.values()):
            continue
        match = vocab.match_label(h, forced_var)
        if match == vocab.TOTAL or norm_key(h) == "persons":
            total_col = total_col or h
        elif isinstance(match, tuple):
            cat_cols.append((h, *match))
    parent_cols = [(h, _PARENT_COLS[norm_key(h)]) for h in header if norm_key(h) in _PARENT_COLS and h != area_col]
    return cat_cols, total_col, parent_cols


def _read_in_duckdb(path: Path, data: bytes, options: dict[str, Any]) -> ReadResult | None:
    """Read and validate a clean table in DuckDB, as the row-by-row reader would.

    Read and validate a clean table (the national files are) in DuckDB, with the same rows, reasons and messages
    as the row-by-row reader below; None when the file needs that reader (another encoding, blank lines, rows of
    the wrong length...).
    """
    got = read_csv_head(path, data)
    if got is None:
        return None
    plain, delimiter, header, first = got
    area_col = area_column(header)
    if area_col is None:
        return None
    forced_var = vocab.normalise_variable(options["variable"]) if options.get("variable") else None
    pos = {h: i for i, h in enumerate(header)}
    vintage = _vintage(options, path, header, [(1, dict(zip(header, first, strict=False)))])
    lookup = None
    long = _long_columns(header)
    if long is not None:
        label_col, count_col, var_col = long
        read = read_long(plain, delimiter, LongLayout(header, pos[area_col], pos[label_col], pos[count_col],
                                                      pos[var_col] if var_col else None),
                         lambda pairs: _meanings(pairs, forced_var))
        if read is None:
            return None
        frame, quarantine, rows_read, short_areas, short_people = read
        layout_text = "long"
        if short_areas:
            layout_text += (f"; in {short_areas} areas the categories sum below the total: "
                            f"{short_people} people stored as '{vocab.UNLISTED}'")
    else:
        cat_cols, total_col, parent_cols = _wide_layout(header, area_col, forced_var)
        if len(cat_cols) <= 1:
            return None
        layout = WideLayout(header, pos[area_col], [(pos[h], var, cat) for h, var, cat in cat_cols],
                            pos[total_col] if total_col else None, [(pos[h], lvl) for h, lvl in parent_cols])
        wide = read_wide(plain, delimiter, layout)
        if wide is None:
            return None
        frame, quarantine, rows_read, lookup_rows, unlisted_rows, unlisted_people = wide
        layout_text = "wide"
        if unlisted_rows:
            layout_text += (f"; in {unlisted_rows} rows the categories sum below {total_col}: "
                            f"{unlisted_people} people stored as '{vocab.UNLISTED}'")
        if lookup_rows:
            lookup = pd.DataFrame(lookup_rows, columns=["area_code", "parent_level", "parent_code"])
    frame = frame[["area_code", "variable", "category", "row_number", "count"]]
    frame["vintage"] = vintage
    return ReadResult(KIND, frame, quarantine, rows_read,
                      {"layout": layout_text, "vintage": vintage, "encoding": "utf-8", "engine": "duckdb"}, lookup)


def _meanings(pairs: list[tuple[str, str]], forced_var: str | None) -> pd.DataFrame:
    """Return what each distinct (label, variable cell) of a long table is.

    Return what each distinct (label, variable cell) of a long table is, as the row-by-row reader decides it row
    by row: a total, a subtotal, an unknown label, or a category.
    """
    labels = {vocab.clean_label(label) for label, _ in pairs}
    subtotals = {lb for lb in labels if any(o.startswith(lb + ":") for o in labels)}
    rows: list[tuple[str, str, str, str | None, str | None, str]] = []
    for label, cell in pairs:
        var = forced_var
        if cell and cell.strip():
            var = vocab.normalise_variable(cell) or var
        clean = vocab.clean_label(label)
        match = vocab.SUBTOTAL if clean in subtotals else vocab.match_label(label, var)
        if match == vocab.TOTAL:
            rows.append((label, cell, "total", None, None, clean))
        elif match == vocab.SUBTOTAL:
            rows.append((label, cell, "subtotal", None, None, clean))
        elif isinstance(match, tuple):
            rows.append((label, cell, "category", match[0], match[1], clean))
        else:
            rows.append((label, cell, "unknown", None, None, clean))
    return pd.DataFrame(rows, columns=["label", "varcell", "kind", "variable", "category", "clean"])


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a census CSV into long rows ``row_number, area_code, variable, category, count``."""
    path = Path(path)
    fast = _read_in_duckdb(path, data, options)
    if fast is not None:
        return fast
    return read_rows(path, data, options)


def read_rows(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read row by row: every layout and every kind of damaged file, one row at a time."""
    path = Path(path)
    rec = read_csv_records(data, path)
    area_col = area_column(rec.header)
    if area_col is None:
        raise FileRefused("missing_columns", f"{path}: no area-code column (expected e.g. "
                                             "'geography code', 'OA21CD' or 'Output Areas Code')")
    vintage = _vintage(options, path, rec.header, rec.rows)
    forced_var = vocab.normalise_variable(options["variable"]) if options.get("variable") else None
    long = _long_columns(rec.header)
    quarantine = list(rec.quarantine)
    out = _Rows()
    lookup_rows: list[tuple[str, str, str]] = []

    def bad(rn: int, raw: dict[str, Any], code: str, msg: str) -> None:
        quarantine.append(quarantine_row(rn, raw, code, msg))

    if long is not None:
        layout = _read_long(rec.rows, area_col, long, forced_var, out, bad)
    else:
        cat_cols, total_col, parent_cols = _wide_layout(rec.header, area_col, forced_var)
        if len(cat_cols) <= 1:
            raise FileRefused("missing_columns", f"{path}: fewer than two columns are census "
                                                 "categories assetmap knows; nothing to read")
        layout = _read_wide(rec.rows, area_col, (cat_cols, total_col, parent_cols), out, lookup_rows, bad)
    frame = pd.DataFrame(out.columns)
    if not frame.empty:
        # several published categories may map onto one stored category (EU subgroups): sum them
        frame = (frame.groupby(["area_code", "variable", "category"], as_index=False, sort=False)
                 .agg(row_number=("row_number", "first"), count=("count", "sum")))
    frame["vintage"] = vintage
    lookup = pd.DataFrame(lookup_rows, columns=["area_code", "parent_level", "parent_code"]) \
        if lookup_rows else None
    return ReadResult(KIND, frame, quarantine, rec.rows_read,
                      {"layout": layout, "vintage": vintage, "encoding": rec.encoding}, lookup)


_Bad = Callable[[int, dict[str, Any], str, str], None]
_Records = list[tuple[int, dict[str, str]]]


class _Rows:
    """The accepted counts, column by column."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {"row_number": [], "area_code": [], "variable": [], "category": [],
                                              "count": []}

    def add(self, rn: int, code: str, variable: str, category: str, n: int) -> None:
        for key, value in zip(self.columns, (rn, code, variable, category, n), strict=True):
            self.columns[key].append(value)


def _read_long(rows: _Records, area_col: str, long: tuple[str, str, str | None], forced_var: str | None,
               out: _Rows, bad: _Bad) -> str:
    """Read a long table (one row per area and category); return the layout as the ingest reports it."""
    label_col, count_col, var_col = long
    seen: set[tuple[str, str, str]] = set()  # (area, variable, label)
    # a label that prefixes another label of the file is a subtotal of it (the Nomis API
    # gives "Europe: Other Europe" beside "Europe: Other Europe: EU countries")
    labels = {vocab.clean_label(row[label_col]) for _, row in rows}
    subtotals = {lb for lb in labels if any(o.startswith(lb + ":") for o in labels)}
    totals: dict[str, int] = {}
    for rn, row in rows:
        code = row[area_col].strip()
        if level_of(code) is None:
            bad(rn, row, "invalid_code", f"row {rn}: {code!r} is not a GSS area code")
            continue
        var = forced_var
        if var_col and row.get(var_col, "").strip():
            var = vocab.normalise_variable(row[var_col]) or var
        match = vocab.SUBTOTAL if vocab.clean_label(row[label_col]) in subtotals \
            else vocab.match_label(row[label_col], var)
        if match in (vocab.TOTAL, vocab.SUBTOTAL):
            if match == vocab.TOTAL and _count(row[count_col]) is not None:
                totals[code] = _count(row[count_col]) or 0
            bad(rn, row, "total_row", f"row {rn}: a total ({row[label_col]!r}), not a category; "
                                      "totals are derived, not stored")
            continue
        if not isinstance(match, tuple):
            bad(rn, row, "unknown_category",
                f"row {rn}: {row[label_col]!r} is not a census category assetmap knows")
            continue
        n = _count(row[count_col])
        if n is None:
            bad(rn, row, "invalid_count", f"row {rn}: count {row[count_col]!r} is not a whole "
                                          "number of zero or more")
            continue
        # the same published label twice is a duplicate; two labels that map onto one
        # stored category (EU subgroups) are summed later
        key = (code, match[0], vocab.clean_label(row[label_col]))
        if key in seen:
            bad(rn, row, "duplicate_area", f"row {rn}: {code} {row[label_col]!r} appears twice")
            continue
        seen.add(key)
        out.add(rn, code, match[0], match[1], n)
    return "long" + _long_unlisted(out, totals)


def _long_unlisted(out: _Rows, totals: dict[str, int]) -> str:
    """One table whose total rows count more than its categories.

    The rest is stored as unlisted; return what the layout should add about it.
    """
    variables = set(out.columns["variable"])
    if not totals or len(variables) != 1:
        return ""
    var = variables.pop()
    listed: dict[str, int] = {}
    for code, n in zip(out.columns["area_code"], out.columns["count"], strict=False):
        listed[code] = listed.get(code, 0) + n
    short = {code: t - listed[code] for code, t in totals.items() if code in listed and t > listed[code]}
    for code, n in short.items():
        out.add(0, code, var, vocab.UNLISTED, n)
    if not short:
        return ""
    return (f"; in {len(short)} areas the categories sum below the total: "
            f"{sum(short.values())} people stored as '{vocab.UNLISTED}'")


def _read_wide(rows: _Records, area_col: str,
               layout: tuple[list[tuple[str, str, str]], str | None, list[tuple[str, str]]],
               out: _Rows, lookup_rows: list[tuple[str, str, str]], bad: _Bad) -> str:
    """Read a wide table (one row per area, a column per category); return the layout as reported."""
    cat_cols, total_col, parent_cols = layout
    seen_codes: set[str] = set()
    unlisted_rows = unlisted_people = 0
    for rn, row in rows:
        code = row[area_col].strip()
        if level_of(code) is None:
            bad(rn, row, "invalid_code", f"row {rn}: {code!r} is not a GSS area code")
            continue
        if code in seen_codes:
            bad(rn, row, "duplicate_area", f"row {rn}: area {code} appears twice in the file")
            continue
        counts = _wide_counts(rn, row, cat_cols, bad)
        if counts is None:
            continue
        residual = _wide_residual(rn, row, cat_cols, counts, total_col, bad)
        if residual is None:
            continue
        seen_codes.add(code)
        cells = [(var, cat, n) for (_h, var, cat), n in zip(cat_cols, counts, strict=False)]
        cells += [(var, vocab.UNLISTED, n) for var, n in residual.items()]
        if residual:
            unlisted_rows += 1
            unlisted_people += sum(residual.values())
        for var, cat, n in cells:
            out.add(rn, code, var, cat, n)
        for h, lvl in parent_cols:
            parent = row[h].strip()
            if level_of(parent) == lvl:
                lookup_rows.append((code, lvl, parent))
    if not unlisted_rows:
        return "wide"
    return (f"wide; in {unlisted_rows} rows the categories sum below {total_col}: "
            f"{unlisted_people} people stored as '{vocab.UNLISTED}'")


def _wide_counts(rn: int, row: dict[str, str], cat_cols: list[tuple[str, str, str]], bad: _Bad) -> list[int] | None:
    """Return the row's count in each category column, or None (and the row refused) when one is not one."""
    counts = []
    for h, _var, _cat in cat_cols:
        n = _count(row[h])
        if n is None:
            bad(rn, row, "invalid_count", f"row {rn}: {h} = {row[h]!r} is not a whole number of zero or more")
            return None
        counts.append(n)
    return counts


def _wide_residual(rn: int, row: dict[str, str], cat_cols: list[tuple[str, str, str]], counts: list[int],
                   total_col: str | None, bad: _Bad) -> dict[str, int] | None:
    """Per variable, the people the row's total counts beyond its categories.

    None (and the row refused) when the categories sum to more than the total.
    """
    if total_col is None:
        return {}
    total = _count(row[total_col])
    per_var: dict[str, int] = {}
    for (_h, var, _cat), n in zip(cat_cols, counts, strict=False):
        per_var[var] = per_var.get(var, 0) + n
    if total is None or any(s > total for s in per_var.values()):
        bad(rn, row, "total_mismatch", f"row {rn}: categories sum to {max(per_var.values())}, more than "
                                       f"{total_col} = {row[total_col]!r}")
        return None
    return {var: total - s for var, s in per_var.items() if s < total}


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    frame = result.frame
    if frame.empty:
        return Written(0, result.quarantine, [], 0, "no census rows accepted")
    df = frame[["area_code", "variable", "category", "count", "vintage"]]
    con.register("_c", df)
    try:
        stored = con.execute(
            "SELECT EXISTS (SELECT 1 FROM population WHERE list_contains(?, variable) AND list_contains(?, vintage))",
            [sorted(df["variable"].unique().tolist()), sorted(df["vintage"].unique().tolist())]).fetchone()
        if stored and stored[0]:
            # categories stored before for the same areas but absent now would double count: drop them
            con.execute(
                """
                DELETE FROM population p
                USING (SELECT DISTINCT area_code, variable, vintage FROM _c) k
                WHERE p.area_code = k.area_code AND p.variable = k.variable AND p.vintage = k.vintage
                  AND NOT EXISTS (SELECT 1 FROM _c WHERE _c.area_code = p.area_code AND
                                  _c.variable = p.variable AND _c.category = p.category AND
                                  _c.vintage = p.vintage)
                """
            )
            upsert(con, "population", df, ["area_code", "variable", "category", "vintage"],
                   values={"area_code": "area_code", "variable": "variable", "category": "category",
                           "count": "count", "vintage": "vintage", "source": "?", "ingest_id": "?"},
                   params=[source, ingest_id])
        else:  # the first table of this variable and vintage: nothing to replace, a plain append
            con.execute(
                """INSERT INTO population (area_code, variable, category, count, vintage, source, ingest_id)
                   SELECT area_code, variable, category, count, vintage, ?, ? FROM _c""", [source, ingest_id])
    finally:
        con.unregister("_c")
    if result.lookup is not None and not result.lookup.empty:
        upsert_lookup(con, result.lookup, ingest_id)
        geography.refresh_parent_codes(con)
    areas = frame["area_code"].unique().tolist()
    # census rows need no validation beyond the reader's: what it did not quarantine is stored
    accepted = result.rows_read - len(result.quarantine)
    variables = ", ".join(sorted(frame["variable"].unique()))
    return Written(accepted, result.quarantine, wards_of_areas(con, areas), 0,
        f"{len(areas)} areas, {len(frame)} counts of {variables} ({result.meta.get('layout')}, "
        f"vintage {result.meta.get('vintage')})")


READER = Reader(
    KIND, KINDS[KIND],
    read, write, tables=("population", "area_lookup"), rank=3,
    csv=lambda header, _text, _options: looks_like_census(header))
