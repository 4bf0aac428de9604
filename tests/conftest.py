"""Shared fixtures: a generated demo city, stores, and the real data in ../shared."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pytest

from assetmap.db.store import DATA_TABLES, Store, connect
from assetmap.demo import generate
from assetmap.ingest import ingest_file, ingest_paths
from assetmap.settings import settings
from assetmap.snapshots import latest_path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ASSETMAP_SHARED", REPO.parent / "shared")) / "geodata-sources"



@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests that time servers and sessions run one after another in one lane of
    `make test`'s second phase; the deployment guide's test (mostly waiting on heartbeats and
    leases, with its own servers) runs in the other lane beside them."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("concurrent") \
                and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group("timed_one_at_a_time"))

def real_data(*parts: str) -> Path:
    """A file of the real open data in ../shared/geodata-sources; skip the test when absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/geodata-sources is absent)")
    return path


#: columns that say when a run happened (history taking effect "now"), left out of digests so that
#: two stores that took the same files at different moments digest alike
_WHEN = {"asset_versions": ("valid_from", "valid_to")}


def digest(store: Store, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, tuple[int, str]]:
    """Row count and content hash of each table: equal digests mean equal contents."""
    out = {}
    for t in tables:
        cols = f"* EXCLUDE ({', '.join(_WHEN[t])})" if t in _WHEN else "*"
        out[t] = store.con.execute(
            f"SELECT count(*), md5(coalesce(string_agg(CAST(x AS VARCHAR), '|' "
            f"ORDER BY CAST(x AS VARCHAR)), '')) FROM (SELECT {cols} FROM {t}) x"
        ).fetchone()
    return out


# -- the demo city's stores, built once for every test process of this source tree ----------------
# pytest-xdist's two workers and the slow phase each run the session fixtures again; the demo's
# stores took about a minute of each on 2 cores. They are built once (under a lock, by whichever
# process comes first) into a folder named by a hash of the code that makes them, and each process
# takes a copy of its own, so no test shares a file with another process.

_BUILT = REPO / "test-output" / "fixtures"


@functools.cache
def _source_key() -> str:
    h = hashlib.sha256()
    for path in sorted([*REPO.joinpath("assetmap").rglob("*"), REPO / "tests" / "conftest.py",
                        REPO / "constraints.txt"]):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A copy, for this process, of the folder ``build`` fills (built once per source tree)."""
    root = _BUILT / _source_key()
    root.mkdir(parents=True, exist_ok=True)
    done = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if not (root / f"{name}.done").exists():
            for old in _BUILT.iterdir():  # what an earlier state of the code built
                if old.name != root.name and time.time() - old.stat().st_mtime > 3600:
                    shutil.rmtree(old, ignore_errors=True)
            work = root / f"{name}.building"
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(done, ignore_errors=True)
            work.mkdir()
            build(work)
            work.rename(done)
            (root / f"{name}.done").touch()
    out = factory.mktemp(name)
    shutil.copytree(done, out, dirs_exist_ok=True)
    return out


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The synthetic demo city."""
    return _built_once(tmp_path_factory, "demo", lambda out: generate(out, scale="city"))


def _store_of(out: Path, name: str, demo: Path, subs: tuple[str, ...] = ("",)) -> None:
    with Store(out / name) as store:
        for sub in subs:
            for r in ingest_paths(store, [demo / sub if sub else demo]):
                assert r.status == "completed", r.message
        store.con.execute("CHECKPOINT")


@pytest.fixture(scope="session")
def _base_db(tmp_path_factory, demo_dir) -> Path:
    """A store holding the demo city's boundaries, lookups and postcodes (no census, no assets)."""
    return _built_once(tmp_path_factory, "base", lambda out: _store_of(
        out, "base.duckdb", demo_dir, ("boundaries", "lookups"))) / "base.duckdb"


@pytest.fixture(scope="session")
def _full_db(tmp_path_factory, demo_dir) -> Path:
    """A store with the whole demo city loaded."""
    return _built_once(tmp_path_factory, "full", lambda out: _store_of(out, "full.duckdb", demo_dir)) / "full.duckdb"


@pytest.fixture(scope="session")
def _analysed_db(tmp_path_factory, request) -> Path:
    """A store with the whole demo city loaded and every analysis table computed."""
    def build(out: Path) -> None:
        from assetmap.analysis import recompute

        shutil.copy(request.getfixturevalue("_full_db"), out / "analysed.duckdb")
        with Store(out / "analysed.duckdb") as store:
            recompute(store)
            store.con.execute("CHECKPOINT")

    return _built_once(tmp_path_factory, "analysed", build) / "analysed.duckdb"


@pytest.fixture
def store(tmp_path) -> Store:
    """An empty store of its own."""
    s = Store(tmp_path / "store.duckdb")
    yield s
    s.close()


def _copy_of(template: Path, tmp_path: Path):
    path = tmp_path / template.name
    shutil.copy(template, path)
    s = Store(path)
    yield s
    s.close()


@pytest.fixture
def city_store(tmp_path, _base_db) -> Store:
    """A store of its own with the demo city's boundaries, lookups and postcodes loaded."""
    yield from _copy_of(_base_db, tmp_path)


