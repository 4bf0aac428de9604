"""Cached reads more than one page uses."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from assetmap import queries
from dashboards import common


@st.cache_data(max_entries=4, show_spinner=False)
def _features(path: str, detail: str) -> dict:
    return queries.feature_collection(common.snapshot_at(path), "ward", detail)


def features(path: str, n_wards: int) -> dict:
    """The wards' display geometry at the detail their number calls for (cached per snapshot)."""
    from dashboards.maps import detail_for

    return _features(path, detail_for(n_wards))


# Reads of a snapshot never change (a snapshot is immutable), so they are cached per snapshot
# path: a new publish is a new path, and so a fresh read.

@st.cache_data(max_entries=8, show_spinner=False)
def wards(path: str) -> pd.DataFrame:
    return queries.wards(common.snapshot_at(path))


@st.cache_data(max_entries=8, show_spinner=False)
def ethnic_groups(path: str) -> dict[str, list[str]]:
    return queries.ethnic_groups(common.snapshot_at(path))


@st.cache_data(max_entries=8, show_spinner=False)
def languages_spoken(path: str) -> list[str]:
    return queries.languages_spoken(common.snapshot_at(path))


@st.cache_data(max_entries=8, show_spinner=False)
def religions(path: str) -> list[str]:
    return queries.religions(common.snapshot_at(path))


@st.cache_data(max_entries=64, show_spinner=False)
def measure_values(path: str, measure: queries.Measure) -> pd.DataFrame:
    return queries.measure_values(common.snapshot_at(path), measure)


@st.cache_data(max_entries=32, show_spinner=False)
def assets(path: str, categories: tuple[str, ...], religions_: tuple[str, ...] | None,
           partner: bool) -> pd.DataFrame:
    return queries.assets(common.snapshot_at(path), list(categories),
                       list(religions_) if religions_ is not None else None, partner)


@st.cache_data(max_entries=8, show_spinner=False)
def sensitive_counts(path: str) -> pd.DataFrame:
    return queries.sensitive_counts(common.snapshot_at(path))


@st.cache_data(max_entries=1024, show_spinner=False)
def read(path: str, name: str, *args: Any) -> Any:
    """``assetmap.queries.<name>(snapshot, *args)`` read once per snapshot and arguments, for every
    session (a snapshot never changes; each caller gets its own copy)."""
    return getattr(queries, name)(common.snapshot_at(path), *args)
