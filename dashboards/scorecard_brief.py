"""A printable race equality scorecard: one self-contained HTML page per local authority.

Each domain's indicators as disparity ratios against the reference group, with the group's
residents from the census, the source and year on every figure, and the figures that may not be
reliable said so. Every string from the data is escaped.
"""

from __future__ import annotations

import datetime as _dt
import html

import pandas as pd

from assetmap.vocab.scorecards import DOMAINS
from dashboards.brief import _CSS, _table


def _fmt_ratio(r: pd.Series) -> str:
    text = f"{r['ratio']:.2f}"
    if pd.notna(r["ratio_low"]) and pd.notna(r["ratio_high"]):
        text += f" ({r['ratio_low']:.2f}–{r['ratio_high']:.2f})"
    return text


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """The scorecard's rows as shown: ratio with its interval, populations, source and year."""
    return pd.DataFrame({
        "Indicator": frame["indicator"], "Group": frame["group"],
        "Value": frame["value"].map(lambda v: f"{v:,.3g}"),
        "Reference": [f"{g}: {v:,.3g}" for g, v in zip(frame["reference_group"], frame["reference_value"],
                                                          strict=True)],
        "Disparity ratio": frame.apply(_fmt_ratio, axis=1),
        "Group residents": frame["group_population"].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}"),
        "Source, year": [f"{s}, {y}" for s, y in zip(frame["source"], frame["year"], strict=True)],
        "Reliability": frame["reliability"].replace("", "ok"),
    })


def render(la_code: str, la_name: str, frame: pd.DataFrame) -> str:
    """The whole brief as HTML."""
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Race equality scorecard: "
             f"{html.escape(la_name)} ({html.escape(la_code)})</title><style>{_CSS}</style></head><body>",
             f"<h1>Race equality scorecard: {html.escape(la_name)}</h1>",
             f"<p class='note'>{html.escape(la_code)} · made {_dt.date.today():%d %B %Y} by assetmap. A disparity "
             "ratio is the group's value over its reference group's: above 1, the group has more of what the "
             "indicator counts. Figures for small groups (or whose interval spans parity) are flagged.</p>"]
    for domain, label in DOMAINS.items():
        rows = frame[frame["domain"] == domain]
        parts.append(f"<h2>{html.escape(label)}</h2>")
        parts.append(_table(table(rows)) if len(rows) else "<p class='note'>No figures for this domain.</p>")
    parts.append("<p class='note'>Census populations: the latest census loaded, summed over the authority's "
                 "output areas.</p></body></html>")
    return "\n".join(parts)
