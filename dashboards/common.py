"""What every page shares: the snapshot connection, the user's role, the view kept in the URL.

The dashboard reads only published snapshots (:mod:`assetmap.snapshots`), read-only, so it
never waits for the pipeline: the public variant for a visitor who has not signed in, the
partner variant for a partner or moderator (:func:`role`). One connection per snapshot file is
cached for the process; each script run takes its own cursor from it (DuckDB cursors are safe to
use one per thread).

The view (measure, category, class scheme, selected ward, map centre and zoom, layers) lives
in ``st.session_state["view"]`` and is mirrored into the URL's query parameters, so a copied
URL opens the same view: :func:`view` reads the URL on a session's first run, every later
change goes through :func:`set_view`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import duckdb
import streamlit as st

from assetmap import roles
from assetmap.db.store import StoreError, connect, require_schema
from assetmap.objectstore import ObjectStoreError
from assetmap.queries import has_table_rows
from assetmap.settings import settings
from assetmap.snapshots import LATEST, latest_path, list_snapshots, snapshot_dir
from assetmap.throttle import Throttle

VIEW_KEYS = ("measure", "category", "field", "index", "group", "scheme", "k", "ward", "lat", "lon", "zoom",
             "layers", "religions", "la", "language")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md(text: Any) -> str:
    """Text safe to show through Streamlit's markdown: no markup, links or HTML from the data."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def role() -> str:
    """The role of this session's user (:mod:`assetmap.roles`), decided on the server from the
    signed-in user's claims (with an identity provider) or the install's mode (without one);
    never from the URL or a widget."""
    if settings.login_enabled:
        user = st.user
        if not user.is_logged_in:
            return roles.PUBLIC
        return roles.role_from_claims(user.to_dict())
    return roles.PARTNER if settings.dashboard_mode == "partner" else roles.PUBLIC


def partner_mode() -> bool:
    """Whether this session may see sensitive sites exactly (partners and moderators)."""
    return roles.at_least(role(), roles.PARTNER)


def variant() -> str:
    """The snapshot variant this session reads: the public one holds no sensitive site."""
    return roles.snapshot_variant(role())


@st.cache_resource(max_entries=4)
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    """One read-only connection per snapshot, checked once to be one this assetmap reads."""
    con = connect(path, read_only=True)
    try:
        require_schema(con, path, snapshot=True)
    except StoreError:
        con.close()
        raise
    return con


_latest: dict[str, tuple[int, Path | None]] = {}


def latest() -> Path | None:
    """The latest snapshot of this session's variant: the pointer file is read again only when it
    has changed (a ``stat`` per run instead of a read and a path resolution, twice per run, per
    visitor). A replica without the working store follows the bucket's pointer instead
    (:func:`assetmap.objectstore.follow`, asked at most every few seconds)."""
    v = variant()
    if settings.snapshot_url and not Path(settings.db_path).exists():
        try:
            return latest_path(settings.db_path, v)
        except ObjectStoreError as exc:
            st.error(f"The snapshots' bucket cannot be read: {exc}")
            st.stop()
    pointer = snapshot_dir(settings.db_path, v) / LATEST
    try:
        mtime = os.stat(pointer).st_mtime_ns
    except FileNotFoundError:
        return None
    cached = _latest.get(str(pointer))
    if cached is None or cached[0] != mtime:
        cached = (mtime, latest_path(settings.db_path, v))
        _latest[str(pointer)] = cached
    return cached[1]


