"""Segregation indices for every unit (ward, MSOA, local authority) at once.

Every function here is pure: it takes the OA counts as arrays and a unit index (which unit each
OA belongs to) and returns one value per unit, computed in one vectorised pass over the counts
(``numpy.bincount`` and sparse sums), never a Python loop over units. The formulas are those of
the references below and of PySAL ``segregation`` (Cortes et al. 2020), against which the
tests check every index to 1e-9.

References
----------
- Massey, D. S. and Denton, N. A. (1988). The dimensions of residential segregation.
  *Social Forces* 67(2), 281-315. (dissimilarity, isolation, exposure, correlation ratio, Gini)
- Reardon, S. F. and Firebaugh, G. (2002). Measures of multigroup segregation.
  *Sociological Methodology* 32, 33-67. (multigroup dissimilarity, Theil's H)
- Theil, H. and Finizza, A. J. (1971). A note on the measurement of racial integration of
  schools by means of informational concepts. *Journal of Mathematical Sociology* 1, 187-194.
- Simpson, E. H. (1949). Measurement of diversity. *Nature* 163, 688.
- Cortes, R. X., Rey, S., Knaap, E., Wolf, L. J. (2020). An open-source framework for
  non-spatial and spatial segregation measures: the PySAL segregation module.
  *Journal of Computational Social Science* 3, 135-166.

Conventions
-----------
``0 * log(0) = 0`` (a group absent from a unit contributes nothing to entropy or Theil's H;
PySAL returns NaN there, so the tests hand PySAL only the groups present). An OA with no
residents contributes nothing. A two-group index is NaN where it is undefined: a unit with no
residents, or whose focal group is all or none of its residents (isolation and exposure are
defined when the focal group is all of them, and NaN when it is none: PySAL's ``nansum`` gives 0
there instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assetmap.vocab.index_names import ALL_GROUPS as ALL_GROUPS


@dataclass(frozen=True)
class Units:
    """Which unit each OA belongs to: ``index[i]`` is the unit of OA ``i`` in ``codes``."""

    index: np.ndarray
    codes: np.ndarray

    @classmethod
    def from_labels(cls, labels: np.ndarray | pd.Series) -> Units:
        """Units numbered by their labels (sorted), one label per output area."""
        codes, index = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
        return cls(index=index.astype(np.int64), codes=codes)

    @property
    def n(self) -> int:
        """The number of units."""
        return len(self.codes)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (one per OA, or OA x columns) within each unit."""
        if values.ndim == 1:
            return np.bincount(self.index, weights=values, minlength=self.n)
        m = sp.csr_matrix((np.ones(len(self.index)), (self.index, np.arange(len(self.index)))),
                          shape=(self.n, len(self.index)))
        return np.asarray(m @ values)

    def count(self) -> np.ndarray:
        """Each unit's number of output areas."""
        return np.bincount(self.index, minlength=self.n)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), 0.0)


def _undefined(P: np.ndarray, T: np.ndarray) -> np.ndarray:
    return (T <= 0) | (P <= 0) | (P >= 1)


# -- two-group indices ----------------------------------------------------------------------

def dissimilarity(x: np.ndarray, t: np.ndarray, units: Units) -> np.ndarray:
    """Index of dissimilarity D of a focal group against everyone else, per unit.

    ``D = sum_i t_i |p_i - P| / (2 T P (1 - P))`` over the OAs ``i`` of a unit (Massey and
    Denton 1988), where ``p_i = x_i / t_i`` and ``P = X / T``. Equals PySAL ``Dissim``.
    """
    x, t = np.asarray(x, float), np.asarray(t, float)
    X, T = units.sum(x), units.sum(t)
    P = _safe_div(X, T)
    p = _safe_div(x, t)
    num = units.sum(t * np.abs(p - P[units.index]))
    out = _safe_div(num, 2 * T * P * (1 - P))
    return np.where(_undefined(P, T), np.nan, out)


