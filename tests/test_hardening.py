"""What people download and type, as an attacker would use it: spreadsheet formulas in CSV cells,
link schemes that run code, and guessing the moderators' secret."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from assetmap.csvout import neutralise, to_csv_bytes
from assetmap.export import LAYERS, export_layer
from assetmap.ingest import ingest_file
from assetmap.settings import settings
from assetmap.submissions import SubmissionError, parse
from assetmap.throttle import Throttle
from assetmap.vocab.categories import check_link, safe_link

REPO = Path(__file__).resolve().parents[1]
#: What a spreadsheet runs: each starts a formula (OWASP "CSV injection").
FORMULAS = ('=HYPERLINK("http://attacker.example/x","click")', "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1)", "\t=1+1", "\r=1+1")


def _cells_are_safe(data: bytes) -> list[str]:
    """The cells of a CSV that a spreadsheet would run (none, when safe)."""
    bad = []
    number = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
    for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
        bad += [c for c in row if c.startswith(("=", "+", "-", "@", "\t", "\r")) and not number.fullmatch(c)]
    return bad


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_is_neutralised_with_a_quote(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["-3.5", "+44", "12", "plain text", "", "a=b"])
def test_numbers_and_ordinary_text_are_left_alone(value):
    assert neutralise(value) == value


def test_a_frame_with_a_formula_in_every_text_column_downloads_safely():
    frame = pd.DataFrame({c: list(FORMULAS) for c in ("name", "address", "=col")} | {"n": [-1, 2, -3, 4, 5, 6]})
    data = to_csv_bytes(frame)
    assert _cells_are_safe(data) == []
    back = pd.read_csv(io.BytesIO(data))
    assert list(back["n"]) == [-1, 2, -3, 4, 5, 6]  # numbers stay numbers
    assert back["name"].iloc[0] == "'" + FORMULAS[0]


def test_every_csv_the_command_line_exports_holds_no_live_formula(city_store, tmp_path):
    rows = ["id,name,category,lat,lon,address,subtype,website,phone"]
    for k, f in enumerate(FORMULAS):
        q = f.replace('"', '""')
        rows.append(f'h{k},"{q}",community_centre,52.78{k}010,-1.250030,"{q}","{q}",https://example.org/{k},"{q}"')
    rows.append('hx,"=cmd|\' /C calc\'!A0",community_centre,52.779,-1.251,,,javascript:alert(1),')  # quarantined
    path = tmp_path / "hostile.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = ingest_file(city_store, path)
    assert res.rows_accepted == len(FORMULAS) and res.rows_quarantined == 1
    for layer in LAYERS:
        out = tmp_path / f"{layer}.csv"
        export_layer(city_store, layer, "csv", out)
        assert _cells_are_safe(out.read_bytes()) == [], layer
    # the store keeps the original; the GeoJSON export too (no spreadsheet runs it)
    assert city_store.scalar("SELECT count(*) FROM assets WHERE name = ?", [FORMULAS[0]]) == 1
    gj = tmp_path / "assets.geojson"
    export_layer(city_store, "assets", "geojson", gj)
    assert "=HYPERLINK(" in gj.read_text()


def test_no_module_writes_a_csv_but_the_one_writer():
    """Every CSV people can download goes through assetmap.csvout (the dashboard's downloads too)."""
    offenders = []
    for folder in ("assetmap", "dashboards", "pipelines"):
        for f in (REPO / folder).rglob("*.py"):
            text = f.read_text(encoding="utf-8")
            if f.name not in ("csvout.py", "demo.py", "synthetic.py") and re.search(r"\.to_csv\(|csv\.writer\(", text):
                offenders.append(str(f.relative_to(REPO)))
    assert offenders == []


# -- links --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["javascript:alert(1)", " JavaScript:alert(1)", "java\tscript:alert(1)",
                                   "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)", "ftp://x.example"])
def test_a_link_that_is_not_http_mailto_or_tel_is_refused(value):
    with pytest.raises(ValueError, match="link is not allowed"):
        check_link(value)
    assert safe_link(value) is None
    with pytest.raises(SubmissionError, match="link is not allowed"):
        parse({"name": "x", "category": "community_centre", "website": value})


