"""Tables read by DuckDB: the national census and lookup files in seconds, not a minute.

:func:`read_wide` and :func:`read_long` parse a clean census CSV with DuckDB's ``read_csv`` and
validate it in SQL, :func:`read_lookup` a lookup, with exactly the rules, reasons and messages of
the row-by-row readers in :mod:`assetmap.sources.census` and :mod:`assetmap.sources.lookup`
(which they are tested against). A file
that is not clean in the ways DuckDB and Python's ``csv`` might read differently (not UTF-8,
blank lines, quoted line breaks, rows of the wrong length) returns ``None`` and goes the
row-by-row way, which quarantines such rows one by one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from assetmap.sources._io import GSS_LEVELS, quarantine_row

#: A whole number of zero or more, perhaps with thousands separators or a ``.0``.
_COUNT_RE = r"^\d+(\.0+)?$"


@dataclass
class WideLayout:
    """Which columns (by position) hold what."""

    header: list[str]
    area: int
    categories: list[tuple[int, str, str]]  # (column, variable, category)
    total: int | None
    parents: list[tuple[int, str]]  # (column, level)


def _clean_text(plain: bytes) -> str | None:
    """Return the file as text when DuckDB and Python's ``csv`` read it alike; else None."""
    if plain.startswith(b"\xef\xbb\xbf"):
        plain = plain[3:]
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = text.replace("\r\n", "\n")
    if "\n\n" in body.rstrip("\n") or "\r" in body:
        return None  # blank lines or stray carriage returns: the row-by-row reader
    return text


def _gss_sql(col: str, level: str | None = None) -> str:
    """Return the SQL asking whether ``col`` is a supported GSS code.

    Of ``level``, when given, as :func:`assetmap.sources._io.level_of` says.
    The prefixes are a fixed vocabulary, never input.
    """
    prefixes = ", ".join(f"'{p}'" for p, lvl in GSS_LEVELS.items() if level is None or lvl == level) or "''"
    return f"(regexp_full_match({col}, '^[EWSNK][0-9]{{8}}$') AND substr({col}, 1, 3) IN ({prefixes}))"


def _count_sql(col: str) -> str:
    v = f"replace(trim({col}), ',', '')"
    return f"CASE WHEN regexp_full_match({v}, '{_COUNT_RE}') THEN CAST(CAST({v} AS DOUBLE) AS BIGINT) END"


def load(plain: bytes, delimiter: str, n: int) -> tuple[duckdb.DuckDBPyConnection, int] | None:
    """Return the file as table ``w0`` of a new in-memory DuckDB, and its row count.

    Return the file in table ``w0`` (columns ``c0``... as text, '' for empty, file order) of a new in-memory
    DuckDB, and its row count; None when DuckDB cannot read it as Python's ``csv`` would.
    """
    text = _clean_text(plain)
    if text is None:
        return None
    lines = text.rstrip("\n").count("\n")  # data rows, when none spans lines
    names = [f"c{i}" for i in range(n)]
    con = duckdb.connect()
    with tempfile.NamedTemporaryFile("w", suffix=".csv", encoding="utf-8", delete=True) as tmp:
        tmp.write(text)
        tmp.flush()
        try:
            con.execute(
                "CREATE TABLE w AS SELECT * FROM read_csv(?, header = true, delim = ?, quote = '\"', "
                "escape = '\"', strict_mode = true, null_padding = false, auto_detect = false, columns = ?)",
                [tmp.name, delimiter, dict.fromkeys(names, "VARCHAR")])
        except duckdb.Error:
            con.close()
            return None
    rows_read = int(con.execute("SELECT count(*) FROM w").fetchone()[0])  # type: ignore[index]
    if rows_read != lines:
        con.close()
        return None
    # an empty field is '' to Python's csv (DuckDB reads it as NULL)
    blanks = ", ".join(f"coalesce(c{i}, '') AS c{i}" for i in range(n))
    con.execute(f"CREATE TABLE w0 AS SELECT {blanks} FROM w ORDER BY rowid")  # noqa: S608 (positional names)
    return con, rows_read


