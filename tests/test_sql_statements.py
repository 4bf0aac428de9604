"""The schema as a checked interface (issue 26, item 3): every SQL statement written out in the
code is planned (``EXPLAIN``) against a freshly migrated store, so a renamed or dropped table or
column fails here at once, naming the file and line of each statement it breaks, instead of in
whichever test happens to run that statement.

A statement is a string constant in ``assetmap/``, ``pipelines/`` or ``dashboards/`` that reads
as SQL (``SELECT … FROM``, ``INSERT INTO``, ``UPDATE … SET``, ``DELETE FROM``, ``CREATE``,
``WITH``). Parameters are bound to NULL. Not planned here, and counted: statements over a frame
the code registers for the moment (relations named ``_…``, or the CSV reader's work tables),
and statements built with f-strings (their parts are not SQL on their own).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import duckdb
import pandas as pd
import pytest

from assetmap.db.store import Store
from tests.conftest import REPO

PACKAGES = ("assetmap", "pipelines", "dashboards")
_LOOKS_SQL = re.compile(r"^\s*(SELECT|WITH|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
_HAS_BODY = re.compile(r"\b(FROM|INTO|TABLE|SET|VIEW|MACRO)\b", re.IGNORECASE)
_NAMED = re.compile(r"(?<![\w$])\$([A-Za-z_]\w*)")
#: what exists only while the code runs: frames it registers (``_name``), the CSV reader's work
#: tables in its own in-memory database and the file it reads, the heads of statements finished
#: at run time (``WITH w AS (…), `` + the rest)
_MOMENTARY = re.compile(r"Table with name (_\w+|w0?|v|p) does not exist|read_csv cannot take NULL|"
                        r"syntax error at end of input")


@dataclass(frozen=True)
class Statement:
    where: str  # file:line
    sql: str

    def __str__(self) -> str:
        return self.where


def _statements() -> tuple[list[Statement], list[str]]:
    """The SQL string constants of the packages, and where each f-string statement is."""
    found: list[Statement] = []
    built: list[str] = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            skip = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
            skip |= {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}  # docstrings
            where = path.relative_to(REPO)
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr):
                    text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
                    if _LOOKS_SQL.match(text) and _HAS_BODY.search(text):
                        built.append(f"{where}:{node.lineno}")
                elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                      and _LOOKS_SQL.match(node.value) and _HAS_BODY.search(node.value)):
                    found.append(Statement(f"{where}:{node.lineno}", node.value))
    return found, built


STATEMENTS, BUILT = _statements()


@dataclass(frozen=True)
class Upsert:
    where: str
    table: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    update: tuple[str, ...] | None


def _upserts() -> list[Upsert]:
    """Every call of :func:`assetmap.db.sql.upsert`, with its table, keys and columns (literals in
    the call, or a module's constant it names)."""
    out = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                         for t in node.targets if isinstance(t, ast.Name)}
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "upsert"):
                    continue
                kw = {k.arg: k.value for k in node.keywords}
                values = kw["values"]
                if isinstance(values, ast.Name):
                    values = constants[values.id]
                update = kw.get("update")
                out.append(Upsert(
                    f"{path.relative_to(REPO)}:{node.lineno}", ast.literal_eval(node.args[1]),
                    tuple(ast.literal_eval(node.args[3])), tuple(ast.literal_eval(values)),
                    None if update is None or not isinstance(update, ast.List) else tuple(ast.literal_eval(update))))
    return out


UPSERTS = _upserts()


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """A new store, with another attached as ``src`` (as publishing reads the working store)."""
    folder = tmp_path_factory.mktemp("schema")
    Store(folder / "src.duckdb").close()
    store = Store(folder / "store.duckdb")
    quoted = str(folder / "src.duckdb").replace("'", "''")  # ATTACH takes no parameters; the path is ours
    store.con.execute(f"ATTACH '{quoted}' AS src (READ_ONLY)")
    yield store.con
    store.close()


