"""The map's scripts are served by the app itself; a dashboard without them (installed with
`pip install -e .`, or from a clone where the set-up step did not run) never draws an empty map
in silence: the server fetches them again, or refuses to start naming the command that fixes it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboards import serve, vendor

APP = str(Path(vendor.__file__).resolve().parent / "app.py")


def test_the_vendored_scripts_match_their_pinned_digests():
    assert vendor.problems() == []  # `make` vendored them; every file as pinned


def test_a_missing_or_altered_script_is_found(tmp_path):
    copy = tmp_path / "vendor"
    shutil.copytree(vendor.VENDOR, copy)
    (copy / "leaflet/dist/leaflet.js").write_text("/* not leaflet */")
    (copy / "leaflet.markercluster/dist/MarkerCluster.css").unlink()
    assert vendor.problems(copy) == ["leaflet/dist/leaflet.js", "leaflet.markercluster/dist/MarkerCluster.css"]


@pytest.fixture
def no_scripts(tmp_path, monkeypatch):
    """No vendored scripts, and no npm registry to fetch them from."""
    monkeypatch.setattr(vendor, "VENDOR", tmp_path / "empty")

    def offline(*args, **kwargs):
        raise subprocess.CalledProcessError(1, ["npm", "pack"], stderr="npm ERR! network")
    monkeypatch.setattr(vendor.subprocess, "run", offline)


def test_without_them_the_server_refuses_to_start_and_names_the_fix(no_scripts, caplog):
    with pytest.raises(vendor.VendorMissing) as exc:
        vendor.ensure()
    assert "python -m dashboards.vendor" in str(exc.value) and "leaflet/dist/leaflet.js" in str(exc.value)
    assert serve.main(["--server.port", "1"]) == 2  # returns before any server starts
    assert "python -m dashboards.vendor" in caplog.text


def test_missing_scripts_are_fetched_again_when_the_registry_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(vendor, "VENDOR", tmp_path / "fresh")
    calls = []

    def fake_install(force: bool = False):
        calls.append(force)
        shutil.copytree(Path(vendor.__file__).resolve().parent / "static" / "vendor", tmp_path / "fresh")
        return []
    monkeypatch.setattr(vendor, "install", fake_install)
    vendor.ensure()
    assert calls == [True] and vendor.problems() == []


def test_a_plain_streamlit_run_without_them_says_so_instead_of_an_empty_map(no_scripts):
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=60).run()
        errors = " ".join(e.value for e in at.error)
        assert "python -m dashboards.vendor" in errors and not at.get("component_instance")
    finally:
        st.cache_resource.clear()
