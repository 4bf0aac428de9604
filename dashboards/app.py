"""assetmap dashboard (placeholder until the dashboard issue lands).

Reads the latest published snapshot, read-only, and shows what it holds and the wards with the
largest ESOL provision gap. Every value shown comes from the snapshot; user-supplied strings
are shown through Streamlit's text elements (escaped), never as HTML.
"""

from __future__ import annotations

import streamlit as st

from assetmap.settings import settings
from assetmap.snapshots import list_snapshots, open_snapshot
from assetmap.store import StoreError

st.set_page_config(page_title="assetmap", layout="wide")
st.title("assetmap")
st.caption("Community assets, need and provision gaps, ward by ward. The full dashboard is on its way; "
           "this page shows the latest published snapshot.")

try:
    con = open_snapshot(settings.db_path)
except StoreError as exc:
    st.warning(f"No snapshot published yet: {exc}")
    st.stop()
try:
    snaps = list_snapshots(settings.db_path)
    latest = next((s for s in snaps if s.get("latest")), None)
    if latest:
        st.write(f"Snapshot {latest['snapshot_id']} published {latest.get('published_at', '')}")
    counts = con.execute(
        "SELECT 'assets' AS what, count(*) AS n FROM assets UNION ALL "
        "SELECT 'wards', count(*) FROM areas WHERE level = 'ward' UNION ALL "
        "SELECT 'output areas', count(*) FROM areas WHERE level = 'oa' UNION ALL "
        "SELECT 'ingests', count(*) FROM ingests").df()
    st.dataframe(counts, hide_index=True)
    gaps = con.execute(
        """SELECT g.rank, g.ward_code, a.name AS ward, round(g.gap, 3) AS gap, round(g.need, 3) AS need,
                  round(g.supply, 3) AS supply
           FROM ward_gaps g LEFT JOIN areas a ON a.code = g.ward_code AND a.level = 'ward'
           WHERE g.unit_level = 'ward' AND g.category = 'esol_provider' ORDER BY g.rank LIMIT 15""").df()
    st.subheader("Largest ESOL provision gaps")
    st.dataframe(gaps, hide_index=True)
finally:
    con.close()
