"""Asset lists in the common geo formats, read as the provider template without ``--map``.

A council's asset list is most often exported as GeoJSON, GeoPackage, GeoParquet or FlatGeobuf.
When its features are points whose properties already use the template's names (``name``,
``category``, ``address``... with the same aliases as the CSV template), it is read as a
provider file. Row by row:

- a point, 2-D or 3-D (the height is dropped), gives the position; coordinates are converted to
  longitude/latitude from the layer's CRS, and British National Grid is kept as
  easting/northing, whether the CRS says so or (no CRS) the numbers do;
- a polygon (a building's footprint) is converted to a point inside it, and so is a multipoint;
- a feature with no geometry keeps whatever position its properties give (``lat``/``lon``,
  ``easting``/``northing`` or a postcode), which validation then checks like any row;
- a line, or a geometry that cannot be read, is quarantined with the reason.

A file is never refused as a whole while good rows exist.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from shapely.geometry import shape

from assetmap.settings import MAX_LAT, MAX_LON, STORE_CRS, settings
from assetmap.sources._assets import candidate, canonical_field, frame
from assetmap.sources._io import FileRefused, ReadResult, load_json

KIND = "providers"
_BNG_EPSG = int(STORE_CRS.split(":")[1])


def container(data: bytes) -> str | None:
    """``gpkg``, ``fgb`` or ``parquet`` for a binary geo container, else None."""
    if data[:16].startswith(b"SQLite format 3"):
        return "gpkg"
    if data[:3] == b"fgb":
        return "fgb"
    if data[:4] == b"PAR1":
        return "parquet"
    return None


def _template_fields(names: list[str]) -> bool:
    fields = {canonical_field(str(n)) for n in names}
    return "name" in fields and "category" in fields


def looks_like_geojson_assets(doc: Any) -> bool:
    """Tell whether ``doc`` is a FeatureCollection of points with the template's names.

    Tell whether ``doc`` is a FeatureCollection of points (or features without geometry) whose properties use
    the template's names.
    """
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list) or not feats:
        return False
    sample = [f for f in feats[:200] if isinstance(f, dict)]
    types = [((f.get("geometry") or {}).get("type")) for f in sample]
    points = sum(t in ("Point", "MultiPoint", None) for t in types)
    keys = set().union(*[set((f.get("properties") or {}).keys()) for f in sample]) if sample else set()
    return points >= 0.5 * len(sample) and _template_fields(list(keys))


def looks_like_container_assets(data: bytes) -> bool:
    """Tell whether ``data`` is a GeoPackage, FlatGeobuf or GeoParquet of points with the template's fields."""
    kind = container(data)
    try:
        if kind in ("gpkg", "fgb"):
            import pyogrio

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info = pyogrio.read_info(io.BytesIO(data))
            return "Point" in str(info.get("geometry_type")) and _template_fields(list(info["fields"]))
        if kind == "parquet":
            import pyarrow.parquet as pq

            meta = pq.read_schema(io.BytesIO(data)).metadata or {}
            geo = json.loads(meta.get(b"geo", b"{}"))
            cols = geo.get("columns", {})
            types = [t for c in cols.values() for t in c.get("geometry_types", [])]
            names = pq.read_schema(io.BytesIO(data)).names
            return bool(cols) and (not types or all("Point" in t for t in types)) and _template_fields(names)
    except Exception:  # not readable as such a layer: the boundary reader will say why
        return False
    return False


def _is_bng(x: float, y: float) -> bool:
    e0, n0, e1, n1 = settings.bng_bounds
    return (abs(x) > MAX_LON or abs(y) > MAX_LAT) and e0 <= x <= e1 and n0 <= y <= n1


def _position(geom: Any, crs_bng: bool | None) -> tuple[dict[str, Any], str | None]:
    """(position fields, or a quarantine reason) of one feature's geometry (a shapely geometry or GeoJSON mapping).

    ``crs_bng`` None: no CRS given, judged by the numbers.
    """
    if geom is None:
        return {}, None
    try:
        g = shape(geom) if isinstance(geom, dict) else geom
    except Exception:
        return {}, "its geometry cannot be read"
    if g is None or g.is_empty:
        return {}, None
    if g.geom_type in ("LineString", "MultiLineString", "LinearRing"):
        return {}, f"a {g.geom_type}, not a place: give the asset as a point"
    if g.geom_type not in ("Point", "MultiPoint", "Polygon", "MultiPolygon", "GeometryCollection"):
        return {}, f"a {g.geom_type} cannot be placed"
    pt = g if g.geom_type == "Point" else g.representative_point()
    x, y = float(pt.x), float(pt.y)
    bng = _is_bng(x, y) if crs_bng is None else crs_bng
    return ({"easting": x, "northing": y} if bng else {"lon": x, "lat": y}), None


def _rows(records: list[tuple[dict[str, Any], Any, Any]], crs_bng: bool | None,
          options: dict[str, Any]) -> list[dict[str, Any]]:
    """Asset candidates from (properties, geometry, raw) per feature."""
    default_category = options.get("category")
    out = []
    for i, (props, geom, raw) in enumerate(records, start=1):
        values = {canonical_field(str(k)): v for k, v in props.items() if v is not None
                  and not (isinstance(v, float) and math.isnan(v))}
        if default_category and not str(values.get("category") or "").strip():
            values["category"] = default_category
        pos, why = _position(geom, crs_bng)
        for k, v in pos.items():
            values.setdefault(k, v)
        rec = candidate(i, raw, **{k: (v if isinstance(v, str | int | float | bool | list | dict) or v is None
                                       else str(v)) for k, v in values.items()})
        if why:
            rec["reason"], rec["message"] = "invalid_geometry", f"feature {i}: {why}"
        out.append(rec)
    return out


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a geo file of assets (see the module's docstring)."""
    path = Path(path)
    kind = container(data)
    if kind is None:
        doc = load_json(data, path)
        feats = doc.get("features") if isinstance(doc, dict) else None
        if not isinstance(feats, list):
            raise FileRefused("unknown_format", f"{path.name}: JSON but not a GeoJSON FeatureCollection")
        crs_name = str(((doc.get("crs") or {}).get("properties") or {}).get("name") or "")
        declared_bng = True if "27700" in crs_name else (False if crs_name else None)
        records = [((f or {}).get("properties") or {}, (f or {}).get("geometry"), f) for f in feats]
        return ReadResult(KIND, frame(_rows(records, declared_bng, options)), [], len(feats), {"layout": "geojson"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "parquet":
                import geopandas as gpd

                gdf = gpd.read_parquet(io.BytesIO(data))
            else:
                import pyogrio

                gdf = pyogrio.read_dataframe(io.BytesIO(data))
    except Exception as exc:  # the geo libraries raise several error types for damaged files
        raise FileRefused("unreadable", f"{path.name}: not a readable {kind} layer ({type(exc).__name__})") \
            from None
    crs_bng: bool | None = None
    if gdf.crs is not None:
        if gdf.crs.to_epsg() == _BNG_EPSG:
            crs_bng = True
        else:
            gdf = gdf.to_crs(4326)
            crs_bng = False
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
    records = []
    for rec, geom in zip(props.to_dict("records"), gdf.geometry, strict=True):
        raw = {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)) for k, v in rec.items()}
        records.append((rec, None if geom is None or geom.is_empty else geom, raw))
    return ReadResult(KIND, frame(_rows(records, crs_bng, options)), [], len(records), {"layout": kind})
