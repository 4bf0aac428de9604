"""Configuration in one place.

Every tunable of the library lives here, with its default and the environment variable that
overrides it. Modules read ``settings.<name>``; tests may monkeypatch attributes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: British National Grid, in which every geometry is stored and every distance measured.
STORE_CRS = "EPSG:27700"
#: Longitude/latitude, used only for display and export.
DISPLAY_CRS = "EPSG:4326"


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


@dataclass
class Settings:
    """Runtime settings of assetmap.

    Attributes
    ----------
    db_path
        The working DuckDB store (``ASSETMAP_DB``).
    home
        Folder for the store, snapshots and service state (``ASSETMAP_HOME``).
    duplicate_distance_m
        Two assets with the same normalised name closer than this are duplicates.
    uk_bounds
        (min_lon, min_lat, max_lon, max_lat) that a UK coordinate must fall in; used to catch
        swapped latitude/longitude and coordinates from elsewhere.
    bng_bounds
        (min_e, min_n, max_e, max_n) of valid British National Grid coordinates.
    """

    home: Path = field(default_factory=lambda: _env_path("ASSETMAP_HOME", ".assetmap"))
    db_path: Path | None = None
    duplicate_distance_m: float = field(
        default_factory=lambda: _env_float("ASSETMAP_DUPLICATE_DISTANCE_M", 25.0)
    )
    uk_bounds: tuple[float, float, float, float] = (-8.75, 49.8, 1.85, 60.95)
    bng_bounds: tuple[float, float, float, float] = (0.0, 0.0, 700_000.0, 1_300_000.0)
    demo_dir: Path = field(default_factory=lambda: _env_path("ASSETMAP_DEMO_DIR", "geodata/demo"))
    inbox_dir: Path = field(default_factory=lambda: _env_path("ASSETMAP_INBOX", "geodata/inbox"))

    def __post_init__(self) -> None:
        if self.db_path is None:
            env = os.environ.get("ASSETMAP_DB")
            self.db_path = Path(env) if env else self.home / "assetmap.duckdb"


settings = Settings()