def _plan(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    names = sorted(set(_NAMED.findall(sql)))
    params: list[None] | dict[str, None] | None
    params = dict.fromkeys(names) if names else ([None] * sql.count("?") or None)
    con.execute("EXPLAIN " + sql, params)


def test_every_statement_in_the_code_is_planned_against_a_new_store(con):
    broken, momentary = [], []
    for statement in STATEMENTS:
        try:
            _plan(con, statement.sql)
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.CatalogException | duckdb.ParserException) and _MOMENTARY.search(str(exc)):
                momentary.append(statement)
            else:
                broken.append(f"{statement}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    assert broken == []
    planned = len(STATEMENTS) - len(momentary)
    # most of what the code says to the store is checked here; what is not is counted
    assert planned >= 190 and len(momentary) <= 60, (planned, [str(s) for s in momentary])


def test_a_renamed_column_is_named_with_the_statements_it_breaks(tmp_path):
    """The check finds what it is for: with ``assets.ward_code`` renamed, the statements that
    read it fail to plan, each named by file and line."""
    with Store(tmp_path / "s.duckdb") as store:
        store.con.execute("DROP VIEW public_assets")
        store.con.execute("DROP VIEW asset_supply")
        store.con.execute("ALTER TABLE assets RENAME COLUMN ward_code TO ward")
        failing = []
        for statement in STATEMENTS:
            if not re.search(r"\bassets\b", statement.sql) or "ward_code" not in statement.sql:
                continue
            try:
                _plan(store.con, statement.sql)
            except duckdb.BinderException as exc:
                if "ward_code" in str(exc):
                    failing.append(str(statement))
            except duckdb.Error:
                pass
    assert len(failing) >= 3, failing
    assert all(re.fullmatch(r"(assetmap|pipelines|dashboards)/[\w/]+\.py:\d+", w) for w in failing)


def test_statements_built_with_fstrings_are_few():
    """Statements built with f-strings cannot be planned here; their number only goes down
    (issue 26, item 2: identifiers through one quoting helper)."""
    built = [b for b in BUILT if not b.startswith("assetmap/db/sql.py:")]  # the upsert helper's, checked above
    assert len(built) <= 51, built


def test_every_upsert_writes_columns_the_table_has_on_a_key_it_declares(con):
    """The writers' upserts (issue 26, item 2) name their table, conflict keys and columns in the
    call; each is checked against a new store: the columns exist and the keys are the table's
    primary key or a unique constraint (else DuckDB refuses ON CONFLICT at run time)."""
    assert len(UPSERTS) >= 8, [u.where for u in UPSERTS]
    broken = []
    for u in UPSERTS:
        cols = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND table_name = ?", [u.table]).fetchall()}
        keys = [set(r[0]) for r in con.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE database_name = current_database() "
            "AND table_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')", [u.table]).fetchall()]
        missing = sorted(set(u.columns) - cols)
        if not cols or missing:
            broken.append(f"{u.where}: {u.table} has no column {missing or '(no such table)'}")
        elif set(u.keys) not in keys:
            broken.append(f"{u.where}: ({', '.join(u.keys)}) is not a key of {u.table} ({keys})")
        elif u.update is not None and not set(u.update) <= set(u.columns) - set(u.keys):
            broken.append(f"{u.where}: updates {u.update}, not among the columns it writes")
    assert broken == []


def test_upsert_replaces_by_key_and_keeps_what_it_is_told_to(tmp_path):
    from assetmap.db.sql import ident, upsert, upsert_sql

    assert ident('odd"name') == '"odd""name"'
    with pytest.raises(ValueError, match="keys"):
        upsert_sql("t", {"a": "a"}, ["b"])
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v VARCHAR, src VARCHAR, n INTEGER)")
    upsert(con, "t", pd.DataFrame({"k": [1, 2], "v": ["a", "b"]}), ["k"],
           values={"k": "k", "v": "v", "src": "?", "n": "1"}, params=["first"])
    # a second write of k=2 and a new k=3: the value replaced, the source kept as first written
    upsert(con, "t", pd.DataFrame({"k": [2, 3], "v": ["B", "c"]}), ["k"],
           values={"k": "k", "v": "v", "src": "?", "n": "2"}, params=["second"], update=["v", "n"])
    assert con.execute("SELECT * FROM t ORDER BY k").fetchall() == [
        (1, "a", "first", 1), (2, "B", "first", 2), (3, "c", "second", 2)]
    # a condition on the row there: only rows still at n = 1 are replaced
    upsert(con, "t", pd.DataFrame({"k": [1, 2], "v": ["x", "y"]}), ["k"], values={"k": "k", "v": "v"},
           update_where="t.n = 1")
    assert con.execute("SELECT k, v FROM t ORDER BY k").fetchall() == [(1, "x"), (2, "B"), (3, "c")]
    # nothing to update: the rows there are kept
    upsert(con, "t", pd.DataFrame({"k": [1]}), ["k"], values={"k": "k"})
    assert con.execute("SELECT count(*), min(v) FROM t").fetchone() == (3, "B")
    assert "_upsert" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    con.close()


def test_sql_lives_only_in_the_schema_the_queries_and_the_readers():
    """Issue 26, item 3: SQL belongs in ``db/`` (the store, its schema and its writes), ``queries/``
    (reads) or a reader (``sources/``); a statement anywhere else fails here, naming its place."""
    home = ("assetmap/db/", "assetmap/queries/", "assetmap/sources/")
    outside = sorted(where for where in [s.where for s in STATEMENTS] + BUILT if not where.startswith(home))
    assert outside == [], f"SQL outside db/, queries/ and the readers: {outside}"
    # (and the collector does find SQL where it lives)
    assert sum(1 for s in STATEMENTS if s.where.startswith("assetmap/db/")) > 50
    assert sum(1 for s in STATEMENTS if s.where.startswith("assetmap/queries/")) > 50
    # nor is a statement run there that the collector would not call SQL (CHECKPOINT, ATTACH, SET ...)
    runs = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            where = str(path.relative_to(REPO))
            if where.startswith(home):
                continue
            runs += [f"{where}:{node.lineno}" for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                     and node.func.attr in ("execute", "executemany", "sql")]
    assert runs == [], f"statements run outside db/, queries/ and the readers: {runs}"
