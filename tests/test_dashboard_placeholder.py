"""The page `assetmap up` serves until the dashboard lands: it reads the latest snapshot."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from assetmap.settings import settings
from assetmap.snapshots import publish

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


def test_the_page_shows_the_latest_snapshot(analysed_store, monkeypatch):
    snap = publish(analysed_store, reason="for the page")
    monkeypatch.setattr(settings, "db_path", analysed_store.path)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert snap.snapshot_id in " ".join(m.value for m in at.markdown)
    counts, gaps = at.dataframe[0].value, at.dataframe[1].value
    assert dict(zip(counts["what"], counts["n"]))["wards"] == 60
    assert list(gaps["rank"])[:3] == [1, 2, 3] and len(gaps) == 15


def test_the_page_says_when_nothing_is_published(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "db_path", tmp_path / "nothing.duckdb")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "No snapshot published yet" in at.warning[0].value
