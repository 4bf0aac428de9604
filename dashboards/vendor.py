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


#: SHA-256 of each file used, as unpacked from the tarballs above: what the server checks at start.
FILES_SHA256: dict[str, str] = {
    "leaflet/dist/leaflet.js": "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a",
    "leaflet/dist/leaflet.css": "a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6",
    "leaflet/dist/images/layers.png": "1dbbe9d028e292f36fcba8f8b3a28d5e8932754fc2215b9ac69e4cdecf5107c6",
    "leaflet/dist/images/layers-2x.png": "066daca850d8ffbef007af00b06eac0015728dee279c51f3cb6c716df7c42edf",
    "leaflet/dist/images/marker-icon.png": "574c3a5cca85f4114085b6841596d62f00d7c892c7b03f28cbfa301deb1dc437",
    "leaflet/dist/images/marker-icon-2x.png": "00179c4c1ee830d3a108412ae0d294f55776cfeb085c60129a39aa6fc4ae2528",
    "leaflet/dist/images/marker-shadow.png": "264f5c640339f042dd729062cfc04c17f8ea0f29882b538e3848ed8f10edb4da",
    "leaflet.markercluster/dist/leaflet.markercluster.js":
        "1e4e1d22972a3926f48598e0caf14e3fe7049835d428a344fed4f9e3665b3508",
    "leaflet.markercluster/dist/MarkerCluster.css": "614dea0a98ff3f4ead74f04918f6b1d1b9ba435c25b5fc23b21a394d1e3e4d87",
    "leaflet.markercluster/dist/MarkerCluster.Default.css":
        "61258232d98d64dc2a7b1e02130d67421bc5b9bda5994eef70228ff97570c170",
}
FIX = "python -m dashboards.vendor  (or `make up`, which runs it; it needs npm and the npm registry)"


class VendorMissing(RuntimeError):
    """The map scripts are missing or altered and could not be fetched again."""


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def problems(folder: Path | None = None) -> list[str]:
    """The vendored files that are missing or differ from their pinned digest."""
    root = VENDOR if folder is None else folder
    bad = []
    for rel, digest in FILES_SHA256.items():
        path = root / rel
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            bad.append(rel)
    return bad


def installed() -> bool:
    return not problems()


def ensure() -> None:
    """Check the map scripts against their digests; fetch them again if they are missing or
    altered; raise :class:`VendorMissing`, naming the command that fixes it, if that fails. Without
    them every map would stay empty (a 404 for ``leaflet.js`` seen only in the browser's console)."""
    bad = problems()
    if not bad:
        return
    log.warning("map scripts missing or altered (%s): vendoring them again", ", ".join(bad[:3]))
    try:
        install(force=True)
    except (OSError, subprocess.CalledProcessError, RuntimeError, KeyError, ValueError) as exc:
        msg = (f"the dashboard's map scripts are missing or altered ({', '.join(bad[:3])}"
               f"{' ...' if len(bad) > 3 else ''}) and could not be fetched again "
               f"({type(exc).__name__}: {str(exc)[:200]}); run: {FIX}")
        raise VendorMissing(msg) from None
    still = problems()
    if still:
        msg = (f"the dashboard's map scripts do not match their pinned digests ({', '.join(still[:3])}); "
               f"run: {FIX}")
        raise VendorMissing(msg)


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
                msg = f"{name}@{version}: integrity {got} is not the pinned {integrity}"
                raise RuntimeError(msg)
            with tarfile.open(tarball) as tf:
                for f in files:
                    member = tf.getmember(f"package/{f}")
                    target = VENDOR / name / f
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tf.extractfile(member)
                    if source is None:
                        msg = f"{name}@{version}: package/{f} is not a file in the tarball"
                        raise RuntimeError(msg)
                    target.write_bytes(source.read())
                    written.append(target)
            log.info("vendored %s@%s (%d files)", name, version, len(files))
    return written


def url(package: str, file: str) -> str:
    """The app-relative URL of a vendored file."""
    return f"{URL_BASE}/{package}/{file}"


def offline_map(**kwargs: Any) -> Any:
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


def marker_cluster(**kwargs: Any) -> Any:
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
