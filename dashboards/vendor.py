"""Map assets served by the app itself: Leaflet and what the maps use, never a CDN.

``python -m dashboards.vendor`` (run by the Makefile's set-up) fetches the pinned npm packages
with ``npm pack`` from the package registry, checks each tarball against the SHA-512 integrity
pinned here (as a lockfile would), and unpacks only the files the maps use into
``dashboards/static/vendor/`` (not committed). Streamlit serves that folder at
``/app/static/vendor/`` (``server.enableStaticServing``). :func:`offline_map` makes a folium
map that loads only those copies and no basemap tiles (ward outlines on a plain background;
a tile URL can be set in configuration).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
#: origin-relative, because the maps run in a component iframe served from another path
URL_BASE = "/app/static/vendor"

#: npm package -> (version, SHA-512 integrity of the tarball, files used)
PACKAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "leaflet": ("1.9.4",
                "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
                ("dist/leaflet.js", "dist/leaflet.css", "dist/images/layers.png", "dist/images/layers-2x.png",
                 "dist/images/marker-icon.png", "dist/images/marker-icon-2x.png", "dist/images/marker-shadow.png")),
    "leaflet.markercluster": ("1.5.3",
                              "sha512-vPTw/Bndq7eQHjLBVlWpnGeLa3t+3zGiuM7fJwCkiMFq+nmRuG3RI3f7f4N4TDX7T4NpbAXpR2+NTRSEGfCSeA==",
                              ("dist/leaflet.markercluster.js", "dist/MarkerCluster.css",
                               "dist/MarkerCluster.Default.css")),
}


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def installed() -> bool:
    return all((VENDOR / name / f).exists() for name, (_, _, files) in PACKAGES.items() for f in files)


def install(force: bool = False) -> list[Path]:
    """Fetch, verify and unpack the pinned packages; return the files written."""
    if installed() and not force:
        return []
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (version, integrity, files) in PACKAGES.items():
            out = subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination", tmp, "--json"],
                                 check=True, capture_output=True, text=True)
            tarball = Path(tmp) / json.loads(out.stdout)[0]["filename"]
            got = _integrity(tarball)
            if got != integrity:
                raise RuntimeError(f"{name}@{version}: integrity {got} is not the pinned {integrity}")
            with tarfile.open(tarball) as tf:
                for f in files:
                    member = tf.getmember(f"package/{f}")
                    target = VENDOR / name / f
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tf.extractfile(member).read())
                    written.append(target)
            log.info("vendored %s@%s (%d files)", name, version, len(files))
    return written


def url(package: str, file: str) -> str:
    """The app-relative URL of a vendored file."""
    return f"{URL_BASE}/{package}/{file}"


def offline_map(**kwargs: Any):
    """A ``folium.Map`` that loads Leaflet from the app and no tiles unless ``tiles`` is given."""
    import folium

    kwargs.setdefault("tiles", None)
    # without a tile layer Leaflet knows no zoom limits, and marker clustering needs one
    m = folium.Map(**kwargs)
    if kwargs.get("tiles") is None:
        m.options.setdefault("maxZoom", 18)
        m.options.setdefault("minZoom", 5)
    m.default_js = [("leaflet", url("leaflet", "dist/leaflet.js"))]
    m.default_css = [("leaflet_css", url("leaflet", "dist/leaflet.css"))]
    return m


def marker_cluster(**kwargs: Any):
    """A ``folium.plugins.MarkerCluster`` loading its script and styles from the app."""
    from folium.plugins import MarkerCluster

    c = MarkerCluster(**kwargs)
    c.default_js = [("markerclusterjs", url("leaflet.markercluster", "dist/leaflet.markercluster.js"))]
    c.default_css = [("markerclustercss", url("leaflet.markercluster", "dist/MarkerCluster.css")),
                     ("markerclusterdefaultcss", url("leaflet.markercluster", "dist/MarkerCluster.Default.css"))]
    return c


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files = install(force="--force" in sys.argv)
    print(f"{len(files)} files vendored into {VENDOR}" if files else f"already vendored in {VENDOR}")
