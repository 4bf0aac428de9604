"""Email me about this ward: a subscription form for the ward profile and the Changes page.

The address is confirmed by a link in a first email before anything else is sent (the request
goes into the inbox; the pipeline stores it, pending, and sends the confirmation). A signed-in
partner's subscription is a partner's (told of sensitive sites); anyone else's is public.
"""

from __future__ import annotations

import streamlit as st

from assetmap import alerts, vocab
from assetmap.settings import settings
from dashboards import common

_ON = {"opened": "a site opens", "closed": "a site closes", "moved": "a site moves",
       "gap-rises": "the gap rises"}


def form(wards: dict[str, str], chosen: list[str], key: str) -> None:
    """The form, for the wards ``wards`` (code -> label) with ``chosen`` picked already."""
    with st.expander("Email me about changes here", expanded=False), st.form(f"{key}-alerts", clear_on_submit=False):
        email = st.text_input("Your email address", key=f"{key}-al-email")
        picked = st.multiselect("Wards", list(wards), default=[c for c in chosen if c in wards],
                                format_func=lambda c: wards.get(c, c), key=f"{key}-al-wards")
        cats = st.multiselect("Categories", list(vocab.CATEGORY_LABELS),
                              format_func=lambda c: vocab.CATEGORY_LABELS.get(c, c), key=f"{key}-al-cats",
                              placeholder="all")
        on = st.multiselect("Tell me when", list(_ON), default=list(_ON), format_func=lambda k: _ON[k],
                            key=f"{key}-al-on")
        daily = st.checkbox("One email a day at most (a digest)", key=f"{key}-al-daily")
        st.caption("We send a link to confirm first; every email has a link to stop them. "
                   + ("As a partner you will be told of sensitive sites too."
                      if common.partner_mode() else
                      "Refugee support venues and women-only spaces are never named or located."))
        sent = st.form_submit_button("Email me")
    if not sent:
        return
    missing = "choose at least one ward" if not picked else "choose at least one kind of change" if not on else None
    if missing:
        st.error(f"Not sent: {missing}")
        return
    try:
        req = alerts.request("subscribe", email=email.strip(), wards=picked, categories=cats or None, on=on,
                             mode="daily" if daily else "immediate",
                             role="partner" if common.partner_mode() else "public")
        alerts.to_inbox(req, settings.inbox_dir)
    except alerts.AlertError as exc:
        st.error(f"Not sent: {exc}")
        return
    except OSError:
        st.error("Not sent: the service could not take it just now; please try again in a few minutes.")
        return
    st.success(f"Nearly done: we are sending a link to {email.strip()} to confirm. Nothing else is sent until "
               "you press it.")
