"""How the dashboard renders what it reads: class breaks for a choropleth and export bytes.

The reads themselves are :mod:`assetmap.queries`; nothing here touches SQL.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assetmap.csvout import to_csv_bytes

SCHEMES = {"quantiles": "Quantiles", "fisher_jenks": "Fisher-Jenks", "equal_interval": "Equal interval"}


def classify(values: pd.Series, scheme: str, k: int) -> tuple[np.ndarray, list[float]]:
    """Class of each value (``-1`` for missing) and the upper bounds, with mapclassify.

    Fewer distinct values than ``k`` give fewer classes.
    """
    import mapclassify

    v = pd.to_numeric(values, errors="coerce").to_numpy(float)
    ok = np.isfinite(v)
    classes = np.full(len(v), -1, dtype=int)
    if not ok.any():
        return classes, []
    k = int(max(2, min(k, len(np.unique(v[ok])))))
    if len(np.unique(v[ok])) < 2:
        classes[ok] = 0
        return classes, [float(v[ok].max())]
    cls = {"quantiles": mapclassify.Quantiles, "fisher_jenks": mapclassify.FisherJenks,
           "equal_interval": mapclassify.EqualInterval}.get(scheme, mapclassify.Quantiles)
    with warnings.catch_warnings():  # many equal values: mapclassify merges classes, as wanted
        warnings.simplefilter("ignore", UserWarning)
        fitted = cls(v[ok], k=k)
    classes[ok] = fitted.yb
    return classes, [float(b) for b in fitted.bins]


def classify_ptal(values: pd.Series) -> tuple[np.ndarray, list[float]]:
    """Class of each access index by TfL's PTAL bands (``-1`` for missing) and the bands' upper
    bounds up to the highest band present (mapclassify's user-defined breaks)."""
    import mapclassify

    from assetmap.transit.ptal import BAND_TOPS

    v = pd.to_numeric(values, errors="coerce").to_numpy(float)
    ok = np.isfinite(v)
    classes = np.full(len(v), -1, dtype=int)
    if not ok.any():
        return classes, []
    tops = [0.0, *BAND_TOPS]
    fitted = mapclassify.UserDefined(np.round(v[ok], 2), bins=tops)
    classes[ok] = fitted.yb
    return classes, [float(b) for b in fitted.bins][: int(classes.max()) + 1]


def to_bytes(frame: Any, fmt: str, layer: str = "layer") -> bytes:
    """A (Geo)DataFrame as GeoJSON, GeoPackage or CSV bytes (CSV without geometry)."""
    if fmt == "csv":
        return to_csv_bytes(frame)  # no cell a spreadsheet would run as a formula
    if fmt not in ("geojson", "gpkg"):
        msg = f"unknown format {fmt!r}"
        raise ValueError(msg)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{layer}.{fmt}"
        frame.to_file(path, driver="GeoJSON" if fmt == "geojson" else "GPKG", layer=layer)
        return path.read_bytes()