def isolation(x: np.ndarray, t: np.ndarray, units: Units) -> np.ndarray:
    """Isolation index xPx = sum_i (x_i / X)(x_i / t_i) per unit (Massey and Denton 1988)."""
    x, t = np.asarray(x, float), np.asarray(t, float)
    X, T = units.sum(x), units.sum(t)
    val = units.sum(_safe_div(x, X[units.index]) * _safe_div(x, t))
    return np.where((X > 0) & (T > 0), val, np.nan)


def exposure(x: np.ndarray, t: np.ndarray, units: Units) -> np.ndarray:
    """Exposure (interaction) index xPy = sum_i (x_i / X)(y_i / t_i), y = t - x (Massey and Denton 1988)."""
    x, t = np.asarray(x, float), np.asarray(t, float)
    X, T = units.sum(x), units.sum(t)
    val = units.sum(_safe_div(x, X[units.index]) * _safe_div(t - x, t))
    return np.where((X > 0) & (T > 0), val, np.nan)


def correlation_ratio(x: np.ndarray, t: np.ndarray, units: Units) -> np.ndarray:
    """Correlation ratio (eta squared) V = (xPx - P) / (1 - P) (Massey and Denton 1988)."""
    x, t = np.asarray(x, float), np.asarray(t, float)
    X, T = units.sum(x), units.sum(t)
    P = _safe_div(X, T)
    xpx = isolation(x, t, units)
    return np.where(_undefined(P, T), np.nan, _safe_div(xpx - P, 1 - P))


def gini(x: np.ndarray, t: np.ndarray, units: Units) -> np.ndarray:
    """Gini index G = sum_i sum_j t_i t_j |p_i - p_j| / (2 T^2 P (1 - P)) (Massey and Denton 1988).

    Computed without the pairwise sum: OAs are sorted by ``p`` within each unit, and for OA
    ``j`` the sum over the OAs ``i`` before it of ``t_i t_j (p_j - p_i)`` is
    ``x_j C_t - t_j C_x``, with ``C_t``, ``C_x`` the running totals of ``t`` and ``x`` before
    ``j`` in its unit. O(n log n) in all.
    """
    x, t = np.asarray(x, float), np.asarray(t, float)
    X, T = units.sum(x), units.sum(t)
    P = _safe_div(X, T)
    p = _safe_div(x, t)
    order = np.lexsort((p, units.index))
    u, ts, xs = units.index[order], t[order], p[order] * t[order]
    ct = np.cumsum(ts) - ts
    cx = np.cumsum(xs) - xs
    # running totals restart at each unit: subtract the total before the unit's first OA
    start = np.r_[0, np.flatnonzero(np.diff(u)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(u)]))
    ct -= ct[first]
    cx -= cx[first]
    half = np.bincount(u, weights=xs * ct - ts * cx, minlength=units.n)
    out = _safe_div(2 * half, 2 * T * T * P * (1 - P))
    return np.where(_undefined(P, T), np.nan, out)


TWO_GROUP = {"dissimilarity": dissimilarity, "isolation": isolation, "exposure": exposure,
             "correlation_ratio": correlation_ratio, "gini": gini}


