"""The pins live in one place: pyproject.toml names the dependencies, constraints.txt pins them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        deps += [d for d in extra if not d.startswith("assetmap[")]
    return deps


def _pins() -> dict[str, str]:
    lines = [ln.strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()]
    pins = [ln for ln in lines if ln and not ln.startswith("#")]
    names = [_norm(p.split("==")[0]) for p in pins]
    assert all("==" in p for p in pins), "constraints.txt pins exact versions only"
    assert len(names) == len(set(names)), "a package is pinned twice"
    return {_norm(p.split("==")[0]): p.split("==")[1] for p in pins}


def test_pyproject_names_dependencies_without_versions():
    for dep in _declared():
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?", dep), f"{dep!r}: versions belong in constraints.txt"


def test_every_dependency_is_pinned_in_constraints():
    pins = _pins()
    missing = [d for d in _declared() if _norm(re.sub(r"\[.*\]", "", d)) not in pins]
    assert missing == []


def test_the_stack_is_the_one_verified_offline():
    pins = _pins()
    assert (pins["duckdb"], pins["prefect"], pins["streamlit"], pins["folium"], pins["geopandas"]) == (
        "1.5.5", "3.8.8", "1.67.0", "0.20.0", "1.2.0")
