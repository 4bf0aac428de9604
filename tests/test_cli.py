"""The command line, as a user would call it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from assetmap.cli import main
from assetmap.db.store import Store


def run(capsys, *args: str) -> tuple[int, str]:
    rc = main(list(args))
    return rc, capsys.readouterr().out


def test_ingest_status_and_quarantine(tmp_path, capsys, demo_dir):
    db = str(tmp_path / "s.duckdb")
    rc, out = run(capsys, "--db", db, "ingest", str(demo_dir))
    assert rc == 0, out  # taken, even with quarantined rows
    assert "quarantined 5" in out and "REFUSED" not in out
    rc, out = run(capsys, "--db", db, "status", "--json")
    status = json.loads(out)
    assert set(status) >= {"tables", "ingests", "schema_version", "extent"}
    assert status["schema_version"] >= 1
    assert status["tables"]["assets"] > 500
    first = status["ingests"][0]
    assert {"ingest_id", "path", "status", "rows_read", "rows_accepted", "rows_quarantined"} <= set(first)
    assert [i["ingest_id"] for i in status["ingests"]] == sorted(i["ingest_id"] for i in status["ingests"])
    min_lon, min_lat, max_lon, max_lat = status["extent"]
    assert -2 < min_lon < max_lon < 0 and 52 < min_lat < max_lat < 53.5
    # read from the boxes stored with the wards: the same as spatial computes from their shapes
    with Store(db, read_only=True) as store:
        box = store.con.execute(
            """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
                   SELECT ST_Extent_Agg(ST_Transform(ST_Envelope(geom), 'EPSG:27700', 'EPSG:4326',
                                                     always_xy := true)) AS e FROM areas WHERE level = 'ward')"""
        ).fetchone()
    assert status["extent"] == [round(v, 6) for v in box]
    # the demo's streets: where they came from and what they came to
    assert status["network"]["source"] == "demoford_streets" and status["network"]["nodes"] > 10_000
    rc, out = run(capsys, "--db", db, "status")
    assert "access: on foot along demoford_streets" in out
    rc, out = run(capsys, "--db", db, "quarantine", "--json")
    q = json.loads(out)
    assert q["summary"]["latlon_swapped"] == 1
    assert all(r["message"] for r in q["rows"])
    rc, out = run(capsys, "--db", db, "ingest", str(demo_dir / "assets"))
    assert rc == 0 and out.count("unchanged") == len([f for f in (demo_dir / "assets").rglob("*") if f.is_file()])


def test_refused_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "garbage.json"
    bad.write_text("{ not json")
    rc, out = run(capsys, "--db", str(tmp_path / "s.duckdb"), "ingest", str(bad))
    assert rc == 2
    assert "REFUSED" in out and "not valid JSON" in out


def test_mapping_on_the_command_line(tmp_path, capsys, demo_dir):
    db = str(tmp_path / "s.duckdb")
    run(capsys, "--db", db, "ingest", str(demo_dir / "boundaries"))
    venues = tmp_path / "venues.csv"
    venues.write_text("title,addr,latitude,longitude\nHope Hall,\"1 Hope St, DF1 2AB\",52.75,-1.24\n")
    rc, out = run(capsys, "--db", db, "ingest", str(venues), "--map", "name=title", "--map", "address=addr",
                  "--map", "lat=latitude", "--map", "lon=longitude", "--category", "community_centre")
    assert rc == 0, out
    assert "accepted 1" in out


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
def test_export_leaves_out_sensitive_assets_in_public_mode(tmp_path, capsys, full_store, fmt):
    db = str(full_store.path)
    full_store.close()
    out = tmp_path / f"assets.{fmt}"
    rc, _ = run(capsys, "--db", db, "export", "--layer", "assets", "--format", fmt, "--out", str(out))
    assert rc == 0
    frame = pd.read_csv(out) if fmt == "csv" else gpd.read_file(out)
    assert len(frame) > 300
    assert "refugee_support" not in set(frame["category"])
    assert not frame["sensitive"].astype(str).str.lower().isin(["true", "1"]).any()
    if fmt != "csv":
        assert frame.crs.to_epsg() == 4326
        assert frame.geometry.x.between(-2, 0).all()
    rc, _ = run(capsys, "--db", db, "export", "--layer", "assets", "--format", fmt,
                "--out", str(tmp_path / f"p.{fmt}"), "--partner")
    partner = pd.read_csv(tmp_path / f"p.{fmt}") if fmt == "csv" else gpd.read_file(tmp_path / f"p.{fmt}")
    assert "refugee_support" in set(partner["category"])


def test_export_wards(tmp_path, capsys, full_store):
    db = str(full_store.path)
    full_store.close()
    out = tmp_path / "wards.geojson"
    rc, _ = run(capsys, "--db", db, "export", "--layer", "wards", "--out", str(out))
    wards = gpd.read_file(out)
    assert rc == 0 and len(wards) >= 55 and wards.geometry.is_valid.all()


def test_demo_data_command(tmp_path, capsys):
    rc, out = run(capsys, "demo-data", str(tmp_path / "d"))
    assert rc == 0 and "esol_providers.csv" in out
    assert json.loads((tmp_path / "d/MANIFEST.json").read_text())["synthetic"] is True


def test_status_on_a_missing_store(tmp_path, capsys):
    rc, out = run(capsys, "--db", str(tmp_path / "none.duckdb"), "status", "--json")
    assert rc == 0 and json.loads(out)["extent"] is None


def test_up_hands_over_to_the_pipelines_process(monkeypatch):
    """`assetmap up` replaces itself with `python -m pipelines.up` (signals reach it directly;
    the library never imports Prefect). The real thing runs in tests/test_pipelines_live.py."""
    import os
    import sys

    seen = {}

    def fake_execv(path, argv):
        seen["path"], seen["argv"] = path, argv
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", fake_execv)
    # as the deployment guide writes it (no `--`), as older guides did (`--`), and --db after `up`
    for argv in (["--db", "x.duckdb", "up", "--no-dashboard", "--prefect-port", "0"],
                 ["--db", "x.duckdb", "up", "--", "--no-dashboard", "--prefect-port", "0"],
                 ["up", "--prefect-port", "0", "--no-dashboard", "--db", "x.duckdb"]):
        seen.clear()
        with pytest.raises(SystemExit):
            main(argv)
        assert seen["path"] == sys.executable
        assert seen["argv"][1:] == ["-m", "pipelines.up", "--db", "x.duckdb", "--prefect-port", "0",
                                    "--no-dashboard"], argv
    seen.clear()
    with pytest.raises(SystemExit):
        main(["up", "--prefect-db", "postgresql+asyncpg://p@db:5432/prefect", "--pool", "assetmap", "--workers", "0"])
    assert seen["argv"][3:] == ["--prefect-db", "postgresql+asyncpg://p@db:5432/prefect", "--pool", "assetmap",
                                "--workers", "0"]


def test_up_help_lists_every_option_up_takes(capsys):
    from assetmap.up_options import OPTIONS

    with pytest.raises(SystemExit):
        main(["up", "--help"])
    text = capsys.readouterr().out
    shown = [flag for flag, kw in OPTIONS if kw.get("help") is not argparse.SUPPRESS]
    assert len(shown) == 11 and all(flag in text for flag in shown), text


def test_the_library_never_imports_prefect_or_streamlit():
    import re
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[1] / "assetmap"
    pattern = re.compile(r"^\s*(import|from)\s+(prefect|streamlit|folium)\b", re.M)
    offenders = [str(f) for f in pkg.rglob("*.py") if pattern.search(f.read_text())]
    assert offenders == []


def test_the_dashboard_holds_no_sql_and_the_cli_reads_through_queries():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sql = re.compile(r"\.execute\(|\.sql\(|\bSELECT\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b")
    offenders = [str(f.relative_to(root)) for f in (root / "dashboards").rglob("*.py")
                 if "static" not in f.parts and sql.search(f.read_text())]
    assert offenders == []
    cli = [str(f.relative_to(root)) for f in (root / "assetmap" / "cli").glob("*.py") if sql.search(f.read_text())]
    assert cli == []


def test_analysis_commands(analysed_store, capsys):
    db = str(analysed_store.path)
    analysed_store.close()
    rc, out = run(capsys, "--db", db, "recompute", "--json")
    assert rc == 0 and json.loads(out)["units"] == 60
    rc, out = run(capsys, "recompute", "--changed", "--json", "--db", db)  # nothing changed since
    assert rc == 0 and json.loads(out)["mode"] == "incremental" and json.loads(out)["units"] == 0
    rc, out = run(capsys, "--db", db, "gaps", "--category", "esol_provider", "--top", "5", "--json")
    g = json.loads(out)
    assert rc == 0 and [u["rank"] for u in g["units"]] == sorted(u["rank"] for u in g["units"])
    assert len(g["units"]) == 5 and g["units"][0]["components"]
    rc, out = run(capsys, "--db", db, "gaps", "--category", "esol_provider", "--flagged")
    assert rc == 0 and "high_need_low_provision" in out and "why" in out
    worst = g["units"][0]["code"]
    rc, out = run(capsys, "--db", db, "what-if", "--add", "52.76,-1.15,esol_provider,30", "--json")
    changes = json.loads(out)
    assert rc == 0 and changes and all(c["delta"] < 0 for c in changes)
    rc, out = run(capsys, "--db", db, "what-if", "--add", "52.76,-1.15,pub")
    assert rc == 2
    rc, out = run(capsys, "--db", db, "suggest", "--category", "esol_provider", "--k", "2", "--json")
    s = json.loads(out)
    assert rc == 0 and len(s["sites"]) == 2 and s["covered_demand"] > 0
    rc, out = run(capsys, "--db", db, "dispersal", "--json")
    assert rc == 0 and json.loads(out)[0]["la_code"] == "E08900001"
    rc, out = run(capsys, "--db", db, "indices", "--unit", worst, "--focal", "all", "--json")
    names = {r["index_name"] for r in json.loads(out)}
    assert names == {"theil_h", "multigroup_dissimilarity", "simpson_interaction", "simpson_concentration",
                     "entropy"}
    ward = worst
    rc, out = run(capsys, "--db", db, "recompute", "--wards", ward, "--json")
    assert rc == 0 and json.loads(out)["mode"] == "incremental"


@pytest.mark.parametrize(("env", "said"), [
    ({"ASSETMAP_SNAPSHOT_URL": "http://bucket.example/x"}, "ASSETMAP_SNAPSHOT_URL must be s3://bucket/prefix"),
    ({"ASSETMAP_MODE": "everyone"}, "ASSETMAP_MODE must be public or partner"),
])
def test_a_bad_setting_is_named_without_a_traceback(env, said, tmp_path):
    import subprocess
    import sys

    cli = Path(sys.executable).with_name("assetmap")
    out = subprocess.run([str(cli), "status"], env={**os.environ, **env}, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and said in out.stderr and "Traceback" not in out.stderr


def test_a_worker_without_a_prefect_api_says_how_to_start_one(tmp_path):
    import subprocess
    import sys

    from pipelines.processes import free_port

    cli = Path(sys.executable).with_name("assetmap")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    out = subprocess.run([str(cli), "worker", "--pool", "p"], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "no Prefect API" in out.stderr and "assetmap up --prefect-db" in out.stderr
    out = subprocess.run([str(cli), "worker", "--pool", "p", "--api", f"http://127.0.0.1:{free_port(0)}/api"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "does not answer" in out.stderr and "Traceback" not in out.stderr