def read_wide(plain: bytes, delimiter: str, layout: WideLayout) -> tuple[pd.DataFrame, list[dict[str, Any]], int,
                                                                      list[tuple[str, str, str]], int, int] | None:
    """Read and validate a wide census file in DuckDB.

    Returns ``(frame, quarantine, rows_read, lookup_rows, unlisted_rows, unlisted_people)`` with
    ``frame`` the long rows ``area_code, variable, category, row_number, count`` (file order,
    categories mapped onto one stored category summed); or None when the file is not clean
    enough for DuckDB to read it as Python's ``csv`` would.
    """
    loaded = load(plain, delimiter, len(layout.header))
    if loaded is None:
        return None
    con, rows_read = loaded
    try:
        return _validate(con, layout, rows_read)
    finally:
        con.close()


def _validate(con: duckdb.DuckDBPyConnection, layout: WideLayout, rows_read: int
              ) -> tuple[pd.DataFrame, list[dict[str, Any]], int, list[tuple[str, str, str]], int, int]:
    cats = layout.categories
    variables = list(dict.fromkeys(v for _, v, _ in cats))
    counts = ",\n".join(f"{_count_sql(f'c{i}')} AS n{k}" for k, (i, _, _) in enumerate(cats))
    sums = ",\n".join(
        f"({' + '.join(f'n{k}' for k, (_, v, _) in enumerate(cats) if v == var)}) AS s{j}"
        for j, var in enumerate(variables))
    all_counts = " AND ".join(f"n{k} IS NOT NULL" for k in range(len(cats)))
    first_bad = "coalesce(" + ", ".join(f"CASE WHEN n{k} IS NULL THEN {k} END" for k in range(len(cats))) + ")"
    if layout.total is not None:
        total = _count_sql(f"c{layout.total}")
        total_ok = "t IS NOT NULL AND " + " AND ".join(f"s{j} <= t" for j in range(len(variables)))
    else:
        total, total_ok = "NULL::BIGINT", "true"
    con.execute(f"""
        CREATE TABLE v AS
        WITH p AS (
            SELECT rowid + 1 AS rn, trim(c{layout.area}) AS code, *, {counts}, {total} AS t FROM w0),
        q AS (
            SELECT *, {sums},
                   {_gss_sql("code")} AS code_ok,
                   ({all_counts}) AS counts_ok,
                   {first_bad} AS bad_col
            FROM p),
        r AS (SELECT *, counts_ok AND ({total_ok}) AS numbers_ok FROM q)
        SELECT *, coalesce(count(*) FILTER (WHERE code_ok AND numbers_ok) OVER (
                      PARTITION BY code ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0 AS dup,
                  CASE WHEN NOT code_ok THEN 'invalid_code'
                       WHEN coalesce(count(*) FILTER (WHERE code_ok AND numbers_ok) OVER (
                           PARTITION BY code ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0
                           THEN 'duplicate_area'
                       WHEN NOT counts_ok THEN 'invalid_count'
                       WHEN NOT numbers_ok THEN 'total_mismatch' END AS reason
        FROM r""")  # noqa: S608 (positional columns and fixed SQL; every value is read from the file as data)
    quarantine = _quarantine(con, layout, variables)
    # the accepted rows, long: one value per category column, then each variable's unlisted
    # remainder; what each column holds comes in as a table of values, never as SQL text
    columns = [(f"n{k}", k, var, cat) for k, (_, var, cat) in enumerate(cats)]
    residuals = ""
    if layout.total is not None:
        columns += [(f"r{j}", len(cats) + j, var, "unlisted") for j, var in enumerate(variables)]
        residuals = ", " + ", ".join(f"CASE WHEN s{j} < t THEN t - s{j} END AS r{j}" for j in range(len(variables)))
    meaning = pd.DataFrame(columns, columns=["col", "pos", "variable", "category"])
    con.register("meaning", meaning)
    value_cols = ", ".join(c for c, *_ in columns)
    long = con.sql(
        f"""WITH a AS (SELECT rn, code, {', '.join(f'n{k}' for k in range(len(cats)))}{residuals}
                       FROM v WHERE reason IS NULL),
                u AS (UNPIVOT a ON {value_cols} INTO NAME col VALUE n)
            SELECT code AS area_code, m.variable, m.category, min(u.rn) AS row_number, sum(u.n)::BIGINT AS count
            FROM u JOIN meaning m USING (col)
            GROUP BY code, m.variable, m.category ORDER BY min(u.rn), min(m.pos)""")  # noqa: S608
    # Arrow-backed columns: DuckDB takes them back (into the store) without a copy
    long = long.to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
    unlisted_rows = unlisted_people = 0
    if layout.total is not None:
        any_short = " OR ".join(f"s{j} < t" for j in range(len(variables)))
        people = " + ".join(f"greatest(t - s{j}, 0)" for j in range(len(variables)))
        got = con.execute(f"SELECT count(*), coalesce(sum({people}), 0) FROM v "  # noqa: S608 (fixed SQL)
                          f"WHERE reason IS NULL AND ({any_short})").fetchone()
        unlisted_rows, unlisted_people = int(got[0]), int(got[1])  # type: ignore[index]
    lookup: list[tuple[str, str, str]] = []
    for col, lvl in layout.parents:
        gss = _gss_sql(f"trim(c{col})", lvl)  # positional column, fixed SQL
        lookup += [(code, lvl, parent) for code, parent in con.execute(
            f"SELECT code, trim(c{col}) FROM v WHERE reason IS NULL AND {gss} ORDER BY rn").fetchall()]  # noqa: S608
    return long, quarantine, rows_read, lookup, unlisted_rows, unlisted_people


