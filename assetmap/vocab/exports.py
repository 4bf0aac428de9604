"""What ``assetmap export`` writes: its layers and formats (light, for the command line).

:mod:`assetmap.export` writes them.
"""

from __future__ import annotations

#: Area layers by their names on the command line, and the level each holds.
AREA_LAYERS = {"wards": "ward", "oas": "oa", "lsoas": "lsoa", "msoas": "msoa", "las": "la"}
LAYERS = (*AREA_LAYERS, "assets", "quarantine")
FORMATS = ("geojson", "gpkg", "csv", "openreferral")