@pytest.fixture
def full_store(tmp_path, _full_db) -> Store:
    """A store of its own with the whole demo city loaded."""
    yield from _copy_of(_full_db, tmp_path)


@pytest.fixture
def analysed_store(tmp_path, _analysed_db) -> Store:
    """A store of its own with the whole demo city loaded and every analysis table computed."""
    yield from _copy_of(_analysed_db, tmp_path)


@pytest.fixture
def ingest(city_store):
    """Ingest a file into the city store and check row conservation on the way."""

    def _ingest(path, **options):
        r = ingest_file(city_store, path, **options)
        if r.status == "completed":
            assert r.rows_read == r.rows_accepted + r.rows_quarantined
            n_q = city_store.scalar("SELECT count(*) FROM quarantine WHERE ingest_id = ?", [r.ingest_id])
            assert n_q == r.rows_quarantined
        return r

    return _ingest


# -- the dashboard's published demo ------------------------------------------------------------

#: assets planted for the dashboard's tests: two hostile names (public) and one sensitive place
#: with coordinates that must never reach a page or an export in public mode
HOSTILE_NAMES = ("<img src=x onerror=alert(1)>", "<script>window.__xss=1;alert(2)</script>")
SENSITIVE_PLANTED = ("Safe Haven Women's ESOL", 52.777313, -1.253771)
#: A website that may be a link, and one stored before links were checked (it never may be).
GOOD_LINK, BAD_LINK = "https://esol.example/classes", "javascript:window.__xss=3;alert(3)"


_NUMBER_PAIR = re.compile(r"(-?\d{1,3}\.\d{3,})\s*,\s*(-?\d{1,3}\.\d{3,})")


def pair_in(text: str, lat: float, lon: float, tolerance: float = 2e-5) -> bool:
    """Whether ``text`` holds the point as two numbers side by side, in either order, to within
    ``tolerance`` degrees (about 2 m): a marker, a GeoJSON point or a CSV row would."""
    for a, b in _NUMBER_PAIR.findall(text):
        x, y = float(a), float(b)
        if (abs(x - lat) < tolerance and abs(y - lon) < tolerance) or \
                (abs(x - lon) < tolerance and abs(y - lat) < tolerance):
            return True
    return False


def _plant(path: Path) -> Path:
    rows = ["id,name,category,lat,lon,women_only,capacity,languages,website",
            f'plant-1,"{HOSTILE_NAMES[0]}",esol_provider,52.780010,-1.250030,no,12,"<b>Arabic</b>",{GOOD_LINK}',
            f'plant-2,"{HOSTILE_NAMES[1]}",community_centre,52.781050,-1.248110,no,,,',
            f'plant-3,"{SENSITIVE_PLANTED[0]}",esol_provider,{SENSITIVE_PLANTED[1]},{SENSITIVE_PLANTED[2]},yes,10,,']
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def _dashboard_home(tmp_path_factory, request) -> Path:
    """An assetmap home with two published snapshots of the analysed demo city: before and after
    the planted assets arrived (so the provenance page has something to compare)."""
    return _built_once(tmp_path_factory, "dashboard-home",
                       lambda home: _publish_demo(home, request.getfixturevalue("_analysed_db")))


def _publish_demo(home: Path, analysed: Path) -> None:
    from assetmap.analysis import recompute_affected
    from assetmap.snapshots import publish

    db = home / "assetmap.duckdb"
    shutil.copy(analysed, db)
    with Store(db) as store:
        publish(store, reason="the demo city")
        r = ingest_file(store, _plant(home / "planted.csv"), kind="providers", source="planted-for-tests",
                        licence="test")
        assert r.status == "completed" and r.rows_accepted == 3, r.message
        # a javascript: website as a store from before links were checked may hold one
        store.con.execute("UPDATE assets SET attrs = json_merge_patch(coalesce(attrs, '{}'), "
                          "json_object('website', ?)) WHERE source_record_id = 'plant-2'", [BAD_LINK])
        recompute_affected(store, r.affected_wards)
        publish(store, reason="planted assets")


@pytest.fixture
def dashboard_home(_dashboard_home, monkeypatch) -> Path:
    """The dashboard's published demo, read-only, with settings pointing at it."""


    monkeypatch.setattr(settings, "db_path", _dashboard_home / "assetmap.duckdb")
    monkeypatch.setattr(settings, "dashboard_mode", "public")
    return _dashboard_home


@pytest.fixture
def writable_dashboard_home(_dashboard_home, tmp_path, monkeypatch) -> Path:
    """A copy of the dashboard's demo that a test may change (submissions, moderation)."""


    home = tmp_path / "home"
    shutil.copytree(_dashboard_home, home)
    monkeypatch.setattr(settings, "db_path", home / "assetmap.duckdb")
    monkeypatch.setattr(settings, "dashboard_mode", "public")
    monkeypatch.setattr(settings, "inbox_dir", home / "inbox")
    return home


