"""Moderation: for signed-in moderators (or, in a single-user install without an identity
provider, behind the shared secret from configuration), approve or reject pending submissions.

Pending submissions live only in the working store (never in a published snapshot), so this
page opens the working store, briefly, for each action; it waits its turn behind the pipeline.
An approval goes through the same validation as any provider row, then the wards it touches are
recomputed and a new snapshot published, so the map shows it at once.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import json
import logging
import uuid
from pathlib import Path

import pandas as pd
import streamlit as st

from assetmap import roles
from assetmap.db.store import Store, StoreError
from assetmap.settings import settings
from assetmap.submissions import SubmissionError, approve, list_submissions, reject
from dashboards import common

log = logging.getLogger("assetmap.moderation")


def _authorised() -> bool:
    if settings.login_enabled:  # moderators sign in; the shared secret is refused
        if common.role() == roles.MODERATOR:
            return True
        st.info("Moderation is for signed-in moderators: log in (in the sidebar) with an account in a "
                f"moderators' group ({', '.join(settings.moderator_groups)}).")
        if settings.moderator_secret:
            st.caption("The shared moderators' secret is not accepted where users sign in.")
        return False
    if not settings.moderator_secret:
        st.info("Moderation is closed here: set ASSETMAP_MODERATOR_SECRET to open it "
                "(or use `assetmap submissions`, `assetmap approve` and `assetmap reject`).")
        return False
    if st.session_state.get("moderator"):
        return True
    given = st.text_input("Moderators' secret", type="password", key="mod-secret")
    if not given:
        return False
    keys = _guess_keys()
    throttle = common.moderator_throttle()
    wait = throttle.wait_s(keys)
    if wait > 0:  # refused without looking at what was given
        st.error(f"Too many wrong tries: wait {_minutes(wait)} before trying again.")
        return False
    if hmac.compare_digest(given.encode("utf-8"), settings.moderator_secret.encode("utf-8")):
        throttle.succeeded(keys[0])
        st.session_state["moderator"] = True
        st.rerun()
    owed = throttle.failed(keys)
    log.warning("a wrong moderators' secret from %s at %s%s", keys[-1].removeprefix("address:"),
                _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                f"; the next try waits {owed:.0f} s" if owed else "")
    st.error("That is not the moderators' secret." + (f" Wait {_minutes(owed)} before trying again." if owed else ""))
    return False


def _guess_keys() -> list[str]:
    """The session and the client address a try comes from. Behind the local proxy (HAProxy in
    ``up``), the address the proxy appended to X-Forwarded-For (the last one: a client can write
    the ones before it)."""
    session = st.session_state.setdefault("_mod_session", uuid.uuid4().hex)
    ip = st.context.ip_address
    if ip in ("127.0.0.1", "::1") and st.context.headers.get("X-Forwarded-For"):
        ip = st.context.headers["X-Forwarded-For"].split(",")[-1].strip() or ip
    return [f"session:{session}"] + ([f"address:{ip}"] if ip else [])  # no address: no client (a test)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} seconds" if seconds < 90 else f"{seconds / 60:.0f} minutes"


def main() -> None:
    common.header("Moderation")
    if not _authorised():
        return
    if not Path(settings.db_path).exists():  # a replica that follows the snapshots' bucket
        st.info("Moderation needs the working store, which is not on this machine: moderators use the "
                "dashboard served beside the store (see docs/deploy.md), or `assetmap approve` there.")
        return
    try:
        with Store(settings.db_path) as store:
            pending = list_submissions(store, "pending")
    except StoreError as exc:
        st.error(f"The working store is busy or missing: {exc}")
        return
    if st.session_state.get("mod-message"):
        st.success(st.session_state.pop("mod-message"))
    if not pending:
        st.write("No submissions are waiting.")
        return
    st.write(f"{len(pending)} submission(s) waiting.")
    table = pd.DataFrame([{"id": p["submission_id"], "submitted": p["submitted_at"], **{
        k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in p["payload"].items()}} for p in pending])
    common.table(table, key="mod-table")
    sid = st.selectbox("Submission", [p["submission_id"] for p in pending], key="mod-id")
    reason = st.text_input("Reason (needed to reject)", key="mod-reason")
    c1, c2 = st.columns(2)
    if c1.button("Approve", key="mod-approve", type="primary"):
        try:
            with Store(settings.db_path) as store:
                approve(store, sid, publish=True)
        except (SubmissionError, StoreError) as exc:
            st.error(str(exc))
            return
        st.session_state["mod-message"] = f"Approved {sid}; the map now shows it."
        st.rerun()
    if c2.button("Reject", key="mod-reject"):
        if not reason.strip():
            st.error("Give a reason to reject.")
            return
        try:
            with Store(settings.db_path) as store:
                reject(store, sid, reason.strip())
        except (SubmissionError, StoreError) as exc:
            st.error(str(exc))
            return
        st.session_state["mod-message"] = f"Rejected {sid}."
        st.rerun()


main()
