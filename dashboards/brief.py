"""A printable ward brief: one self-contained HTML page with a map image and the tables.

What a planner takes to a meeting: who lives in the ward, how segregated it is, what is within
reach, each category's provision gap and why, and the ward beside its local authority. The
map is a PNG drawn with matplotlib and embedded in the page, so the brief opens offline and
prints as it looks. Every string from the data is escaped; in public mode sensitive assets are
neither drawn nor listed, only counted.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io

import duckdb
import numpy as np
import pandas as pd
import shapely

from assetmap import queries, vocab
from assetmap.settings import settings

_CSS = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; }
th { background: #eee; }
.note { color: #555; font-size: 0.85em; }
@media print { body { margin: 0; } }
"""


def _table(df: pd.DataFrame, digits: int = 3) -> str:
    if df.empty:
        return "<p class='note'>None.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, (float, np.floating)):
                text = "" if not np.isfinite(v) else f"{v:,.{digits}f}"
            else:
                text = "" if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def map_png(con: duckdb.DuckDBPyConnection, code: str, partner: bool = False, size_in: float = 6.0) -> bytes:
    """A PNG of the ward (outlined) among its neighbours, with the assets that may be shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    geo, pts = queries.ward_map_layers(con, code, partner)
    fig, ax = plt.subplots(figsize=(size_in, size_in), dpi=100)
    for c, wkb in zip(geo["code"], geo["wkb"], strict=True):
        g = shapely.from_wkb(bytes(wkb))
        for poly in getattr(g, "geoms", [g]):
            x, y = poly.exterior.xy
            if c == code:
                ax.fill(x, y, facecolor="#fdd49e", edgecolor="#b30000", linewidth=2.5, zorder=2)
            else:
                ax.fill(x, y, facecolor="#f0f0f0", edgecolor="#888", linewidth=0.6, zorder=1)
    from dashboards.maps import CATEGORY_COLOURS

    for cat, grp in pts.groupby("category"):
        ax.scatter(grp["x"], grp["y"], s=18, color=CATEGORY_COLOURS.get(cat, "#333"), edgecolor="white",
                   linewidth=0.5, zorder=3, label=vocab.CATEGORY_LABELS.get(cat, cat))
    if len(pts):
        ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    ax.set_aspect("equal")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def ward_brief(con: duckdb.DuckDBPyConnection, code: str, partner: bool = False,
               snapshot: str = "") -> str:
    """The brief of ward ``code`` as one HTML document."""
    w = queries.ward(con, code)
    if w is None:
        msg = f"no ward {code!r} in this snapshot"
        raise ValueError(msg)
    name, la_name = w["name"], w["la_name"]
    e = html.escape
    gaps = queries.ward_gaps(con, code)
    gap_table = pd.DataFrame({
        "category": gaps["label"], "gap": gaps["gap"], "need": gaps["need"], "supply": gaps["supply"],
        "rank": [f"{r} of {n}" for r, n in zip(gaps["rank"], gaps["of_units"], strict=True)],
        "why": gaps["components"].map(queries.why),
        "flags": gaps["flags"].map(lambda f: ", ".join(f or []))})
    listed, counted = queries.assets_in_reach(con, code, partner=partner)
    listed = listed.assign(category=listed["category"].map(lambda c: vocab.CATEGORY_LABELS.get(c, c)))[
        ["name", "category", "subtype", "address", "postcode", "distance_m"]]
    mix = queries.population_mix(con, code)[["group", "residents", "share", "la_share"]]
    idx = queries.ward_indices(con, code)
    idx = idx[idx["focal_group"].isin(["all", "white_british", "asian_all", "black_all", "mixed_all", "other_all",
                                       "white_all"])][["group", "index", "value", "ci_low", "ci_high", "reliable"]]
    access = queries.ward_access(con, code)
    said = "".join(f"<li>{e(line)}</li>" for line in queries.access_sentences(access))
    mode = queries.access_mode(con)
    mode_note = (f"<p class='note'>{e(queries.ACCESS_MODE_NOTE[mode].format(speed=settings.walk_speed_kmh))}</p>"
                 if mode in queries.ACCESS_MODE_NOTE else "")
    bus = queries.ward_ptal(con, code)
    bus_html = "" if bus is None else (
        f"<h2>Bus and rail access (PTAL)</h2><p>{e(queries.ptal_sentence(bus) or '')}</p>"
        + (_table(bus["routes"].head(15), 2) if len(bus["routes"]) else ""))
    access["category"] = access["category"].map(lambda c: vocab.CATEGORY_LABELS.get(c, c))
    png = base64.b64encode(map_png(con, code, partner)).decode()
    sensitive_note = ("" if partner else
                      "<p class='note'>Public brief: refugee support venues and women-only spaces are counted, "
                      "never located.</p>")
    counted_html = _table(counted.assign(category=counted["category"].map(lambda c: vocab.CATEGORY_LABELS.get(c, c))))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ward brief: {e(str(name))} ({e(code)})</title>
<style>{_CSS}</style></head><body>
<h1>Ward brief: {e(str(name))} <small>({e(code)})</small></h1>
<p>{e(str(la_name or ''))} · snapshot {e(snapshot)} · printed {_dt.date.today().isoformat()}</p>
<img alt="Map of {e(str(name))} and its neighbours" src="data:image/png;base64,{png}" style="max-width:100%">
{sensitive_note}
<h2>Provision gaps (need minus supply)</h2>{_table(gap_table)}
<h2>Accessibility</h2><ul>{said}</ul>{_table(access)}{mode_note}
{bus_html}
<h2>The ward beside its local authority</h2>{_table(queries.ward_vs_la(con, code))}
<h2>Who lives here</h2>{_table(mix)}
<h2>Segregation indices</h2>{_table(idx)}
<h2>Assets within 1,600 m</h2>{_table(listed, 0)}
<h3>Sensitive services within 1,600 m (count only)</h3>{counted_html}
<p class="note">Made with assetmap from published data; see the dashboard's Data and provenance page for
sources and licences.</p>
</body></html>"""