def _quarantine(con: duckdb.DuckDBPyConnection, layout: WideLayout, variables: list[str]) -> list[dict[str, Any]]:
    """Return the rejected rows with the row-by-row reader's reasons and messages (they are few)."""
    n = len(layout.header)
    sums = ", ".join(f"s{j}" for j in range(len(variables)))
    rows = con.execute(
        f"SELECT rn, reason, code, bad_col, {sums}, {', '.join(f'c{i}' for i in range(n))} "  # noqa: S608
        "FROM v WHERE reason IS NOT NULL ORDER BY rn").fetchall()
    out = []
    for r in rows:
        rn, reason, code, bad_col = r[0], r[1], r[2], r[3]
        per_var = list(r[4:4 + len(variables)])
        fields = r[4 + len(variables):]
        row = dict(zip(layout.header, fields, strict=True))
        if reason == "invalid_code":
            msg = f"row {rn}: {code!r} is not a GSS area code"
        elif reason == "duplicate_area":
            msg = f"row {rn}: area {code} appears twice in the file"
        elif reason == "invalid_count":
            failed = layout.header[layout.categories[bad_col][0]]
            msg = f"row {rn}: {failed} = {row[failed]!r} is not a whole number of zero or more"
        else:
            total_col = layout.header[layout.total] if layout.total is not None else ""
            msg = (f"row {rn}: categories sum to {max(per_var)}, more than "
                   f"{total_col} = {row[total_col]!r}")
        out.append(quarantine_row(int(rn), row, str(reason), msg))
    return out


@dataclass
class LongLayout:
    """A long table: one row per area and category, by column position."""

    header: list[str]
    area: int
    label: int
    count: int
    variable: int | None


Meaning = Any  # (label text, variable cell) -> (kind, variable, category, clean label)