def bootstrap_dissimilarity(
    x: np.ndarray, t: np.ndarray, units: Units, n_boot: int = 200, level: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap confidence interval for D, per unit.

    Each replicate resamples every OA's counts from a multinomial (for two groups, binomial)
    with the OA's observed proportions and total, as in the inference module of PySAL
    ``segregation`` (``SingleValueTest`` with ``null_approach="bootstrap"``); all replicates
    are computed at once with one ``bincount`` over ``(replicate, unit)``.

    Returns
    -------
    (low, high)
        Arrays of one bound per unit.
    """
    rng = np.random.default_rng(seed)
    x, t = np.asarray(x, float), np.asarray(t, float)
    ti = t.astype(np.int64)
    p = _safe_div(x, t)
    n, U = len(x), units.n
    draws = np.empty((n_boot, U))
    chunk = max(1, int(20_000_000 // max(n, 1)))
    for b0 in range(0, n_boot, chunk):
        b1 = min(n_boot, b0 + chunk)
        xb = rng.binomial(ti[None, :], p[None, :], size=(b1 - b0, n)).astype(float)
        flat = (np.arange(b1 - b0)[:, None] * U + units.index[None, :]).ravel()
        tb = np.broadcast_to(t, xb.shape).ravel()
        Xb = np.bincount(flat, weights=xb.ravel(), minlength=(b1 - b0) * U)
        Tb = np.bincount(flat, weights=tb, minlength=(b1 - b0) * U)
        Pb = _safe_div(Xb, Tb)
        pb = _safe_div(xb.ravel(), tb)
        num = np.bincount(flat, weights=tb * np.abs(pb - Pb[flat]), minlength=(b1 - b0) * U)
        d = _safe_div(num, 2 * Tb * Pb * (1 - Pb))
        d[_undefined(Pb, Tb)] = np.nan
        draws[b0:b1] = d.reshape(b1 - b0, U)
    alpha = (1 - level) / 2
    with np.errstate(all="ignore"):
        low = np.nanquantile(draws, alpha, axis=0) if n_boot else np.full(U, np.nan)
        high = np.nanquantile(draws, 1 - alpha, axis=0) if n_boot else np.full(U, np.nan)
    return low, high


# -- multigroup indices ---------------------------------------------------------------------

def _shares(counts: np.ndarray, units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    counts = np.asarray(counts, float)
    t = counts.sum(axis=1)
    Tk = units.sum(counts)  # unit x group
    T = Tk.sum(axis=1)
    Pk = _safe_div(Tk, T[:, None])
    return counts, t, Pk, T


def _xlogx_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return a * log(a / b) with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a * np.log(np.where(a > 0, a, 1) / np.where(b > 0, b, 1))
    return np.where(a > 0, out, 0.0)


def entropy(counts: np.ndarray, units: Units) -> np.ndarray:
    """Diversity of each unit: Shannon entropy E = -sum_k P_k ln P_k of its group shares (Theil 1971).

    Equals PySAL ``MultiDiversity`` (not normalised) on the groups present.
    """
    _, _, Pk, T = _shares(counts, units)
    E = -_xlogx_ratio(Pk, np.ones_like(Pk)).sum(axis=1)
    return np.where(T > 0, E, np.nan)


def theil_h(counts: np.ndarray, units: Units) -> np.ndarray:
    """Theil's information theory index H (Theil and Finizza 1971; Reardon and Firebaugh 2002).

    ``H = sum_i sum_k t_i p_ik ln(p_ik / P_k) / (T E)``. Equals PySAL ``MultiInfoTheory``.
    """
    counts, t, Pk, T = _shares(counts, units)
    pik = _safe_div(counts, t[:, None])
    num = units.sum((t[:, None] * _xlogx_ratio(pik, Pk[units.index])).sum(axis=1))
    E = entropy(counts, units)
    out = _safe_div(num, T * E)
    return np.where((T > 0) & (E > 0), out, np.nan)


def multigroup_dissimilarity(counts: np.ndarray, units: Units) -> np.ndarray:
    """Multigroup dissimilarity D = sum_i sum_k t_i |p_ik - P_k| / (2 T I) (Reardon and Firebaugh 2002).

    ``I = sum_k P_k (1 - P_k)`` is Simpson's interaction. Equals PySAL ``MultiDissim``.
    """
    counts, t, Pk, T = _shares(counts, units)
    pik = _safe_div(counts, t[:, None])
    num = units.sum((t[:, None] * np.abs(pik - Pk[units.index])).sum(axis=1))
    inter = (Pk * (1 - Pk)).sum(axis=1)
    out = _safe_div(num, 2 * T * inter)
    return np.where((T > 0) & (inter > 0), out, np.nan)


def simpson_interaction(counts: np.ndarray, units: Units) -> np.ndarray:
    """Simpson's interaction index I = sum_k P_k (1 - P_k) (Simpson 1949). Equals PySAL's."""
    _, _, Pk, T = _shares(counts, units)
    return np.where(T > 0, (Pk * (1 - Pk)).sum(axis=1), np.nan)


def simpson_concentration(counts: np.ndarray, units: Units) -> np.ndarray:
    """Simpson's concentration index lambda = sum_k P_k^2 (Simpson 1949). Equals PySAL's."""
    _, _, Pk, T = _shares(counts, units)
    return np.where(T > 0, (Pk * Pk).sum(axis=1), np.nan)


MULTIGROUP = {"theil_h": theil_h, "multigroup_dissimilarity": multigroup_dissimilarity,
              "simpson_interaction": simpson_interaction,
              "simpson_concentration": simpson_concentration, "entropy": entropy}


def location_quotient(unit_counts: np.ndarray, regions: Units,
                      totals: np.ndarray | None = None) -> np.ndarray:
    """Location quotient of each group in each unit relative to the unit's region.

    ``LQ_ik = (x_ik / t_i) / (X_k / T)``, with ``X_k``, ``T`` the totals of the region (the
    local authority) that unit ``i`` lies in (Isard 1960). Equals PySAL
    ``MultiLocationQuotient`` computed on the region's units. ``unit_counts`` is unit x group;
    ``regions`` maps each unit to its region; ``totals`` are the units' populations when the
    columns are not a partition of them (aggregates beside their members). NaN where undefined.
    """
    c = np.asarray(unit_counts, float)
    t = c.sum(axis=1) if totals is None else np.asarray(totals, float)
    Xk = regions.sum(c)
    T = regions.sum(t)
    share = _safe_div(c, t[:, None])
    region_share = _safe_div(Xk, T[:, None])[regions.index]
    out = _safe_div(share, region_share)
    return np.where((t[:, None] > 0) & (region_share > 0), out, np.nan)


# -- all at once ----------------------------------------------------------------------------

def compute_all(
    counts: pd.DataFrame,
    units: Units,
    focal: dict[str, list[str]],
    *,
    min_oas: int = 5,
    min_focal: float = 50.0,
    n_boot: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Every index for every unit, in long form.

    Parameters
    ----------
    counts
        OA x group counts (columns: group names), rows aligned with ``units.index``.
    units
        Unit of each OA.
    focal
        Focal group name -> the columns of ``counts`` it sums (a category, or an aggregate).
    min_oas, min_focal
        A unit with fewer OAs, or (for a two-group index) fewer focal residents, is flagged
        unreliable.
    n_boot
        Bootstrap replicates for D's confidence interval (0: none).

    Returns
    -------
    pandas.DataFrame
        ``unit_code, focal_group, index_name, value, ci_low, ci_high, reliable, n_oas``.
    """
    arr = counts.to_numpy(dtype=float)
    t = arr.sum(axis=1)
    n_oas = units.count()
    enough_oas = n_oas >= min_oas
    frames: list[pd.DataFrame] = []
    col = {c: i for i, c in enumerate(counts.columns)}
    for name, members in focal.items():
        x = arr[:, [col[m] for m in members if m in col]].sum(axis=1)
        X = units.sum(x)
        reliable = enough_oas & (min_focal <= X)
        ci_low = ci_high = np.full(units.n, np.nan)
        for index_name, fn in TWO_GROUP.items():
            value = fn(x, t, units)
            if index_name == "dissimilarity" and n_boot:
                ci_low, ci_high = bootstrap_dissimilarity(x, t, units, n_boot=n_boot, seed=seed)
            frames.append(pd.DataFrame({
                "unit_code": units.codes, "focal_group": name, "index_name": index_name,
                "value": value,
                "ci_low": ci_low if index_name == "dissimilarity" else np.nan,
                "ci_high": ci_high if index_name == "dissimilarity" else np.nan,
                "reliable": reliable & np.isfinite(value), "n_oas": n_oas,
            }))
    for index_name, multi_fn in MULTIGROUP.items():
        value = multi_fn(arr, units)
        frames.append(pd.DataFrame({
            "unit_code": units.codes, "focal_group": ALL_GROUPS, "index_name": index_name,
            "value": value, "ci_low": np.nan, "ci_high": np.nan,
            "reliable": (enough_oas if index_name != "entropy" else units.sum(t) > 0)
                        & np.isfinite(value),
            "n_oas": n_oas,
        }))
    return pd.concat(frames, ignore_index=True)
