"""What the analysis reads: census counts per output area, OA points and demand, and assets.

A recompute reads each census variable once (:class:`Census`), for the OAs of the study area
only (those with a polygon or a unit), pivoted to OA x category in DuckDB: a city loaded beside
the national census file reads its own OAs, not all 181,408.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from assetmap import access as acc
from assetmap import vocab
from assetmap.db import results
from assetmap.network import Costs, Runner, costs_for
from assetmap.queries import inputs as q
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES


def load_counts(con: duckdb.DuckDBPyConnection, variable: str, within: str | None = None) -> pd.DataFrame:
    """OA x category counts of one census variable (latest vintage per OA), OAs sorted.

    ``within`` reads only the OAs that matter: ``"oa"``, those with a polygon (where people live,
    for accessibility); a unit level (``"ward"``...), those with a unit at that level;
    ``"study"``, either. The pivot to one column per category happens in DuckDB.
    """
    cats = q.census_categories(con, variable)
    if not cats:
        return pd.DataFrame()
    got = q.census_pivot(con, variable, cats, within)
    codes = np.asarray(got.pop("area_code"), dtype=object)
    if len(codes) == 0:
        return pd.DataFrame()
    data = {cat: np.nan_to_num(np.asarray(got[f"c{i}"], dtype=float)) for i, cat in enumerate(cats)}
    return pd.DataFrame(data, index=pd.Index(codes, dtype=object, name="area_code"))


class Census:
    """Each census variable's counts per OA for the whole study area, read once and kept."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._counts: dict[str, pd.DataFrame] = {}

    def counts(self, variable: str) -> pd.DataFrame:
        """OA x category counts (empty when the variable is not loaded)."""
        if variable not in self._counts:
            self._counts[variable] = load_counts(self._con, variable, within="study")
        return self._counts[variable]

    def within(self, variable: str, oas: pd.Index) -> pd.DataFrame:
        """Return the counts of the OAs in ``oas`` that have any (in the counts' order)."""
        c = self.counts(variable)
        if c.empty:
            return c
        return c[c.index.isin(pd.Index(oas, dtype=object))]


@dataclass
class Inputs:
    """What accessibility needs: OA points and demand, and the assets of each category."""

    oas: pd.DataFrame
    xy: np.ndarray
    tree: cKDTree
    basis: dict[str, str]
    assets: pd.DataFrame
    #: how far is measured: on foot where a walking network is loaded, else as the crow flies
    costs: Costs
    supplies: dict[str, acc.Supply] = field(default_factory=dict)

    def demand(self, category: str) -> np.ndarray:
        """Each OA's demand for ``category`` (residents counted as its demand basis says)."""
        return cast("np.ndarray", self.oas[f"demand_{category}"].to_numpy(float))


def load_inputs(con: duckdb.DuckDBPyConnection, census: Census | None = None,
                as_at: Any = None, runner: Runner | None = None) -> Inputs | None:
    """Return the OA points, population and demand per category, and the assets.

    OA points (point on surface, EPSG:27700), population, demand per category, and assets (those open now, or
    ``as_at`` a past moment, from the assets' history).

    None when no OA polygons are loaded (accessibility needs where people live). With a
    ``runner``, the walks of a store spanning several authorities are answered by it, an
    authority each (:mod:`assetmap.network.parts`).
    """
    census = census or Census(con)
    oas = q.oa_points(con)
    if oas.empty:
        return None
    codes = pd.Index(oas["oa_code"].to_numpy(dtype=object), dtype=object)
    totals = {v: census.within(v, codes) for v in vocab.VARIABLES}
    eth = totals[vocab.ETHNIC_GROUP]
    if not eth.empty:
        pop = eth.sum(axis=1)
    else:
        frames = [t.sum(axis=1) for t in totals.values() if not t.empty]
        pop = pd.concat(frames, axis=1).max(axis=1) if frames else pd.Series(dtype=float)
    oas["population"] = pop.reindex(codes).fillna(0.0).to_numpy()
    basis = {}
    for cat in CATEGORIES:
        variable, cats, exclude = settings.demand.get(cat, (vocab.ETHNIC_GROUP, (), True))
        t = totals.get(variable)
        if t is None or t.empty:
            oas[f"demand_{cat}"] = oas["population"]
            basis[cat] = f"all residents ({variable} not loaded)"
            continue
        sel = t.reindex(columns=[c for c in cats if c in t.columns], fill_value=0.0).sum(axis=1)
        d = (t.sum(axis=1) - sel) if exclude else sel
        oas[f"demand_{cat}"] = d.reindex(codes).fillna(0.0).to_numpy()
        basis[cat] = (f"{variable}: all except {', '.join(cats)}" if exclude and cats
                      else f"{variable}: all residents" if exclude
                      else f"{variable}: {', '.join(cats)}")
    return _with_assets(con, oas, basis, as_at=as_at, runner=runner)


def _with_assets(con: duckdb.DuckDBPyConnection, oas: pd.DataFrame, basis: dict[str, str],
                 categories: list[str] | None = None, as_at: Any = None, public_only: bool = False,
                 runner: Runner | None = None) -> Inputs:
    assets = q.supply_assets(con, categories, as_at, public_only)
    xy = oas[["x", "y"]].to_numpy(float)
    # an unbalanced tree builds in half the time; it is exact all the same (it only finds neighbours)
    tree = cKDTree(xy, balanced_tree=False, compact_nodes=False)
    from assetmap.transit.journeys import with_buses

    # on foot (or as the crow flies); with the option on, or a short walk and one bus
    supplies = {cat: acc.Supply.from_frame(assets[assets["category"] == cat]) for cat in CATEGORIES}
    costs = costs_for(con, xy, tree, runner=runner, sets={c: s.xy for c, s in supplies.items()},
                      every=q.every_place(con) if runner is not None else None)
    return Inputs(oas=oas, xy=xy, tree=tree, basis=basis, assets=assets, costs=with_buses(con, costs),
                  supplies=supplies)


def stored_inputs(con: duckdb.DuckDBPyConnection, categories: list[str] | None = None,
                  public_only: bool = False) -> Inputs | None:
    """Return the inputs as the last full recompute saw them, with the assets as they are now.

    Return the inputs as the last full recompute saw them (OA points, population, demand), read back from
    ``oa_inputs``, with the assets as they are now (of ``categories`` only, when given; the public ones only,
    when ``public_only``): what an incremental recompute needs, without re-reading the census.
    """
    # the demand of the categories asked for only (each column is 190,000 numbers nationally)
    demand = [f"demand_{c}" for c in (categories if categories is not None else CATEGORIES) if c in CATEGORIES]
    oas = results.stored_oa_inputs(con, demand)
    if oas.empty:
        return None
    basis = results.stored_demand_basis(con)
    for c in CATEGORIES:
        basis.setdefault(c, "all residents")
    return _with_assets(con, oas, basis, categories, public_only=public_only)
