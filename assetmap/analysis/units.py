"""Units of analysis: which unit (ward, MSOA, LSOA, LA) each output area belongs to."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from assetmap.queries import inputs as q
from assetmap.vocab.units import OA_RE

__all__ = ["OA_RE", "UNIT_LEVELS", "unit_map"]

#: The levels the analysis reports on, finest first after the ward.
UNIT_LEVELS = ("ward", "msoa", "lsoa", "la")


def unit_map(con: duckdb.DuckDBPyConnection, level: str) -> pd.Series:
    """oa_code -> the code of its unit at ``level`` (from the OA lookups, file or best fit)."""
    return q.oa_units(con, level).set_index("area_code")["parent_code"].sort_index()


def chosen_level(con: duckdb.DuckDBPyConnection, level: str | None) -> str:
    """``level``, checked, or :func:`default_level` when none is given."""
    level = level or default_level(con)
    if level not in UNIT_LEVELS:
        msg = f"unit level must be one of {UNIT_LEVELS}, not {level!r}"
        raise ValueError(msg)
    return level


def default_level(con: duckdb.DuckDBPyConnection) -> str:
    """Wards where OAs have them, else the finest of MSOA, LSOA, LA that they have."""
    have = q.oa_unit_levels(con)
    for level in ("ward", "msoa", "lsoa", "la"):
        if level in have:
            return level
    msg = "no OA lookup to any unit (ward, msoa, lsoa, la): load boundaries or a lookup first"
    raise ValueError(msg)


def region_of_units(con: duckdb.DuckDBPyConnection, umap: pd.Series, level: str) -> pd.Series:
    """Return the unit code -> its local authority: the LA of most of its OAs; the whole study when none."""
    if level == "la":
        return pd.Series("study_area", index=pd.Index(sorted(set(umap.values))))
    la = unit_map(con, "la")
    df = pd.DataFrame({"unit": umap, "la": la.reindex(umap.index)}).dropna()
    if df.empty:
        return pd.Series("study_area", index=pd.Index(sorted(set(umap.values))))
    best = (df.groupby(["unit", "la"]).size().rename("n").reset_index()
              .sort_values(["unit", "n", "la"], ascending=[True, False, True])
              .drop_duplicates("unit").set_index("unit")["la"])
    return best.reindex(sorted(set(umap.values))).fillna("study_area")


def units_of(con: duckdb.DuckDBPyConnection, level: str, *, oas: Iterable[str] = (),
             units: Iterable[str] = ()) -> pd.Series:
    """oa_code -> unit code for the given OAs, or for every OA of the given units."""
    return q.units_of(con, level, oas, units).set_index("area_code")["parent_code"].sort_index()
