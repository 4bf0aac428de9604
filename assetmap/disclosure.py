"""What the public may know of a sensitive site: the disclosure rule, in one place.

A sensitive site (a refugee-support venue, a women-only class) must not be locatable from what the
public variant of a snapshot holds. Leaving its row out is not enough: every figure that counts it
is a clue. Counts within 800 m and 1,600 m of each output area, less what the public sites
explain, leave discs around each hidden site; distances blanked only where the nearest site is a
hidden one mark where it is. The rule:

1. **Per output area** (``oa_access``) and **per unit finer than a ward** (LSOA, MSOA: in
   ``unit_access``, ``unit_gaps``, ``unit_gaps_as_at``, ``unit_languages``), every figure is
   computed as if the sensitive sites did not exist: from the public sites only. A category whose
   sites are all sensitive has no such rows.
2. **Per ward and per local authority**, figures may include the sensitive sites' supply (the
   gaps would mislead without it), rounded: shares and scores to the nearest 0.05, E2SFCA to two
   significant figures, residents covered to the nearest 10; distances to the nearest site are
   those to the nearest *public* site. How many sensitive sites each ward holds, and how many lie
   within reach of it, is published as it is (``sensitive_site_counts``).

Why the rounding: a ward is the finest area for which anything counts a sensitive site, and that a
site lies in or near a ward is already published as a count. What rounding takes away is the
small change one site makes in a neighbouring ward's figure, which would otherwise say how far from
that ward it lies, as ONS rounds small counts (to the nearest 5 or 10) so that census tables cannot
be differenced. That it suffices is not argued but tested: ``tests/test_disclosure.py`` plays the
attacker against the public snapshot and must find nothing within 250 m of a site, while the same
attack on the figures before this rule finds them.

:func:`public_frames` applies the rule when a snapshot is published (:mod:`assetmap.snapshots`);
``tests/test_disclosure.py`` plays the attacker against what the public receives.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from assetmap.db import snapshot as snapshot_sql
from assetmap.vocab import categories as cats

log = logging.getLogger(__name__)

#: The levels at which figures may include the sensitive sites' supply (rounded).
COARSE = ("ward", "la")
#: Rounding steps of rule 2.
SCORE_STEP = 0.05
E2SFCA_DIGITS = 2
RESIDENTS_STEP = 10.0
_SHARE_COLS = ("share_within_800", "share_within_1600")


def round_to(x: Any, step: float) -> Any:
    """``x`` to the nearest multiple of ``step`` (NaN stays NaN)."""
    return np.round(np.asarray(x, dtype=float) / step) * step


def round_significant(x: Any, digits: int = E2SFCA_DIGITS) -> np.ndarray:
    """``x`` to ``digits`` significant figures (0 and NaN stay as they are)."""
    a = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where((a != 0) & np.isfinite(a), np.floor(np.log10(np.abs(a))), 0)
    scale = 10.0 ** (digits - 1 - mag)
    return np.where(np.isfinite(a) & (a != 0), np.round(a * scale) / scale, a)


def touched_categories(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    """Return the categories a sensitive site touches, as ``(mixed, hidden)``.

    The categories with both public and sensitive sites, and those whose sites are all sensitive (or that are
    sensitive by definition).
    """
    rows = snapshot_sql.sensitivity_by_category(con)
    hidden = sorted({c for c, _, every in rows if every} | set(cats.SENSITIVE_CATEGORIES))
    mixed = sorted(c for c, some, every in rows if some and not every and c not in hidden)
    return mixed, hidden


def _json_round(value: Any) -> Any:
    """Return a JSON document with every number rounded to :data:`SCORE_STEP` and every distance dropped."""
    if isinstance(value, dict):
        return {k: _json_round(v) for k, v in value.items() if "nearest" not in k}
    if isinstance(value, list):
        return [_json_round(v) for v in value]
    if isinstance(value, float):
        return float(round_to(value, SCORE_STEP))
    return value


def _round_gap_rows(df: pd.DataFrame, touched: list[str]) -> pd.DataFrame:
    """Rule 2 on ``unit_gaps``-shaped rows (rule 1: finer levels of touched categories dropped)."""
    if df.empty:
        return df
    on = df["category"].isin(touched).to_numpy()
    df = df[~on | df["unit_level"].isin(COARSE).to_numpy()].copy()
    on = df["category"].isin(touched).to_numpy()
    for col in ("supply", "gap"):
        df.loc[on, col] = round_to(df.loc[on, col], SCORE_STEP)
    for col in ("components", "strengths"):
        if col in df:
            df.loc[on, col] = df.loc[on, col].map(
                lambda v: None if v is None else json.dumps(_json_round(json.loads(v) if isinstance(v, str) else v)))
    return df


def public_frames(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """Return the public variant's rows of the tables the rule rewrites.

    Return the public variant's rows of the tables the rule rewrites, from the partner snapshot ``con`` (which
    holds every site): ``oa_access``, ``unit_access``, ``unit_gaps``, ``unit_gaps_as_at`` and
    ``unit_languages``.
    """
    from assetmap.analysis.inputs import stored_inputs
    from assetmap.analysis.tables import oa_rows, unit_access
    from assetmap.analysis.units import unit_map

    mixed, hidden = touched_categories(con)
    touched = mixed + hidden
    out: dict[str, pd.DataFrame] = {}
    oa = snapshot_sql.oa_access_except(con, touched)
    ua = snapshot_sql.ruled_rows(con, "unit_access")
    levels = sorted(ua["unit_level"].unique()) if not ua.empty else []
    public_oa = []
    inputs = stored_inputs(con, mixed, public_only=True) if mixed else None
    if inputs is not None:
        for cat in mixed:  # rule 1: as if the sensitive sites did not exist
            public_oa.append(oa_rows(inputs, cat))
    public_rows = pd.concat(public_oa, ignore_index=True) if public_oa else None
    out["oa_access"] = pd.concat([oa, public_rows], ignore_index=True) if public_rows is not None else oa
    keep = ua[~ua["category"].isin(touched)]
    frames = [keep]
    for level in levels:
        mine = ua[(ua["unit_level"] == level) & ua["category"].isin(touched)]
        if mine.empty:
            continue
        if inputs is not None and public_rows is not None:
            pub = unit_access(inputs, public_rows, unit_map(con, level), level, categories=mixed)
            pub = pub.assign(computed_at=mine["computed_at"].max(), supply_by_bus=bool(mine["supply_by_bus"].any()))
        else:
            pub = mine.iloc[:0]
        if level not in COARSE:
            frames.append(pub)  # rule 1 (a hidden category has no public rows)
            continue
        # rule 2: the supply side of every touched category, rounded; distances to public sites only
        rounded = mine.copy()
        for col in _SHARE_COLS:
            rounded[col] = round_to(rounded[col], SCORE_STEP)
        rounded["e2sfca"] = round_significant(rounded["e2sfca"])
        rounded["mean_n_1600"] = round_to(rounded["mean_n_1600"], 0.5)
        nearest = pub.set_index(["unit_code", "category"])[["nearest_m", "nearest_min", "crow_m"]] \
            if not pub.empty else None
        key = pd.MultiIndex.from_frame(rounded[["unit_code", "category"]])
        for col in ("nearest_m", "nearest_min", "crow_m"):
            rounded[col] = nearest[col].reindex(key).to_numpy() if nearest is not None else np.nan
        frames.append(rounded)
    nonempty = [f for f in frames if not f.empty]
    out["unit_access"] = pd.concat(nonempty, ignore_index=True) if nonempty else ua.iloc[:0]
    out["unit_gaps"] = _round_gap_rows(snapshot_sql.ruled_rows(con, "unit_gaps"), touched)
    out["unit_gaps_as_at"] = _round_gap_rows(snapshot_sql.ruled_rows(con, "unit_gaps_as_at"), touched)
    lang = snapshot_sql.ruled_rows(con, "unit_languages")
    if not lang.empty and touched:  # the residents within reach of a provider, sensitive ones among them
        lang = lang[lang["unit_level"].isin(COARSE)].copy()
        lang["covered"] = round_to(lang["covered"], RESIDENTS_STEP)
        lang["language_gap"] = round_to(lang["language_gap"], SCORE_STEP)
    out["unit_languages"] = lang
    log.info("public variant: %s computed from public sites only; %s figures per ward rounded",
             ", ".join(mixed) or "no category", ", ".join(touched) or "no category's")
    return out
