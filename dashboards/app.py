"""assetmap dashboard: the pages (served by ``dashboards/asgi.py``, with the map's file routes).

A multipage app (``st.navigation``) over the latest published snapshot, read-only. Each page
is a script in ``dashboards/views/``; what they share is in :mod:`dashboards.common`, what they
read is in :mod:`assetmap.queries` (shared with the CLI; no SQL in ``dashboards/``). Configuration
(the identity provider and the groups of each role, or public or partner mode and the moderators'
secret for a single-user install, an optional tile URL) is in :mod:`assetmap.settings`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from assetmap.settings import settings
from dashboards import common

VIEWS = Path(__file__).resolve().parent / "views"

#: (script, title, url path); the first is the home page
PAGES = [
    ("map.py", "Map", "map"),
    ("ward_profile.py", "Ward profile", "profile"),
    ("gap_ranking.py", "Gaps ranking", "gaps"),
    ("what_if.py", "What-if and siting", "what-if"),
    ("dispersal_review.py", "Dispersal review", "dispersal"),
    ("changes.py", "Changes", "changes"),
    ("scorecard.py", "Race equality scorecard", "scorecard"),
    ("provenance.py", "Data and provenance", "provenance"),
    ("submit.py", "Submit an asset", "submit"),
    ("moderate.py", "Moderation", "moderate"),
]

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
st.set_page_config(page_title="assetmap", layout="wide")
# WCAG 2.2's target size (2.5.8): Streamlit draws a date field's day, month and year 18 px wide
st.html("<style>[data-testid='stDateInput'] [role='spinbutton']{display:inline-block;min-width:24px;"
        "min-height:24px;text-align:center}</style>")


@st.cache_resource
def _map_scripts_problems() -> list[str]:
    """Checked once per server process (``python -m dashboards.serve`` fetches them again first)."""
    from dashboards import vendor

    return vendor.problems()


if _map_scripts_problems():
    from dashboards import vendor

    st.error("The map's scripts are missing or altered (" + ", ".join(_map_scripts_problems()[:3]) +
             "), so no map can draw. Run `" + vendor.FIX.split("  ")[0] + "` and restart the dashboard.")
    st.stop()


@st.cache_resource
def _pages() -> list:
    """The pages, made once per server (each run of this script would resolve their paths again)."""
    return [st.Page(VIEWS / script, title=title, url_path=url, default=(i == 0))
            for i, (script, title, url) in enumerate(PAGES)]


def _account() -> None:
    """With an identity provider: who is signed in, and the buttons to log in and out."""
    if not settings.login_enabled:
        return
    with st.sidebar:
        if st.user.is_logged_in:
            info = st.user.to_dict()
            who = info.get("name") or info.get("email") or info.get("sub") or "you"
            st.caption(f"Signed in as {common.md(who)} · {common.role()}")
            if st.button("Log out", key="account-logout"):
                st.logout()
        else:
            st.caption("Not signed in: the public view")
            if st.button("Log in", key="account-login", help="Partners and moderators sign in to see more"):
                st.login()


_account()
st.navigation(_pages()).run()
