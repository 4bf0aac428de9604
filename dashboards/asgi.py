"""The dashboard as served: Streamlit's app (``app.py``) with the map's file routes beside it.

``python -m dashboards.serve`` runs ``streamlit run dashboards/asgi.py``; Streamlit finds ``app``
below (an ``st.App``) and serves the pages as ``streamlit run dashboards/app.py`` would, with
:func:`dashboards.geo.routes` mounted at ``/assetmap/geo/`` and the published sites' Open Referral UK
3.0 API (:func:`dashboards.directory.routes`) at ``/openreferral/v3/``, and the pages alerts' links
open (:func:`dashboards.alert_links.routes`) at ``/alerts/`` (Streamlit's own routes are
untouched; its gzip middleware and path checks apply to these too).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards import alert_links, directory, geo

app = st.App(Path(__file__).resolve().parent / "app.py",
             routes=[*geo.routes(), *directory.routes(), *alert_links.routes()])
