"""Submit an asset: a community group proposes a place; it waits for a moderator."""

from __future__ import annotations

import streamlit as st

from assetmap import vocab
from assetmap.settings import settings
from assetmap.submissions import SubmissionError, to_inbox
from assetmap.vocab.categories import CATEGORIES, ESOL_LEVELS
from dashboards import common


def _float(text: str) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def main() -> None:
    common.header("Submit an asset")
    st.write("Know a community centre, place of worship, ESOL class or refugee support service that is "
             "missing? Tell us. A moderator checks each submission before it appears on the map. "
             "Refugee support venues and women-only spaces are never shown as points in public mode.")
    with st.form("submission", clear_on_submit=False):
        name = st.text_input("Name *", key="s-name")
        category = st.selectbox("Category *", list(CATEGORIES), format_func=lambda c: vocab.CATEGORY_LABELS.get(c, c),
                                key="s-category")
        subtype = st.text_input("Religion (places of worship) or kind of service", key="s-subtype")
        address = st.text_input("Address", key="s-address")
        postcode = st.text_input("Postcode", key="s-postcode")
        c1, c2 = st.columns(2)
        lat = c1.text_input("Latitude (e.g. 52.4862)", key="s-lat")
        lon = c2.text_input("Longitude (e.g. -1.8904)", key="s-lon")
        st.caption("Give a latitude and longitude, or a postcode the store knows.")
        c3, c4, c5 = st.columns(3)
        capacity = c3.number_input("Places (capacity)", min_value=0, step=1, value=0, key="s-capacity")
        cost = c4.selectbox("Cost", ["", "free", "fee"], key="s-cost")
        day_evening = c5.selectbox("When", ["", "day", "evening", "both"], key="s-when")
        levels = st.multiselect("ESOL levels", list(ESOL_LEVELS), key="s-levels")
        languages = st.text_input("Languages spoken (comma-separated)", key="s-languages")
        c6, c7, c8 = st.columns(3)
        childcare = c6.checkbox("Childcare / crèche", key="s-childcare")
        women_only = c7.checkbox("Women-only", key="s-women")
        step_free = c8.checkbox("Step-free access", key="s-stepfree")
        website = st.text_input("Website", key="s-website")
        contact = st.text_input("Your contact, for the moderator only (never published)", key="s-contact")
        sent = st.form_submit_button("Submit for moderation")
    if not sent:
        return
    try:
        payload = {"name": name.strip(), "category": category, "subtype": subtype.strip() or None,
                   "address": address.strip() or None, "postcode": postcode.strip() or None,
                   "lat": _float(lat), "lon": _float(lon), "capacity": int(capacity) or None,
                   "cost": cost or None, "day_evening": day_evening or None, "esol_levels": levels or None,
                   "languages": [x.strip() for x in languages.split(",") if x.strip()] or None,
                   "childcare": childcare or None, "women_only": women_only or None,
                   "step_free": step_free or None, "website": website.strip() or None,
                   "submitted_by": contact.strip() or None}
        if payload["lat"] is None and payload["lon"] is None and not payload["postcode"]:
            msg = "give a latitude and longitude, or a postcode"
            raise SubmissionError(msg)
        sid, _ = to_inbox({k: v for k, v in payload.items() if v is not None}, settings.inbox_dir)
    except ValueError as exc:  # SubmissionError is a ValueError; so is an unreadable number
        st.error(f"Not sent: {exc}")
        return
    st.success(f"Thank you. Your submission {sid} is waiting for a moderator.")


main()
