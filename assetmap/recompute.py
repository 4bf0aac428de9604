"""Recompute the analysis tables from the store: in full, or only what changed assets reach.

A full recompute (:func:`recompute`) computes, for one unit level (ward by default; ``msoa``
or ``la`` where data comes without wards): the segregation indices (``unit_indices``),
accessibility per OA (``oa_access``) and per unit (``unit_access``), need (``unit_need``) and
gaps (``unit_gaps``). Each table is replaced in one transaction, so a reader sees the old
results or the new, never a mix.

An incremental recompute (:func:`recompute_affected`) takes the wards that an
``assets.changed`` event names (they hold every changed asset, before and after) and
recomputes only the OAs whose accessibility those assets can change: those within the largest
catchment of the wards, those whose nearest asset was in them or is gone, and those now nearer
to an asset in them than to their previous nearest. Then the units containing those OAs, and
the ranks and flags of all units (which depend on every unit). The result equals a full
recompute; the tests check it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from assetmap import access as acc
from assetmap import gaps as gapmod
from assetmap import segregation as seg
from assetmap import vocab
from assetmap.settings import settings
from assetmap.store import Store
from assetmap.vocab.categories import CATEGORIES

log = logging.getLogger(__name__)

UNIT_LEVELS = ("ward", "msoa", "lsoa", "la")
_OA_RE = "^[EWSN]00"


# -- loading --------------------------------------------------------------------------------

def load_counts(con: duckdb.DuckDBPyConnection, variable: str, within: str | None = None) -> pd.DataFrame:
    """OA x category counts of one census variable (latest vintage per OA), OAs sorted.

    ``within`` reads only the OAs that matter: ``"oa"``, those with a polygon (where people live,
    for accessibility); a unit level (``"ward"``...), those with a unit at that level. A city
    loaded beside the national census file then reads its own OAs, not all 181,408.
    """
    if within == "oa":
        study, params = "AND area_code IN (SELECT code FROM areas WHERE level = 'oa')", []
    elif within is not None:
        study, params = "AND area_code IN (SELECT area_code FROM area_lookup WHERE parent_level = ?)", [within]
    else:
        study, params = "", []
    df = con.execute(
        f"""
        SELECT area_code, category, sum(count)::DOUBLE AS n FROM (
            SELECT * FROM population WHERE variable = ? AND regexp_matches(area_code, ?) {study}
            QUALIFY vintage = max(vintage) OVER (PARTITION BY area_code, variable))
        GROUP BY area_code, category
        """,  # noqa: S608 (one of three fixed filters; the values are parameters)
        [variable, _OA_RE, *params],
    ).df()
    if df.empty:
        return pd.DataFrame()
    wide = df.pivot(index="area_code", columns="category", values="n").fillna(0.0)
    wide = wide.sort_index()
    wide.columns.name = None
    return wide[sorted(wide.columns)]


def unit_map(con: duckdb.DuckDBPyConnection, level: str) -> pd.Series:
    """oa_code -> the code of its unit at ``level`` (from the OA lookups, file or best fit)."""
    df = con.execute(
        "SELECT area_code, parent_code FROM area_lookup WHERE parent_level = ? AND regexp_matches(area_code, ?)",
        [level, _OA_RE],
    ).df()
    return df.set_index("area_code")["parent_code"].sort_index()


def default_level(con: duckdb.DuckDBPyConnection) -> str:
    """Wards where OAs have them, else the finest of MSOA, LSOA, LA that they have."""
    have = {r[0] for r in con.execute(
        "SELECT DISTINCT parent_level FROM area_lookup WHERE regexp_matches(area_code, ?)", [_OA_RE]
    ).fetchall()}
    for level in ("ward", "msoa", "lsoa", "la"):
        if level in have:
            return level
    raise ValueError("no OA lookup to any unit (ward, msoa, lsoa, la): load boundaries or a lookup first")


def region_of_units(con: duckdb.DuckDBPyConnection, umap: pd.Series, level: str) -> pd.Series:
    """unit code -> its local authority: the LA of most of its OAs; the whole study when none."""
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


@dataclass
class Inputs:
    """What accessibility needs: OA points and demand, and the assets of each category."""

    oas: pd.DataFrame
    xy: np.ndarray
    tree: cKDTree
    basis: dict[str, str]
    assets: pd.DataFrame
    supplies: dict[str, acc.Supply] = field(default_factory=dict)

    def demand(self, category: str) -> np.ndarray:
        return self.oas[f"demand_{category}"].to_numpy(float)


def load_inputs(con: duckdb.DuckDBPyConnection) -> Inputs | None:
    """OA points (point on surface, EPSG:27700), population, demand per category, and assets.

    None when no OA polygons are loaded (accessibility needs where people live).
    """
    oas = con.execute(
        """SELECT code AS oa_code, ST_X(p) AS x, ST_Y(p) AS y FROM (
               SELECT code, ST_PointOnSurface(geom) AS p FROM areas WHERE level = 'oa')
           ORDER BY code"""
    ).df()
    if oas.empty:
        return None
    totals: dict[str, pd.DataFrame] = {v: load_counts(con, v, within="oa") for v in vocab.VARIABLES}
    eth = totals[vocab.ETHNIC_GROUP]
    if not eth.empty:
        pop = eth.sum(axis=1)
    else:
        frames = [t.sum(axis=1) for t in totals.values() if not t.empty]
        pop = pd.concat(frames, axis=1).max(axis=1) if frames else pd.Series(dtype=float)
    oas["population"] = pop.reindex(oas["oa_code"]).fillna(0.0).to_numpy()
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
        oas[f"demand_{cat}"] = d.reindex(oas["oa_code"]).fillna(0.0).to_numpy()
        basis[cat] = (f"{variable}: all except {', '.join(cats)}" if exclude and cats
                      else f"{variable}: all residents" if exclude
                      else f"{variable}: {', '.join(cats)}")
    return _with_assets(con, oas, basis)


def _with_assets(con: duckdb.DuckDBPyConnection, oas: pd.DataFrame, basis: dict[str, str]) -> Inputs:
    assets = con.execute(
        """SELECT asset_id, category, ST_X(geom) AS x, ST_Y(geom) AS y, oa_code, ward_code,
                  coalesce(TRY_CAST(json_extract_string(attrs, '$.capacity') AS DOUBLE), 1.0) AS supply
           FROM assets WHERE geom IS NOT NULL ORDER BY asset_id"""
    ).df()
    xy = oas[["x", "y"]].to_numpy(float)
    inputs = Inputs(oas=oas, xy=xy, tree=cKDTree(xy), basis=basis, assets=assets)
    for cat in CATEGORIES:
        inputs.supplies[cat] = acc.Supply.from_frame(assets[assets["category"] == cat])
    return inputs


def stored_inputs(con: duckdb.DuckDBPyConnection) -> Inputs | None:
    """The inputs as the last full recompute saw them (OA points, population, demand), read back
    from ``oa_access``, with the assets as they are now: what an incremental recompute needs,
    without re-reading the census."""
    oas = pd.DataFrame(con.execute("SELECT * FROM oa_inputs ORDER BY oa_code").fetchnumpy())
    if oas.empty:
        return None
    basis = dict(con.execute("SELECT category, any_value(demand_basis) FROM unit_access GROUP BY 1").fetchall())
    for c in CATEGORIES:
        basis.setdefault(c, "all residents")
    return _with_assets(con, oas, basis)


# -- computing ------------------------------------------------------------------------------

def compute_indices(con: duckdb.DuckDBPyConnection, level: str, n_boot: int = 0) -> pd.DataFrame:
    """Every segregation index of every unit at ``level`` (long form, ``unit_indices`` columns)."""
    counts = load_counts(con, vocab.ETHNIC_GROUP, within=level)
    umap = unit_map(con, level)
    if counts.empty or umap.empty:
        return pd.DataFrame()
    counts = counts.loc[counts.index.isin(umap.index)]
    units = seg.Units.from_labels(umap.reindex(counts.index).to_numpy())
    focal = vocab.focal_groups(counts.columns)
    out = seg.compute_all(counts, units, focal, min_oas=settings.min_oas,
                          min_focal=settings.min_focal, n_boot=n_boot)
    # location quotients of each focal group in each unit, relative to its local authority
    arr = counts.to_numpy(float)
    unit_counts = units.sum(arr)
    col = {c: i for i, c in enumerate(counts.columns)}
    fcounts = np.column_stack([unit_counts[:, [col[m] for m in ms]].sum(axis=1) for ms in focal.values()])
    region = region_of_units(con, umap, level).reindex(units.codes)
    regions = seg.Units.from_labels(region.to_numpy())
    lq = seg.location_quotient(fcounts, regions, totals=unit_counts.sum(axis=1))
    n_oas = units.count()
    lq_frame = pd.DataFrame({
        "unit_code": np.repeat(units.codes, len(focal)),
        "focal_group": np.tile(list(focal), units.n),
        "index_name": "location_quotient",
        "value": lq.ravel(), "ci_low": np.nan, "ci_high": np.nan,
        "reliable": (np.isfinite(lq) & (unit_counts.sum(axis=1) >= settings.min_focal)[:, None]
                     & (n_oas >= settings.min_oas)[:, None]).ravel(),
        "n_oas": np.repeat(n_oas, len(focal)),
    })
    out = pd.concat([out, lq_frame], ignore_index=True)
    out["value"] = out["value"].where(np.isfinite(out["value"]))
    return out


def _unit_counts(con: duckdb.DuckDBPyConnection, variable: str, umap: pd.Series,
                 level: str | None = None) -> pd.DataFrame | None:
    c = load_counts(con, variable, within=level)
    if c.empty:
        return None
    c = c.loc[c.index.isin(umap.index)]
    return c.groupby(umap.reindex(c.index).to_numpy()).sum()


def compute_need(con: duckdb.DuckDBPyConnection, level: str, indices: pd.DataFrame) -> pd.DataFrame:
    """Raw and scaled need components per unit (long form, ``unit_need`` columns)."""
    umap = unit_map(con, level)
    english = _unit_counts(con, vocab.ENGLISH_PROFICIENCY, umap, level)
    birth = _unit_counts(con, vocab.COUNTRY_OF_BIRTH, umap, level)
    eth = load_counts(con, vocab.ETHNIC_GROUP, within=level)
    n_groups = len([c for c in eth.columns if c != vocab.UNLISTED]) if not eth.empty else 0
    entropy = theil = None
    if not indices.empty:
        multi = indices[indices["focal_group"] == seg.ALL_GROUPS].set_index(["index_name", "unit_code"])["value"]
        entropy = multi.loc["entropy"] if "entropy" in multi.index.get_level_values(0) else None
        theil = multi.loc["theil_h"] if "theil_h" in multi.index.get_level_values(0) else None
    raw = gapmod.need_raw(english, birth, entropy, n_groups, theil)
    if raw.empty:
        return pd.DataFrame(columns=["unit_code", "component", "raw", "scaled"])
    raw = raw.reindex(sorted(set(umap.values)))
    scaled = gapmod.scale_components(raw)
    long = raw.stack(future_stack=True).rename("raw").to_frame().join(
        scaled.stack(future_stack=True).rename("scaled"))
    long.index.names = ["unit_code", "component"]
    return long.reset_index()


def _oa_rows(inputs: Inputs, category: str, targets: np.ndarray | None = None) -> pd.DataFrame:
    r = acc.oa_access(inputs.xy, inputs.demand(category), inputs.supplies[category], targets,
                      oa_tree=inputs.tree)
    idx = r["oa_index"].to_numpy()
    return pd.DataFrame({
        "oa_code": inputs.oas["oa_code"].to_numpy()[idx], "category": category,
        "population": inputs.oas["population"].to_numpy()[idx],
        "demand": inputs.demand(category)[idx],
        "nearest_m": r["nearest_m"].to_numpy(), "nearest_asset_id": r["nearest_asset_id"].to_numpy(),
        "n_800": r["n_800"].to_numpy(), "n_1600": r["n_1600"].to_numpy(),
        "e2sfca": r["e2sfca"].to_numpy(),
    })


def _asset_units(inputs: Inputs, umap: pd.Series, level: str) -> pd.DataFrame:
    a = inputs.assets
    unit = a["ward_code"] if level == "ward" else a["oa_code"].map(umap)
    g = pd.DataFrame({"unit_code": unit, "category": a["category"], "supply": a["supply"]}).dropna(
        subset=["unit_code"])
    return g.groupby(["unit_code", "category"]).agg(assets_in_unit=("supply", "size"),
                                                     capacity_in_unit=("supply", "sum")).reset_index()


def unit_access(inputs: Inputs, oa_rows: pd.DataFrame, umap: pd.Series, level: str,
                units: Iterable[str] | None = None) -> pd.DataFrame:
    """``unit_access`` rows for the units (all, or those given) from their OAs' rows."""
    counts = _asset_units(inputs, umap, level)
    if units is not None:
        keep = set(units)
        umap = umap[umap.isin(keep)]
    frames = []
    for cat in CATEGORIES:
        rows = oa_rows[oa_rows["category"] == cat]
        agg = acc.aggregate(rows, umap)
        agg.insert(1, "category", cat)
        agg["demand_basis"] = inputs.basis[cat]
        frames.append(agg)
    out = pd.concat(frames, ignore_index=True)
    out = out.merge(counts, on=["unit_code", "category"], how="left")
    out["assets_in_unit"] = out["assets_in_unit"].fillna(0).astype(int)
    out["capacity_in_unit"] = out["capacity_in_unit"].fillna(0.0)
    out.insert(0, "unit_level", level)
    return out