@pytest.mark.parametrize(("value", "href"), [("https://example.org/a", "https://example.org/a"),
                                             ("www.example.org", "https://www.example.org"),
                                             ("example.org:8080/x", "https://example.org:8080/x"),
                                             ("mailto:esol@example.org", "mailto:esol@example.org"),
                                             ("tel:+441234567890", "tel:+441234567890"), ("call us", None)])
def test_safe_links_become_links_and_nothing_else_does(value, href):
    assert safe_link(value) == href


def test_a_javascript_website_is_quarantined_with_the_reason_and_never_a_link(city_store, tmp_path):
    path = tmp_path / "links.csv"
    path.write_text("id,name,category,lat,lon,website\n"
                    "ok,Good Hall,community_centre,52.781,-1.249,https://good.example\n"
                    "bad,Bad Hall,community_centre,52.782,-1.248,javascript:alert(document.cookie)\n",
                    encoding="utf-8")
    res = ingest_file(city_store, path)
    assert (res.rows_accepted, res.rows_quarantined) == (1, 1)
    reason, message = city_store.con.execute("SELECT reason_code, message FROM quarantine WHERE ingest_id = ?",
                                             [res.ingest_id]).fetchone()
    assert reason == "invalid_value" and "javascript: link is not allowed" in message
    # one stored before the rule (an old store) is shown as text, never offered as a link
    from assetmap import queries

    city_store.con.execute("""UPDATE assets SET attrs = json_object('website', 'javascript:alert(1)')
                              WHERE name = 'Good Hall'""")
    ward = city_store.scalar("SELECT ward_code FROM assets WHERE name = 'Good Hall'")
    listed, _ = queries.assets_in_reach(city_store.con, ward)
    assert listed.loc[listed["name"] == "Good Hall", "website"].isna().all()


# -- the moderators' secret ---------------------------------------------------------------------

def test_the_throttle_makes_the_sixth_wrong_try_in_a_minute_wait_and_the_wait_grows():
    now = [1000.0]
    t = Throttle(clock=lambda: now[0])
    keys = ["session:a", "address:10.0.0.9"]
    for _ in range(4):
        assert t.wait_s(keys) == 0 and t.failed(keys) == 0
    assert t.failed(keys) == 30.0  # the fifth wrong try: the sixth must wait
    assert t.wait_s(keys) == 30.0
    assert t.wait_s(["address:10.0.0.9"]) == 30.0  # a new session from the same address waits too
    now[0] += 31
    assert t.wait_s(keys) == 0
    assert t.failed(keys) == 60.0  # still within the minute: the wait doubles
    now[0] += 3600
    assert t.wait_s(keys) == 0 and t.failed(keys) == 0  # an hour later the count starts again
    t.succeeded("session:a")
    assert t.wait_s(["session:a"]) == 0


def test_the_moderation_page_refuses_the_sixth_try_unchecked_and_takes_the_secret_after_the_wait(
        writable_dashboard_home, monkeypatch, caplog):
    from streamlit.testing.v1 import AppTest

    from dashboards import common

    monkeypatch.setattr(settings, "moderator_secret", "s3cret-for-tests")
    now = [0.0]
    throttle = common.moderator_throttle()
    monkeypatch.setattr(throttle, "clock", lambda: now[0])
    at = AppTest.from_file(str(REPO / "dashboards" / "views" / "moderate.py"), default_timeout=60).run()
    for k in range(5):
        at.text_input(key="mod-secret").input(f"guess-{k}").run()
        assert "not the moderators' secret" in at.error[0].value
    assert "Wait 30 seconds" in at.error[0].value
    assert sum("a wrong moderators' secret" in r.getMessage() for r in caplog.records) == 5
    at.text_input(key="mod-secret").input("s3cret-for-tests").run()  # right, but too soon: not checked
    assert "Too many wrong tries: wait 30 seconds" in at.error[0].value and not at.dataframe
    now[0] += 31
    at.run()  # the same secret, now that the wait is over
    assert not at.exception and not at.error