@pytest.fixture
def wired(analysed_store, tmp_path, monkeypatch):
    """The flows wired to an analysed demo store and an empty inbox, with no Prefect server:
    they run in-process as plain Python."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    inbox = tmp_path / "inbox"
    (inbox / "submissions").mkdir(parents=True)
    db = analysed_store.path
    analysed_store.close()
    monkeypatch.setattr(settings, "db_path", db)
    monkeypatch.setattr(settings, "inbox_dir", inbox)
    return db, inbox


# -- the real `assetmap up`, for the slow end-to-end tests --------------------------------------
def _api(req: urllib.request.Request | str) -> Any:
    """JSON from the Prefect server, asked again when it answers 429, 502 or 503 (as Prefect's own
    client does: its server says 503 when its database was busy, and nothing was done)."""
    import urllib.error

    for attempt in range(6):
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 502, 503) or attempt == 5:
                raise
            time.sleep(float(exc.headers.get("Retry-After") or 0.5 * 2 ** attempt))
    raise AssertionError("unreachable")


def post_json(url: str, body: dict) -> Any:
    return _api(urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                       headers={"Content-Type": "application/json"}))


def get_json(url: str) -> Any:
    return _api(url)


@functools.lru_cache(maxsize=512)
def _answer_in(path: str, sql: str, params: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    con = connect(path, read_only=True)
    try:
        return tuple(con.execute(sql, list(params)).fetchall())
    finally:
        con.close()


def in_latest_snapshot(db: Path, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]] | None:
    """``sql``'s rows in the latest partner snapshot beside ``db`` (None before one is published,
    or while the file the pointer names is pruned). A published snapshot never changes, so the
    answer is kept per snapshot file: a wait polling this opens each new snapshot once, not four
    times a second (each open loads the spatial extension: a fifth to half a second of CPU that
    the servers under test would otherwise lose)."""
    path = latest_path(db)
    if path is None:
        return None
    try:
        return list(_answer_in(str(path), sql, tuple(params)))
    except (duckdb.Error, OSError):
        return None


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    """Poll ``predicate()`` every ``every`` seconds until it is true; return it (fail after
    ``timeout``): :func:`tests.servers.wait_until`. Each poll asks a server or reads a file, on the
    two cores the servers under test share: twice a second is prompt enough for bounds of tens of
    seconds."""
    from tests.servers import wait_until

    return wait_until(predicate, timeout, every=every, what=what)


_PREFECT_TEMPLATE: list[Path] = []


def _prefect_template() -> Path:
    """A Prefect SQLite database with its tables made (``prefect server database upgrade``), once
    per test session: a new one costs each `up` about 10 s of migrations (the README walkthrough
    still starts from nothing, as a new user does)."""
    if not _PREFECT_TEMPLATE:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="assetmap-prefect-template-"))
        path = folder / "prefect.db"
        env = {**os.environ, "PREFECT_HOME": str(folder),
               "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{path}"}
        subprocess.run([sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"], env=env,
                       check=True, capture_output=True, timeout=300)
        _PREFECT_TEMPLATE.append(path)
    return _PREFECT_TEMPLATE[0]


@contextlib.contextmanager
def running_up(tmp_path: Path, template: Path, *extra: str, env_extra: dict[str, str] | None = None):
    """`assetmap up` on a copy of ``template``, as a user starts it (``extra``: more of its options;
    ``env_extra``: more of its environment); stopped, with everything it started, at the end.
    Started again with the same ``tmp_path``, it finds the home the last one left."""
    home = tmp_path / "home"
    db = home / "assetmap.duckdb"
    if not db.exists():  # a second `up` on the same folder starts on what the first one left
        home.mkdir(exist_ok=True)
        shutil.copy(template, db)
        if "--prefect-db" not in extra:  # as on a second `make up`: Prefect's tables are made already
            (home / "prefect").mkdir()
            shutil.copy(_prefect_template(), home / "prefect" / "prefect.db")
    inbox = tmp_path / "inbox"
    env = {**os.environ, "ASSETMAP_HOME": str(home), "ASSETMAP_INBOX": str(inbox), "ASSETMAP_DB": str(db),
           "ASSETMAP_DEMO_DIR": str(tmp_path / "demo"), **(env_extra or {})}
    cli = Path(sys.executable).with_name("assetmap")
    proc = subprocess.Popen([str(cli), "up", "--", "--no-demo", "--prefect-port", "0", "--dashboard-port", "0", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "assetmap is up" in line:
            break
    text = "".join(lines)
    assert "assetmap is up" in text, text
    api = re.search(r"Prefect server:\s+(http://127\.0\.0\.1:\d+)", text).group(1) + "/api"
    found = re.search(r"Dashboard:\s+(http://127\.0\.0\.1:\d+)", text)
    dash = found.group(1) if found else None
    info = {"proc": proc, "home": home, "db": db, "inbox": inbox, "api": api, "dashboard": dash, "text": text}
    family = psutil.Process(proc.pid).children(recursive=True)
    try:
        yield info
    finally:
        if proc.poll() is None:  # the test failed before stopping it: stop it as a user would
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for p in family:  # and make sure nothing it started outlives the test
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


@pytest.fixture
def up(tmp_path, _analysed_db):
    with running_up(tmp_path, _analysed_db) as info:
        yield info