def unit_gaps(need: pd.DataFrame, access_rows: pd.DataFrame) -> pd.DataFrame:
    """``unit_gaps`` rows (without rank and flags) for the units in ``access_rows``."""
    frames = []
    for cat in CATEGORIES:
        a = access_rows[access_rows["category"] == cat]
        if not a.empty:
            frames.append(gapmod.score(need, a, cat))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def ranked(gaps: pd.DataFrame, access_rows: pd.DataFrame) -> pd.DataFrame:
    """Rank and flags for every unit and category (over all units of each category)."""
    frames = []
    for cat, g in gaps.groupby("category"):
        rf = gapmod.rank_and_flag(g, access_rows[access_rows["category"] == cat])
        rf.insert(1, "category", cat)
        frames.append(rf)
    return pd.concat(frames, ignore_index=True)


# -- writing --------------------------------------------------------------------------------

_COLUMNS = {
    "unit_indices": ["unit_level", "unit_code", "focal_group", "index_name", "value", "ci_low",
                     "ci_high", "reliable", "n_oas", "computed_at"],
    "oa_inputs": ["oa_code", "x", "y", "population"] + [f"demand_{c}" for c in CATEGORIES],
    "oa_access": ["oa_code", "category", "population", "demand", "nearest_m", "nearest_asset_id",
                  "n_800", "n_1600", "e2sfca"],
    "unit_access": ["unit_level", "unit_code", "category", "population", "demand", "demand_basis",
                    "nearest_m", "share_within_800", "share_within_1600", "mean_n_1600", "e2sfca",
                    "assets_in_unit", "capacity_in_unit", "computed_at"],
    "unit_need": ["unit_level", "unit_code", "component", "raw", "scaled", "computed_at"],
    "unit_gaps": ["unit_level", "unit_code", "category", "need", "supply", "gap", "rank",
                  "components", "flags", "strengths", "computed_at"],
}


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    cols = _COLUMNS[table]
    con.register("_frame", frame[cols])
    try:
        # table and column names come from the fixed map above, never from input
        con.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _frame")  # noqa: S608
    finally:
        con.unregister("_frame")


