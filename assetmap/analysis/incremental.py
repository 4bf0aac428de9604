"""The incremental recompute: only what changed assets can reach, and the plan what-if shares.

:func:`recompute_affected` takes the wards that an ``assets.changed`` event names (they hold
every changed asset, before and after) and recomputes only the OAs whose accessibility those
assets can change: those within the largest catchment of the wards, those whose nearest asset
was in them or is gone, and those now nearer to an asset in them than to their previous nearest.
Then the units containing those OAs, and the ranks and flags of all units (which depend on every
unit). The result equals a full recompute; the tests check it.

:func:`changed_oa_rows` and :func:`units_after` are that plan; :func:`assetmap.sites.what_if`
runs it in memory for hypothetical sites, writing nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import duckdb
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from assetmap.access import OUTSIDE, walk_cost
from assetmap.analysis import languages
from assetmap.analysis.full import RecomputeResult, recompute
from assetmap.analysis.inputs import Inputs, stored_inputs
from assetmap.analysis.tables import oa_rows, ranked, unit_access, unit_gaps
from assetmap.analysis.units import units_of
from assetmap.db import results
from assetmap.db.geography import area_shapes
from assetmap.db.results import changed_assets, delete_keys, insert, write_analysed_assets
from assetmap.db.store import Store
from assetmap.network import CROW_FLIES, NETWORK, network_key
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES

log = logging.getLogger(__name__)

#: Up to this many changed places, every OA's distance to each at once beats building a tree.
_FEW_PLACES = 16

def reach_m() -> float:
    """How far a change reaches: the largest catchment or E2SFCA band (metres)."""
    return max(max(settings.catchments_m), max(settings.e2sfca_bands))


def _zone_from_wards(con: duckdb.DuckDBPyConnection, inputs: Inputs, wards: list[str], radius: float) -> np.ndarray:
    """Return the indices of the OAs whose point lies within ``radius`` of any of the ``wards``' polygons."""
    hits = [np.empty(0, dtype=np.int64)]
    for geom in shapely.from_wkb([wkb for _code, wkb in area_shapes(con, "ward", wards)]):
        x0, y0, x1, y1 = geom.bounds
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        cand = np.asarray(inputs.tree.query_ball_point(centre, np.hypot(x1 - x0, y1 - y0) / 2 + radius),
                          dtype=np.int64)
        if len(cand):
            hits.append(cand[shapely.dwithin(geom, shapely.points(inputs.xy[cand]), radius)])
    return np.unique(np.concatenate(hits))


def _mode_changed(con: duckdb.DuckDBPyConnection) -> bool:
    """Tell whether the stored access was measured otherwise than a recompute would now.

    Whether the stored access was measured another way than a recompute would measure it now (on foot or as the
    crow flies), or along another network.
    """
    stored = results.stored_access_modes(con) - {OUTSIDE}
    now = NETWORK if network_key(con) is not None else CROW_FLIES
    if stored and stored != {now}:
        return True
    # the option that counts providers a walk and one bus away: a bus reaches beyond any radius,
    # so with it on every change is recomputed in full; switched on or off, so is the next one
    by_bus = results.stored_supply_by_bus(con)
    if settings.supply_by_bus or (by_bus is not None and by_bus != settings.supply_by_bus):
        return True
    # on foot, the network the results were computed on is the one loaded now
    return now == NETWORK and results.results_older_than_network(con)


def affected_oas(inputs: Inputs, nearest_m: np.ndarray, lost: np.ndarray, category: str,
                 zone: np.ndarray, new_xy: np.ndarray) -> np.ndarray:
    """OAs of one category whose accessibility a change can alter (indices into ``inputs.oas``).

    ``nearest_m`` is each OA's stored distance to its nearest asset (NaN: none); ``lost`` marks
    OAs whose stored nearest asset is gone or may have moved; ``zone`` lists the OAs within the
    largest catchment of the changed places; ``new_xy`` is where changed assets are now.
    """
    mask = np.asarray(lost, dtype=bool).copy()
    if len(inputs.supplies[category]):
        mask |= np.isnan(nearest_m)
    if len(new_xy):
        if len(new_xy) <= _FEW_PLACES:
            dx = inputs.xy[:, 0, None] - new_xy[None, :, 0]
            dy = inputs.xy[:, 1, None] - new_xy[None, :, 1]
            d = np.sqrt((dx * dx + dy * dy).min(axis=1))
        else:
            d, _ = cKDTree(new_xy).query(inputs.xy, k=1)
        mask |= d <= np.nan_to_num(nearest_m, nan=np.inf)
    mask[zone] = True
    return np.flatnonzero(mask)