def snapshot() -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A cursor on the latest snapshot and its path; stops the page with a message if none."""
    path = latest()
    if path is None or not path.exists():
        st.warning("No snapshot has been published yet. Run `make up` (or `assetmap ingest …` then "
                   "`assetmap recompute` and `assetmap publish`) and reload.")
        st.stop()
    try:
        return _connection(str(path)).cursor(), path
    except (StoreError, duckdb.Error) as exc:
        st.error(f"The latest snapshot could not be opened: {exc}")
        st.stop()
        raise  # for type checkers: st.stop() does not return


NO_GAPS = "No gaps computed in this snapshot (run `assetmap recompute`)."


@st.cache_resource(max_entries=64)
def _has_rows(path: str, table: str) -> bool:
    return has_table_rows(snapshot_at(path), table)


def require(con: duckdb.DuckDBPyConnection, table: str, message: str) -> None:
    """Stop the page with ``message`` when the snapshot's ``table`` is empty (asked once per
    snapshot: a snapshot never changes)."""
    path = latest()
    if not (_has_rows(str(path), table) if path is not None else has_table_rows(con, table)):
        st.warning(message)
        st.stop()


def snapshot_at(path: str) -> duckdb.DuckDBPyConnection:
    return _connection(str(path)).cursor()


def snapshots() -> list[dict[str, Any]]:
    return list_snapshots(settings.db_path, variant())


def view() -> dict[str, str]:
    """The current view; on a session's first run, taken from the URL's query parameters."""
    if "view" not in st.session_state:
        st.session_state["view"] = {k: str(st.query_params[k]) for k in VIEW_KEYS if k in st.query_params}
    _mirror()
    return st.session_state["view"]


def set_view(**changes: Any) -> None:
    """Change the view (``None`` removes a key) and mirror it into the URL."""
    v = st.session_state.setdefault("view", {})
    for k, value in changes.items():
        if value is None or value == "":
            v.pop(k, None)
        else:
            v[k] = str(value)
    _mirror()


def _mirror() -> None:
    wanted = {k: v for k, v in st.session_state.get("view", {}).items() if k in VIEW_KEYS}
    current = {k: st.query_params[k] for k in st.query_params}
    if current != wanted:
        st.query_params.from_dict(wanted)


def header(title: str) -> None:
    st.title(title)
    mode = "partner view: exact locations of sensitive services shown" if partner_mode() else \
        "public view: sensitive services shown only as counts per ward"
    path = latest()
    st.caption(f"assetmap · snapshot {md(path.stem) if path else 'none'} · {mode}")


def choice(label: str, options: dict[str, str] | list[str], current: str | None, key: str, **kwargs: Any) -> str:
    """A selectbox over ``options`` (values, or value -> label) starting at ``current`` when valid."""
    values = list(options)
    index = values.index(current) if current in values else 0
    fmt = (lambda v: options[v]) if isinstance(options, dict) else str
    return st.selectbox(label, values, index=index, format_func=fmt, key=key, **kwargs)


@st.cache_resource
def moderator_throttle() -> Throttle:
    """Wrong moderators' secrets, counted for every session this process serves."""
    return Throttle()


def table(frame: Any, key: str | None = None, headings: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """``st.dataframe`` with words at the head of each column (:func:`assetmap.vocab.headings.heading`,
    ``headings`` first), the frame's own names kept underneath; no index. ``column_config`` given
    for a column keeps its own."""
    from assetmap.vocab.headings import heading

    words = headings or {}
    config: dict[str, Any] = {c: st.column_config.Column(words.get(c) or heading(c)) for c in frame.columns}
    for c, given in (kwargs.pop("column_config", None) or {}).items():
        # a column's own settings (a number format, say) keep the words unless they bring their own
        if isinstance(given, dict):
            given = {**given, "label": given.get("label") or words.get(c) or heading(c)}
        config[c] = given
    return st.dataframe(frame, hide_index=True, key=key, column_config=config, **kwargs)



def tooltips(*fields: Any) -> list[Any]:
    """A chart's tooltip fields headed in words (:func:`assetmap.vocab.headings.heading`): each a
    field name, or an ``alt.Tooltip`` without a title of its own."""
    import altair as alt

    from assetmap.vocab.headings import heading

    out = []
    for f in fields:
        if isinstance(f, str):
            out.append(alt.Tooltip(f, title=heading(f.split(":")[0])))
        else:
            d = f.to_dict()
            out.append(f if d.get("title") else alt.Tooltip(**{**d, "title": heading(str(d.get("field", "")))}))
    return out