def _delete_keys(con: duckdb.DuckDBPyConnection, table: str, keys: pd.DataFrame) -> None:
    con.register("_keys", keys)
    try:
        cond = " AND ".join(f"t.{c} = k.{c}" for c in keys.columns)
        con.execute(f"DELETE FROM {table} t USING _keys k WHERE {cond}")  # noqa: S608 (our tables and key columns)
    finally:
        con.unregister("_keys")


@dataclass
class RecomputeResult:
    level: str
    mode: str
    units: int = 0
    oas: int = 0
    changed_units: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"level": self.level, "mode": self.mode, "units": self.units, "oas": self.oas,
                "changed_units": self.changed_units, "seconds": round(self.seconds, 3),
                "notes": self.notes}


def recompute(store: Store, level: str | None = None, n_boot: int = 0) -> RecomputeResult:
    """Full recompute of every analysis table for one unit level (default: :func:`default_level`)."""
    t0 = time.perf_counter()
    con = store.con
    level = level or default_level(con)
    if level not in UNIT_LEVELS:
        raise ValueError(f"unit level must be one of {UNIT_LEVELS}, not {level!r}")
    res = RecomputeResult(level=level, mode="full")
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    indices = compute_indices(con, level, n_boot)
    need = compute_need(con, level, indices)
    inputs = load_inputs(con)
    umap = unit_map(con, level)
    access_rows = gaps = oa_rows = None
    if inputs is None:
        res.notes.append("no OA polygons loaded: accessibility and gaps not computed")
    else:
        oa_rows = pd.concat([_oa_rows(inputs, c) for c in CATEGORIES], ignore_index=True)
        access_rows = unit_access(inputs, oa_rows, umap, level)
        gaps = unit_gaps(need, access_rows)
        if not gaps.empty:
            gaps = gaps.merge(ranked(gaps, access_rows), on=["unit_code", "category"])
        res.oas = len(inputs.oas)
    with store.transaction():
        for table, frame in (("unit_indices", indices), ("unit_need", need),
                             ("unit_access", access_rows), ("unit_gaps", gaps)):
            con.execute(f"DELETE FROM {table} WHERE unit_level = ?", [level])  # noqa: S608 (fixed table names)
            if frame is not None and not frame.empty:
                frame = frame.assign(unit_level=level, computed_at=now)
                _insert(con, table, frame)
        if oa_rows is not None and inputs is not None:
            con.execute("DELETE FROM oa_access")
            _insert(con, "oa_access", oa_rows)
            con.execute("DELETE FROM oa_inputs")
            _insert(con, "oa_inputs", inputs.oas)
    res.units = int(umap.nunique())
    res.seconds = time.perf_counter() - t0
    log.info("full recompute at %s level: %d units, %d OAs in %.2f s", level, res.units, res.oas, res.seconds)
    return res