def stored_nearest(con: duckdb.DuckDBPyConnection, inputs: Inputs, category: str,
                    moved: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return the stored cost to the nearest asset per OA, and which OAs lost theirs.

    Return the stored cost to the nearest asset per OA (in ``inputs.oas`` order: the straight line, or on the
    network the walk as metres of effort), and which OAs lost theirs.
    """
    got = results.stored_nearest(con, category, moved)
    near = walk_cost(got["nearest_m"], got["nearest_min"], got["access_mode"])
    # on the network a hair more, so that rounding never hides an OA a change can reach
    on_foot = np.asarray(got["access_mode"], dtype=object) == NETWORK
    near = np.where(on_foot, near * (1 + 1e-9) + 1e-6, near)
    lost = np.asarray(got["lost"], dtype=bool)
    if len(near) != len(inputs.oas):
        msg = "oa_access does not cover every OA: run a full `assetmap recompute`"
        raise ValueError(msg)
    return near, lost


def changed_oa_rows(con: duckdb.DuckDBPyConnection, inputs: Inputs,
                    changes: dict[str, tuple[list[str], np.ndarray, np.ndarray]]) -> pd.DataFrame | None:
    """Return the new ``oa_access`` rows of the OAs a change can alter, per category.

    ``changes`` maps a category to ``(gone, zone, new_xy)``: the ids of its assets that are gone
    or may have moved, the OAs (indices into ``inputs.oas``) within reach of the changed places,
    and where its changed or new assets are now. ``inputs`` already holds the assets as changed.
    """
    rows = []
    for cat, (gone, zone, new_xy) in changes.items():
        near, lost = stored_nearest(con, inputs, cat, gone)
        targets = affected_oas(inputs, near, lost, cat, zone, new_xy)
        if len(targets):
            rows.append(oa_rows(inputs, cat, targets))
    return pd.concat(rows, ignore_index=True) if rows else None


def units_after(con: duckdb.DuckDBPyConnection, inputs: Inputs, level: str, new: pd.DataFrame | None,
                touched: set[str], categories: Iterable[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the ``unit_access`` and ``unit_gaps`` rows of the ``touched`` units.

    ``unit_access`` and ``unit_gaps`` rows (gaps without rank) of the ``touched`` units, for the ``categories``
    (default all), from their stored OA rows with the ``new`` ones in place.
    """
    umap = units_of(con, level, units=touched)
    rows = results.stored_unit_rows(con, level, touched)
    if new is not None:
        key = ["oa_code", "category"]
        rows = pd.concat([rows.set_index(key).drop(new.set_index(key).index, errors="ignore").reset_index(),
                          new], ignore_index=True)
    access_rows = unit_access(inputs, rows, umap, level, units=touched, categories=categories)
    return access_rows, unit_gaps(results.stored_need(con, level, touched), access_rows)


def oas_in_reach(inputs: Inputs, xy: np.ndarray) -> np.ndarray:
    """Return the indices of the OAs within reach (:func:`reach_m`) of any of the places ``xy``, ascending."""
    hits = inputs.tree.query_ball_point(xy, reach_m()) if len(xy) else []
    return np.unique(np.concatenate([np.asarray(h, dtype=np.int64) for h in hits] or [np.empty(0, dtype=np.int64)]))


def _exact_changes(inputs: Inputs, changed: pd.DataFrame, categories: list[str]
                   ) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """Return, per category, what changed: assets gone, OAs within reach, places now.

    Per category: the assets gone from where they were, the OAs within reach of where any changed asset was or
    is, and where the changed assets are now.
    """
    changes = {}
    for cat in categories:
        old = changed[changed["old_category"] == cat]
        now = changed[changed["new_category"] == cat]
        pts = np.concatenate([old[["ox", "oy"]].to_numpy(float), now[["nx", "ny"]].to_numpy(float)])
        changes[cat] = (old["asset_id"].tolist(), oas_in_reach(inputs, pts), now[["nx", "ny"]].to_numpy(float))
    return changes


def recompute_affected(store: Store, wards: Iterable[str]) -> RecomputeResult:
    """Recompute only what changed assets can reach (see the module docstring).

    The store remembers the assets each recompute saw (``analysed_assets``), so the changed ones
    are known exactly, and only their categories are recomputed. Results from before it did are
    updated from the ``wards`` an ``assets.changed`` event names: every asset in them is taken
    as changed. Falls back to a full recompute when nothing has been computed yet.
    """
    t0 = time.perf_counter()
    con = store.con
    levels = results.stored_levels(con)
    if not levels or _mode_changed(con):  # nothing yet, or a walking network loaded or gone since
        return recompute(store)
    res = RecomputeResult(level=",".join(levels), mode="incremental")
    changed = changed_assets(con)
    if changed is not None:
        cats, counted, inputs, changes = _exactly(con, levels, changed)
    else:
        cats, counted, inputs, changes = _by_wards(con, levels, sorted(set(wards)))
    if inputs is None or not cats:  # nothing changed since the last recompute
        res.seconds = time.perf_counter() - t0
        return res
    new = changed_oa_rows(con, inputs, changes)
    writes: list[tuple[str, pd.DataFrame, pd.DataFrame]] = []
    lang_writes: list[tuple[str, pd.DataFrame, list[str]]] = []
    for level in levels:
        touched = set(units_of(con, level, oas=new["oa_code"].unique()).values) if new is not None else set()
        # units whose asset counts changed, wherever the assets moved from or to
        touched |= {unit for unit, cat in counted[level] if cat in cats}
        if not touched:
            continue
        access_rows, gaps = units_after(con, inputs, level, new, touched, cats)
        writes.append((level, access_rows, gaps))
        res.changed_units += sorted(touched)
        if set(cats) & set(languages.PROVIDER_CATEGORIES):  # their language match, with the OA points at hand
            units = sorted(touched)
            lang_writes.append((level, languages.compute(con, units_of(con, level, units=units), inputs.oas), units))
    _write_affected(store, new, writes, lang_writes, cats, None if changed is None else changed["asset_id"].tolist())
    res.oas = int(new["oa_code"].nunique()) if new is not None else 0
    res.units = len(res.changed_units)
    res.seconds = time.perf_counter() - t0
    log.info("incremental recompute (%s): %d OAs, %d units in %.3f s",
             ", ".join(cats), res.oas, res.units, res.seconds)
    return res


_Changes = dict[str, tuple[list[str], np.ndarray, np.ndarray]]
_Counted = dict[str, set[tuple[str, str]]]


def _exactly(con: duckdb.DuckDBPyConnection, levels: list[str], changed: pd.DataFrame
             ) -> tuple[list[str], _Counted, Inputs | None, _Changes]:
    """Return the categories, counts and reach of the assets that changed since the last recompute."""
    cats = sorted((set(changed["old_category"].dropna()) | set(changed["new_category"].dropna()))
                  & set(CATEGORIES))
    if not cats:
        return [], {}, None, {}
    counted = {level: results.changed_counts(con, level, cats) for level in levels}
    inputs = stored_inputs(con, cats)
    return cats, counted, inputs, (_exact_changes(inputs, changed, cats) if inputs is not None else {})


def _by_wards(con: duckdb.DuckDBPyConnection, levels: list[str], wards: list[str]
              ) -> tuple[list[str], _Counted, Inputs | None, _Changes]:
    """For results from before the store remembered its assets.

    Every asset in ``wards`` taken as changed, with the zone they reach.
    """
    counted = {level: results.changed_counts(con, level) for level in levels}
    inputs = stored_inputs(con)
    if inputs is None or not wards:
        return [], counted, None, {}
    zone = _zone_from_wards(con, inputs, wards, reach_m())
    in_wards = inputs.assets[inputs.assets["ward_code"].isin(wards)]
    # the categories with an asset in the wards, or whose counts changed anywhere (a closure)
    cats = sorted((set(in_wards["category"]) | {c for pairs in counted.values() for _, c in pairs})
                  & set(CATEGORIES))
    changes = {}
    for cat in cats:
        here = in_wards[in_wards["category"] == cat]
        changes[cat] = (here["asset_id"].tolist(), zone, here[["x", "y"]].to_numpy(float))
    return cats, counted, inputs, changes


def _write_affected(store: Store, new: pd.DataFrame | None, writes: list[tuple[str, pd.DataFrame, pd.DataFrame]],
                    lang_writes: list[tuple[str, pd.DataFrame, list[str]]], cats: list[str],
                    changed_ids: list[str] | None) -> None:
    """Write the changed OA rows and units, rank again and remember the assets, at once.

    Write the changed OA rows and units, rank the categories again, and remember the assets seen (those that
    changed, or all of them), in one transaction.
    """
    con = store.con
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    with store.transaction():
        for level, rows, units in lang_writes:
            results.delete_unit_languages(con, level, units)
            if not rows.empty:
                insert(con, "unit_languages", rows.assign(unit_level=level, computed_at=now))
        if new is not None:
            delete_keys(con, "oa_access", new[["oa_code", "category"]])
            insert(con, "oa_access", new)
        for level, access_rows, gaps in writes:
            keys = access_rows[["unit_code", "category"]].assign(unit_level=level)
            delete_keys(con, "unit_access", keys)
            insert(con, "unit_access", access_rows.assign(computed_at=now))
            if not gaps.empty:
                delete_keys(con, "unit_gaps", gaps[["unit_code", "category"]].assign(unit_level=level))
                insert(con, "unit_gaps", gaps.assign(unit_level=level, computed_at=now, rank=None, flags=None))
            _rerank(con, level, cats)
        if changed_ids is not None:
            write_analysed_assets(con, changed_ids)
        else:
            write_analysed_assets(con)


def _rerank(con: duckdb.DuckDBPyConnection, level: str, categories: list[str]) -> None:
    """Rank and flag every unit again in the ``categories`` (both depend on all units).

    Write only what changed.
    """
    gaps, access_rows = results.ranking_rows(con, level, categories)
    if gaps.empty:
        return
    rf = ranked(gaps[["unit_code", "category", "need", "supply", "gap"]], access_rows)
    old = gaps[["unit_code", "category", "rank", "flags"]]
    both = rf.merge(old, on=["unit_code", "category"], suffixes=("", "_old"))
    changed = both[(both["rank"] != both["rank_old"]) | (both["flags"] != both["flags_old"])]
    if changed.empty:
        return
    results.update_ranks(con, level, changed)
