"""Data and provenance: every layer's source, licence and vintage; ingests; events; snapshot compare."""

from __future__ import annotations

import streamlit as st

from assetmap import queries
from dashboards import common


def main() -> None:
    common.header("Data and provenance")
    con, path = common.snapshot()
    s = queries.summary(con)
    cols = st.columns(5)
    for col, (label, key) in zip(cols, [("Wards", "wards"), ("Output areas", "oas"), ("Assets", "assets"),
                                        ("of which sensitive", "sensitive_assets"), ("Ingests", "ingests")],
                                 strict=True):
        col.metric(label, f"{s[key]:,}")

    st.subheader("Layers: source, licence, vintage")
    common.table(queries.layers(con), key="pv-layers")

    st.subheader("Ingests")
    ing = queries.ingests(con)
    st.caption("Every row read is stored or quarantined with a reason: read = accepted + quarantined.")
    common.table(ing, key="pv-ingests")
    q = queries.quarantine_reasons(con)
    if len(q):
        st.caption("Quarantined rows by reason (details: `assetmap quarantine --ingest N`)")
        common.table(q, key="pv-quarantine")

    fixed = queries.repairs(con)
    if len(fixed):
        st.subheader("Repairs")
        st.caption("What a reader changed in a row to store it, and why: a code that belonged to another "
                   "authority than the row's name, repeated figures added up. Nothing is changed silently.")
        common.table(fixed, key="pv-repairs", column_config={
            "ingest_id": st.column_config.NumberColumn("Ingest"), "path": st.column_config.Column("File"),
            "row_number": st.column_config.NumberColumn("Row"), "field": st.column_config.Column("Field"),
            "given": st.column_config.Column("As given"), "stored": st.column_config.Column("As stored"),
            "reason": st.column_config.Column("Why")})

    st.subheader("Events")
    ev = queries.events_timeline(con)
    names = sorted(ev["name"].unique())
    shown = st.multiselect("Event types", names, default=names, key="pv-events")
    common.table(ev[ev["name"].isin(shown)], key="pv-timeline")

    st.subheader("Compare snapshots")
    snaps = [x for x in common.snapshots() if x["snapshot_id"] != path.stem]
    if not snaps:
        st.info("Only one snapshot is kept so far: the next publish (any ingest) gives one to compare with.")
        return
    labels = {x["snapshot_id"]: f"{x['snapshot_id']} ({x.get('reason') or 'no reason'})" for x in snaps}
    before = st.selectbox("Compare the latest with", list(labels), format_func=labels.__getitem__, key="pv-before")
    changed = queries.compare_gaps(con, common.snapshot_at(str(path.parent / f"{before}.duckdb")))
    st.caption(f"{len(changed)} ward gaps changed between {common.md(labels[before])} and the latest.")
    common.table(changed, key="pv-changed")


main()