def _stored_levels(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT unit_level FROM unit_access ORDER BY 1").fetchall()]


def _zone_from_wards(con: duckdb.DuckDBPyConnection, inputs: Inputs, wards: list[str], radius: float) -> np.ndarray:
    """Indices of the OAs whose point lies within ``radius`` of any of the ``wards``' polygons."""
    df = con.execute(
        "SELECT ST_AsWKB(geom) AS wkb FROM areas WHERE level = 'ward' AND list_contains(?, code)", [wards]
    ).df()
    hits = [np.empty(0, dtype=np.int64)]
    for geom in shapely.from_wkb([bytes(b) for b in df["wkb"]]):
        x0, y0, x1, y1 = geom.bounds
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        cand = np.asarray(inputs.tree.query_ball_point(centre, np.hypot(x1 - x0, y1 - y0) / 2 + radius),
                          dtype=np.int64)
        if len(cand):
            hits.append(cand[shapely.dwithin(geom, shapely.points(inputs.xy[cand]), radius)])
    return np.unique(np.concatenate(hits))


def _units_of(con: duckdb.DuckDBPyConnection, level: str, *, oas: Iterable[str] = (),
              units: Iterable[str] = ()) -> pd.Series:
    """oa_code -> unit code for the given OAs, or for every OA of the given units."""
    df = con.execute(
        """SELECT area_code, parent_code FROM area_lookup WHERE parent_level = ?
           AND (list_contains(?, area_code) OR list_contains(?, parent_code))""",
        [level, sorted(set(oas)), sorted(set(units))]).df()
    return df.set_index("area_code")["parent_code"].sort_index()


def _units_with_changed_counts(con: duckdb.DuckDBPyConnection, level: str) -> set[str]:
    """Units whose number or capacity of assets differs from what ``unit_access`` holds."""
    unit = "a.ward_code" if level == "ward" else "l.parent_code"
    join = "" if level == "ward" else \
        "JOIN area_lookup l ON l.area_code = a.oa_code AND l.parent_level = $level"
    # the unit expression is one of two fixed strings, never input
    rows = con.execute(
        f"""
        WITH now AS (
            SELECT {unit} AS unit_code, a.category, count(*) AS n,
                   sum(coalesce(TRY_CAST(json_extract_string(a.attrs, '$.capacity') AS DOUBLE), 1.0)) AS c
            FROM assets a {join} WHERE a.geom IS NOT NULL AND {unit} IS NOT NULL GROUP BY ALL),
        old AS (SELECT unit_code, category, assets_in_unit AS n, capacity_in_unit AS c
                FROM unit_access WHERE unit_level = $level)
        SELECT DISTINCT coalesce(now.unit_code, old.unit_code) FROM now FULL OUTER JOIN old
            ON now.unit_code = old.unit_code AND now.category = old.category
        WHERE coalesce(now.n, 0) <> coalesce(old.n, 0) OR abs(coalesce(now.c, 0) - coalesce(old.c, 0)) > 1e-9
        """, {"level": level}).fetchall()  # noqa: S608
    return {r[0] for r in rows}


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
        d, _ = cKDTree(new_xy).query(inputs.xy, k=1)
        mask |= d <= np.nan_to_num(nearest_m, nan=np.inf)
    mask[zone] = True
    return np.flatnonzero(mask)


def _stored_nearest(con: duckdb.DuckDBPyConnection, inputs: Inputs, category: str,
                    moved: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Stored nearest distance per OA (in ``inputs.oas`` order), and which OAs lost theirs."""
    got = con.execute(
        """SELECT o.nearest_m,
                  o.nearest_asset_id IS NOT NULL AND (a.asset_id IS NULL OR list_contains(?, o.nearest_asset_id))
           FROM oa_access o LEFT JOIN assets a ON a.asset_id = o.nearest_asset_id AND a.category = o.category
           WHERE o.category = ? ORDER BY o.oa_code""", [moved, category]).fetchnumpy()
    keys = list(got)
    near = np.asarray(got[keys[0]], dtype=float)
    lost = np.asarray(got[keys[1]], dtype=bool)
    if len(near) != len(inputs.oas):
        raise ValueError("oa_access does not cover every OA: run a full `assetmap recompute`")
    return near, lost


def _unit_rows(con: duckdb.DuckDBPyConnection, level: str, units: set[str]) -> pd.DataFrame:
    """Stored ``oa_access`` rows of the OAs in ``units``."""
    return con.execute(
        """SELECT o.* FROM oa_access o JOIN area_lookup l ON l.area_code = o.oa_code
           AND l.parent_level = ? WHERE list_contains(?, l.parent_code)""",
        [level, sorted(units)]).df()


def recompute_affected(store: Store, wards: Iterable[str]) -> RecomputeResult:
    """Recompute only what assets changed in ``wards`` can reach (see the module docstring).

    Falls back to a full recompute when nothing has been computed yet.
    """
    t0 = time.perf_counter()
    con = store.con
    wards = sorted(set(wards))
    levels = _stored_levels(con)
    if not levels:
        return recompute(store)
    inputs = stored_inputs(con)
    res = RecomputeResult(level=",".join(levels), mode="incremental")
    if inputs is None or not wards:
        res.seconds = time.perf_counter() - t0
        return res
    radius = max(max(settings.catchments_m), max(settings.e2sfca_bands))
    zone = _zone_from_wards(con, inputs, wards, radius)
    in_wards = inputs.assets[inputs.assets["ward_code"].isin(wards)]
    new_rows = []
    for cat in CATEGORIES:
        here = in_wards[in_wards["category"] == cat]
        near, lost = _stored_nearest(con, inputs, cat, here["asset_id"].tolist())
        targets = affected_oas(inputs, near, lost, cat, zone, here[["x", "y"]].to_numpy(float))
        if len(targets):
            new_rows.append(_oa_rows(inputs, cat, targets))
    new = pd.concat(new_rows, ignore_index=True) if new_rows else None
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    writes = []
    for level in levels:
        touched = set(_units_of(con, level, oas=new["oa_code"].unique()).values) if new is not None else set()
        # units whose asset counts changed, wherever the assets moved from or to
        touched |= _units_with_changed_counts(con, level)
        if not touched:
            continue
        umap = _units_of(con, level, units=touched)
        rows = _unit_rows(con, level, touched)
        if new is not None:
            key = ["oa_code", "category"]
            rows = pd.concat([rows.set_index(key).drop(new.set_index(key).index, errors="ignore").reset_index(),
                              new], ignore_index=True)
        access_rows = unit_access(inputs, rows, umap, level, units=touched)
        need = con.execute("SELECT unit_code, component, raw, scaled FROM unit_need WHERE unit_level = ? "
                           "AND list_contains(?, unit_code)", [level, sorted(touched)]).df()
        gaps = unit_gaps(need, access_rows)
        writes.append((level, access_rows, gaps))
        res.changed_units += sorted(touched)
    with store.transaction():
        if new is not None:
            _delete_keys(con, "oa_access", new[["oa_code", "category"]])
            _insert(con, "oa_access", new)
        for level, access_rows, gaps in writes:
            keys = access_rows[["unit_code", "category"]].assign(unit_level=level)
            _delete_keys(con, "unit_access", keys)
            _insert(con, "unit_access", access_rows.assign(computed_at=now))
            if not gaps.empty:
                _delete_keys(con, "unit_gaps", gaps[["unit_code", "category"]].assign(unit_level=level))
                _insert(con, "unit_gaps", gaps.assign(unit_level=level, computed_at=now, rank=None, flags=None))
            _rerank(con, level)
    res.oas = int(new["oa_code"].nunique()) if new is not None else 0
    res.units = len(res.changed_units)
    res.seconds = time.perf_counter() - t0
    log.info("incremental recompute for %d wards: %d OAs, %d units in %.3f s",
             len(wards), res.oas, res.units, res.seconds)
    return res


def _rerank(con: duckdb.DuckDBPyConnection, level: str) -> None:
    """Rank and flag every unit again (both depend on all units); write only what changed."""
    gaps = con.execute("SELECT unit_code, category, need, supply, gap, rank, flags FROM unit_gaps "
                       "WHERE unit_level = ?", [level]).df()
    access_rows = con.execute("SELECT unit_code, category, demand, share_within_1600 FROM unit_access "
                              "WHERE unit_level = ?", [level]).df()
    if gaps.empty:
        return
    rf = ranked(gaps[["unit_code", "category", "need", "supply", "gap"]], access_rows)
    old = gaps[["unit_code", "category", "rank", "flags"]]
    both = rf.merge(old, on=["unit_code", "category"], suffixes=("", "_old"))
    changed = both[(both["rank"] != both["rank_old"]) | (both["flags"] != both["flags_old"])]
    if changed.empty:
        return
    con.register("_rf", changed[["unit_code", "category", "rank", "flags"]])
    try:
        con.execute(
            """UPDATE unit_gaps SET rank = r.rank, flags = r.flags FROM _rf r
               WHERE unit_gaps.unit_level = ? AND unit_gaps.unit_code = r.unit_code
                 AND unit_gaps.category = r.category""", [level])
    finally:
        con.unregister("_rf")