def read_long(plain: bytes, delimiter: str, layout: LongLayout, meaning_of: Any
              ) -> tuple[pd.DataFrame, list[dict[str, Any]], int, int, int] | None:
    """Read and validate a long census file in DuckDB, as the row-by-row reader does.

    ``meaning_of(pairs)`` takes the distinct ``(label, variable cell)`` pairs of the file and
    returns a frame ``label, varcell, kind, variable, category, clean`` with ``kind`` one of
    ``total``, ``subtotal``, ``unknown``, ``category``: the vocabulary's reading of each label,
    made once per label instead of once per row. Returns ``(frame, quarantine, rows_read,
    short_areas, short_people)`` or None (the row-by-row reader then).
    """
    loaded = load(plain, delimiter, len(layout.header))
    if loaded is None:
        return None
    con, rows_read = loaded
    try:
        var_cell = f"c{layout.variable}" if layout.variable is not None else "''"
        pairs = con.execute(f"SELECT DISTINCT c{layout.label}, {var_cell} FROM w0").fetchall()  # noqa: S608
        con.register("meaning", meaning_of(pairs))
        passed = "code_ok AND kind = 'category' AND n IS NOT NULL"
        con.execute(f"""
            CREATE TABLE v AS
            WITH p AS (
                SELECT w0.rowid + 1 AS rn, trim(c{layout.area}) AS code, w0.*, m.kind, m.variable, m.category,
                       m.clean, {_count_sql(f'c{layout.count}')} AS n
                FROM w0 JOIN meaning m ON m.label = w0.c{layout.label} AND m.varcell = {var_cell}),
            q AS (SELECT *, {_gss_sql("code")} AS code_ok FROM p)
            SELECT *,
                   CASE WHEN NOT code_ok THEN 'invalid_code'
                        WHEN kind IN ('total', 'subtotal') THEN 'total_row'
                        WHEN kind = 'unknown' THEN 'unknown_category'
                        WHEN n IS NULL THEN 'invalid_count'
                        WHEN coalesce(count(*) FILTER (WHERE {passed}) OVER (
                            PARTITION BY code, variable, clean ORDER BY rn
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0 THEN 'duplicate_area' END
                       AS reason
            FROM q""")  # noqa: S608 (positional columns and fixed SQL; values are data)
        quarantine = _long_quarantine(con, layout)
        long = con.sql(
            """SELECT code AS area_code, variable, category, min(rn) AS row_number, sum(n)::BIGINT AS count
               FROM v WHERE reason IS NULL GROUP BY code, variable, category ORDER BY min(rn)""")
        frame = long.to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
        short_areas = short_people = 0
        variables = con.execute("SELECT DISTINCT variable FROM v WHERE reason IS NULL").fetchall()
        has_totals = con.execute("SELECT count(*) FROM v WHERE code_ok AND kind = 'total' AND n IS NOT NULL"
                                 ).fetchone()[0]  # type: ignore[index]
        if has_totals and len(variables) == 1:  # one table: its total row says who no category lists
            var = variables[0][0]
            short = con.execute(
                """WITH t AS (SELECT code, arg_max(n, rn) AS total, min(rn) AS first FROM v
                              WHERE code_ok AND kind = 'total' AND n IS NOT NULL GROUP BY code),
                        l AS (SELECT code, sum(n) AS listed FROM v WHERE reason IS NULL GROUP BY code)
                   SELECT t.code, (t.total - l.listed)::BIGINT FROM t JOIN l USING (code)
                   WHERE t.total > l.listed ORDER BY t.first""").fetchall()
            if short:
                extra = pd.DataFrame({"area_code": [c for c, _ in short], "variable": var, "category": "unlisted",
                                      "row_number": 0, "count": [k for _, k in short]})
                frame = pd.concat([frame, extra.astype(frame.dtypes.to_dict())], ignore_index=True)
                short_areas, short_people = len(short), int(sum(k for _, k in short))
        return frame, quarantine, rows_read, short_areas, short_people
    finally:
        con.close()


def _long_quarantine(con: duckdb.DuckDBPyConnection, layout: LongLayout) -> list[dict[str, Any]]:
    n = len(layout.header)
    rows = con.execute(
        f"SELECT rn, reason, code, {', '.join(f'c{i}' for i in range(n))} FROM v "  # noqa: S608
        "WHERE reason IS NOT NULL ORDER BY rn").fetchall()
    label_col, count_col = layout.header[layout.label], layout.header[layout.count]
    out = []
    for r in rows:
        rn, reason, code = int(r[0]), str(r[1]), r[2]
        row = dict(zip(layout.header, r[3:], strict=True))
        if reason == "invalid_code":
            msg = f"row {rn}: {code!r} is not a GSS area code"
        elif reason == "total_row":
            msg = f"row {rn}: a total ({row[label_col]!r}), not a category; totals are derived, not stored"
        elif reason == "unknown_category":
            msg = f"row {rn}: {row[label_col]!r} is not a census category assetmap knows"
        elif reason == "invalid_count":
            msg = f"row {rn}: count {row[count_col]!r} is not a whole number of zero or more"
        else:
            msg = f"row {rn}: {code} {row[label_col]!r} appears twice"
        out.append(quarantine_row(rn, row, reason, msg))
    return out


