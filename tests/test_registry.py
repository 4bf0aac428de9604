"""The reader registry: every format is one Reader, and a new one is one module and one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assetmap import sources
from assetmap.db.store import DATA_TABLES
from assetmap.ingest import ingest_file
from assetmap.sources import FileRefused, Reader, ReadResult


def test_every_data_table_is_written_by_some_reader():
    written = {t for r in sources.READERS.values() for t in r.tables}
    assert set(DATA_TABLES) - written == set()
    assert written <= set(DATA_TABLES)


def test_each_reader_can_be_recognised_or_named():
    for kind, r in sources.READERS.items():
        assert r.kind == kind
        assert r.binary or r.json or r.csv, f"{kind} is never recognised"
        assert sources.sniff("any.csv", b"x,y\n1,2\n", {"kind": kind}) == kind


def test_asset_formats_share_one_writer():
    writers = {r.write for r in sources.READERS.values() if r.kind in sources.ASSETS_ONLY_KINDS}
    assert len(writers) == 1
    assert set(sources.ASSETS_ONLY_KINDS) == {"providers", "osm", "openreferral", "mapped"}
    # an OSM extract's places are assets too, beside the walking network it brings
    assert set(sources.ASSET_KINDS) == {*sources.ASSETS_ONLY_KINDS, "network"}


def test_a_new_format_is_one_reader_and_one_registration(tmp_path, city_store, monkeypatch):
    """A partner's postcode-free 'welcome spaces' list: the reader recognises its header, reads
    rows (quarantining one it cannot), and writes through the shared asset writer; the ingest
    does the audit, the accounting and the events as for any format."""
    def looks(header: list[str], _text: bytes, _options: dict[str, Any]) -> bool:
        return header[:3] == ["space", "kind", "where"]

    def read(path: Path, data: bytes, options: dict[str, Any]) -> ReadResult:
        from assetmap.sources._assets import candidate, frame

        lines = data.decode().splitlines()[1:]
        rows, bad = [], []
        for rn, line in enumerate(lines, start=2):
            name, _kind, where = line.split(",")
            if ";" not in where:
                bad.append({"row_number": rn, "raw": line, "reason_code": "unparsable_coordinates",
                            "message": f"row {rn}: no 'lat;lon'"})
                continue
            lat, lon = where.split(";")
            rows.append(candidate(rn, {"line": line}, name=name, category="community_centre", lat=lat, lon=lon))
        return ReadResult("welcome", frame(rows), bad, len(lines), {})

    write = sources.READERS["providers"].write
    monkeypatch.setitem(sources.READERS, "welcome", Reader(
        "welcome", "a partner's welcome spaces", read, write, tables=("assets",), rank=4, csv=looks,
        holds_assets=True))
    lat, lon = city_store.con.execute(
        """SELECT ST_Y(c), ST_X(c) FROM (SELECT ST_Transform(ST_Centroid(geom), 'EPSG:27700', 'EPSG:4326',
                  always_xy := true) AS c FROM areas WHERE level = 'ward' ORDER BY code LIMIT 1)""").fetchone()
    path = tmp_path / "welcome.csv"
    path.write_text(f"space,kind,where\nHope Hall,hall,{lat};{lon}\nNowhere,hall,unknown\n")
    r = ingest_file(city_store, path)
    assert (r.status, r.kind, r.rows_read, r.rows_accepted, r.rows_quarantined) == ("completed", "welcome", 2, 1, 1)
    assert city_store.scalar("SELECT count(*) FROM assets WHERE name = 'Hope Hall'") == 1
    assert r.affected_wards


def test_an_unknown_kind_is_named_with_the_known_ones():
    try:
        sources.sniff("x.csv", b"a,b\n", {"kind": "shapefile"})
    except FileRefused as exc:
        assert "census" in exc.message and "boundaries" in exc.message
    else:
        raise AssertionError("an unknown --kind was accepted")



def test_the_command_lines_catalogue_of_kinds_is_the_readers_own():
    """The command line lists the kinds without importing the readers (assetmap/vocab/file_kinds.py):
    the same kinds, in the order they are tried, with the readers' own descriptions."""
    from assetmap.vocab import file_kinds

    assert list(file_kinds.KINDS) == list(sources.READERS)
    assert {k: r.description for k, r in sources.READERS.items()} == file_kinds.KINDS
    assert file_kinds.ASSET_KINDS == sources.ASSET_KINDS


def test_a_command_starts_without_loading_the_readers_or_the_geodata_stack():
    """`assetmap --help`, `status` and `quarantine` import neither the readers nor geopandas or
    scipy (about 1.2 s of every command's start before)."""
    import subprocess
    import sys

    heavy = ("geopandas", "scipy", "streamlit", "prefect", "pandas", "assetmap.sources", "assetmap.export")
    probe = ("import sys; from assetmap.cli import build_parser; build_parser(); "
             "import assetmap.snapshots, assetmap.errors; "
             f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_error_a_user_can_fix_shares_one_base_the_command_line_says_in_one_line(tmp_path, capsys):
    from assetmap.alerts import AlertError
    from assetmap.confine import ConfinementError
    from assetmap.db.store import StoreBusy, StoreError
    from assetmap.errors import AssetmapError, FileRefused
    from assetmap.fetch import FetchError, Unreachable
    from assetmap.objectstore import ObjectStoreError
    from assetmap.openreferral import InvalidExport
    from assetmap.submissions import SubmissionError
    from assetmap.vocab.categories import InvalidAttribute

    for kind in (AlertError, ConfinementError, FileRefused, FetchError, Unreachable, ObjectStoreError, InvalidExport,
                 StoreBusy, StoreError, SubmissionError, InvalidAttribute):
        assert issubclass(kind, AssetmapError), kind
    # each is still the built-in kind callers have caught it as
    assert issubclass(SubmissionError, ValueError) and issubclass(StoreError, RuntimeError)
    from assetmap.cli import main

    assert main(["unsubscribe", "no-such-id", "--db", str(tmp_path / "store.duckdb")]) == 2  # an AlertError
    assert "no subscription 'no-such-id'" in capsys.readouterr().err.replace("\n", " ")
