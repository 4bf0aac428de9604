"""The map's scripts and styles come from the app itself, never from a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import folium

from dashboards import vendor


def test_the_pinned_map_assets_are_installed_and_verified():
    assert vendor.installed(), "run `python -m dashboards.vendor` (the Makefile's set-up does)"
    js = (vendor.VENDOR / "leaflet/dist/leaflet.js").read_text(encoding="utf-8")
    assert "1.9.4" in js[:300]  # the pinned release, as its banner says


def test_a_rendered_map_refers_to_no_outside_address():
    m = vendor.offline_map(location=[52.78, -1.25], zoom_start=12)
    folium.GeoJson({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "Ward"},
        "geometry": {"type": "Polygon", "coordinates": [[[-1.3, 52.7], [-1.2, 52.7], [-1.2, 52.8], [-1.3, 52.7]]]}}]},
    ).add_to(m)
    cluster = vendor.marker_cluster().add_to(m)
    folium.Marker([52.78, -1.25], popup=folium.Popup("a centre")).add_to(cluster)
    html = m.get_root().render()
    assert re.findall(r"https?://[^\s\"')]+", html) == []
    for package, f in [("leaflet", "dist/leaflet.js"), ("leaflet.markercluster", "dist/leaflet.markercluster.js")]:
        assert vendor.url(package, f) in html
        assert (vendor.VENDOR / package / f).exists()
    # and the default folium map, for contrast, would have gone to CDNs
    assert re.findall(r"https://cdn", folium.Map().get_root().render())


def test_a_tampered_tarball_is_refused(monkeypatch, tmp_path):
    """What npm hands over must match the pinned integrity (no network here: npm is faked)."""
    import io
    import json
    import subprocess
    import tarfile

    def fake_npm(cmd, **kwargs):
        dest = Path(cmd[cmd.index("--pack-destination") + 1])
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            data = b"alert('not leaflet')"
            info = tarfile.TarInfo("package/dist/leaflet.js")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        (dest / "leaflet-1.9.4.tgz").write_bytes(buf.getvalue())
        return subprocess.CompletedProcess(cmd, 0, json.dumps([{"filename": "leaflet-1.9.4.tgz"}]), "")

    monkeypatch.setattr(vendor.subprocess, "run", fake_npm)
    monkeypatch.setattr(vendor, "VENDOR", tmp_path / "vendor")
    try:
        vendor.install(force=True)
    except RuntimeError as exc:
        assert "integrity" in str(exc)
    else:
        raise AssertionError("a tarball that does not match its pinned integrity was accepted")
    assert not (tmp_path / "vendor").exists()