def read_csv_head(path: Any, data: bytes) -> tuple[bytes, str, list[str], list[str]] | None:
    """Return the plain bytes, delimiter, header and first row of a CSV, when they read cleanly."""
    import csv

    from assetmap.sources._io import is_binary, maybe_gunzip, sniff_delimiter

    plain = maybe_gunzip(data, path)
    if is_binary(plain):
        return None
    head = plain[:65536].decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 2)
    if len(head) <= 1:
        return None
    delimiter = sniff_delimiter(head[0])
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([head[0]], delimiter=delimiter))]
        first = next(csv.reader([head[1].rstrip("\r")], delimiter=delimiter))
    except (StopIteration, csv.Error):
        return None
    if not all(header) or len(set(header)) != len(header):
        return None
    return plain, delimiter, header, first


def read_lookup(plain: bytes, delimiter: str, header: list[str], child: int, parents: list[tuple[int, str]]
                ) -> tuple[pd.DataFrame, list[dict[str, Any]], int] | None:
    """Read and validate an OA lookup in DuckDB, as :func:`assetmap.sources.lookup.read_rows` does.

    ``(frame, quarantine, rows_read)`` with ``frame`` the rows ``row_number, area_code, parent_level,
    parent_code``; None for the row-by-row reader.
    """
    loaded = load(plain, delimiter, len(header))
    if loaded is None:
        return None
    con, rows_read = loaded
    try:
        wrong = "coalesce(" + ", ".join(
            f"CASE WHEN trim(c{i}) <> '' AND NOT {_gss_sql(f'trim(c{i})', lvl)} THEN {k} END"
            for k, (i, lvl) in enumerate(parents)) + ")"
        con.execute(f"""
            CREATE TABLE v AS
            SELECT rowid + 1 AS rn, trim(c{child}) AS oa, *,
                   NOT {_gss_sql(f'trim(c{child})', 'oa')} AS bad_oa, {wrong} AS bad_parent
            FROM w0""")  # noqa: S608 (positional columns, fixed SQL)
        # the (OA, level, parent) rows of the rows that passed; a row whose OA has a parent of a level
        # that an earlier passing row gave already is a duplicate, whole
        pairs = " UNION ALL ".join(  # the levels are vocabulary words (lookup._PARENTS), never input
            f"SELECT rn, oa, {k} AS pos, '{lvl}' AS parent_level, trim(c{i}) AS parent_code FROM v "  # noqa: S608
            f"WHERE NOT bad_oa AND bad_parent IS NULL AND trim(c{i}) <> ''" for k, (i, lvl) in enumerate(parents))
        con.execute(f"""
            CREATE TABLE p AS
            SELECT *, row_number() OVER (PARTITION BY oa, parent_level ORDER BY rn, pos) > 1 AS repeat
            FROM ({pairs})""")  # noqa: S608 (levels are vocabulary words)
        dup_rows = {r for (r,) in con.execute("SELECT DISTINCT rn FROM p WHERE repeat").fetchall()}
        frame = con.sql("""SELECT rn AS row_number, oa AS area_code, parent_level, parent_code FROM p
                           WHERE rn NOT IN (SELECT rn FROM p WHERE repeat) ORDER BY rn, pos""")
        out = frame.to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
        cols = ", ".join(f"c{i}" for i in range(len(header)))
        quarantine = []
        for r in con.execute(f"SELECT rn, oa, bad_oa, bad_parent, {cols} FROM v "  # noqa: S608
                             "WHERE bad_oa OR bad_parent IS NOT NULL ORDER BY rn").fetchall():
            rn, oa, bad_oa, bad_parent = int(r[0]), r[1], r[2], r[3]
            row = dict(zip(header, r[4:], strict=True))
            if bad_oa:
                quarantine.append(quarantine_row(rn, row, "invalid_code",
                                                 f"row {rn}: {oa!r} is not an output area code"))
            else:
                h = header[parents[bad_parent][0]]
                quarantine.append(quarantine_row(rn, row, "invalid_code",
                                                 f"row {rn}: {h} = {row[h]!r} is not a code of that level"))
        for r in con.execute(f"SELECT rn, {cols} FROM v WHERE list_contains(?, rn) ORDER BY rn",  # noqa: S608
                             [sorted(dup_rows)]).fetchall():
            rn = int(r[0])
            quarantine.append(quarantine_row(rn, dict(zip(header, r[1:], strict=True)), "duplicate_area",
                                             f"row {rn}: this OA already has a parent of that level earlier "
                                             "in the file"))
        return out, quarantine, rows_read
    finally:
        con.close()
