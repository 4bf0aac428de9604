"""``assetmap doctor``: the parts of a deployment, checked from the machine it runs on, one line
each, with what to do about any that fails.

- **store**: the DuckDB file opens and is migrated to this assetmap's schema (a pipeline
  writing it counts as fine: its latest snapshot is named instead);
- **prefect**: the Prefect API answers (``--api`` or ``PREFECT_API_URL``; default ``up``'s
  ``http://127.0.0.1:4200/api``);
- **pipeline**: with ``--pool``, the pool has live workers; without, ``up``'s served
  deployments are ready;
- **writer limit**: the store's writer limit exists, allows one writer, and who holds it;
- **bucket** (with ``ASSETMAP_SNAPSHOT_URL``): reachable, writable (a probe object written and
  removed) and holding a ``LATEST``;
- **identity provider** (with ``ASSETMAP_OIDC_METADATA_URL``): its metadata answers, with the
  endpoints a sign-in needs, and the groups claim the roles are read from is configured;
- **dashboard**: it answers its health check, and behind HAProxy (``haproxy.cfg`` in the home)
  so does every replica;
- **map scripts**: the vendored Leaflet files match their pinned digests.

Everything is asked over HTTP with a few seconds' timeout, so a part that hangs is reported, not
waited on. Nothing here imports Prefect. Exit 0 when every part checked is fine, 1 when one is
not, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assetmap.settings import settings

log = logging.getLogger("assetmap.doctor")

#: how long one question to a part may wait
TIMEOUT_S = 5.0
DEFAULT_API = "http://127.0.0.1:4200/api"
DEFAULT_DASHBOARD = "http://127.0.0.1:8501"


@dataclass(frozen=True)
class Check:
    """One part's result: ``ok`` None when the part is not configured here (skipped)."""

    part: str
    ok: bool | None
    said: str
    fix: str = ""


def _why(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"no answer within {TIMEOUT_S:.0f} s"
    return str(reason) or type(exc).__name__


def _get(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` as JSON) ``url``; the JSON answer, or the text when not JSON."""
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        msg = f"not an http(s) address: {url}"
        raise ValueError(msg)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",  # noqa: S310
                                 headers={"Content-Type": "application/json"})  # (http or https, checked above)
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:  # noqa: S310 (configured URLs)
        text = r.read().decode("utf-8", "replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# -- the parts ------------------------------------------------------------------------------
def check_store(db: Path) -> Check:
    """The store opens and is migrated to this assetmap's schema."""
    import duckdb

    from assetmap.db.store import SCHEMA_VERSION, StoreError, connect, schema_version
    from assetmap.snapshots import list_snapshots

    if not db.exists():
        return Check("store", False, f"{db} does not exist",
                     "load data: `make up` (the demo) or `assetmap ingest FILES --db " + str(db) + "`")
    try:
        con = connect(db, read_only=True)
    except (duckdb.IOException, StoreError) as exc:
        if "lock" in str(exc).lower() or "busy" in str(exc).lower():
            latest = [s for s in list_snapshots(db) if s.get("latest")]
            return Check("store", True, f"{db}: a pipeline is writing it; latest snapshot "
                                        f"{latest[0]['snapshot_id'] if latest else 'none yet'}")
        return Check("store", False, f"{db} cannot be opened ({str(exc)[:160]})",
                     "is it a DuckDB file written by assetmap? restore it from a snapshot (docs/deploy.md)")
    try:
        version = schema_version(con)
    finally:
        con.close()
    if version < SCHEMA_VERSION:
        return Check("store", False, f"{db} is at schema version {version}, this assetmap writes {SCHEMA_VERSION}",
                     f"`assetmap migrate --db {db}`")
    if version > SCHEMA_VERSION:
        return Check("store", False, f"{db} is at schema version {version}, newer than this assetmap "
                                     f"({SCHEMA_VERSION})", "install the assetmap that wrote it")
    return Check("store", True, f"{db} (schema version {version})")


def check_prefect(api: str) -> Check:
    """The Prefect API answers its health check."""
    try:
        _get(api.rstrip("/") + "/health")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Check("prefect", False, f"the Prefect API at {api} does not answer ({_why(exc)})",
                     "start it with `assetmap up` on its machine, or give the right --api / PREFECT_API_URL")
    return Check("prefect", True, f"the Prefect API at {api} answers")


def check_pipeline(api: str, pool: str | None) -> Check:
    """With a pool: live workers in it; without: up's served deployments ready."""
    base = api.rstrip("/")
    try:
        if pool:
            try:
                _get(f"{base}/work_pools/{urllib.parse.quote(pool)}")
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return Check("pipeline", False, f"there is no work pool {pool!r}",
                                 f"`assetmap up --pool {pool}` registers the deployments in it")
                raise
            workers = _get(f"{base}/work_pools/{urllib.parse.quote(pool)}/workers/filter", {})
            online = sorted(w["name"] for w in workers if w.get("status") == "ONLINE")
            if not online:
                return Check("pipeline", False, f"work pool {pool!r} has no live worker"
                             + (f" ({len(workers)} offline)" if workers else ""),
                             f"start one: `assetmap worker --pool {pool} --limit 2 --api {api}`")
            return Check("pipeline", True, f"work pool {pool!r}: {len(online)} live worker(s) ({', '.join(online)})")
        deps = _get(f"{base}/deployments/filter", {"limit": 50})
        ours = {d["name"]: d.get("status") for d in deps}
        if "inbox" not in ours:
            return Check("pipeline", False, "the pipeline's deployments are not registered on this server",
                         "start the pipeline with `assetmap up` (or give --pool for a work pool)")
        if ours["inbox"] != "READY":
            return Check("pipeline", False, f"the pipeline's deployments are {ours['inbox'] or 'not ready'}: "
                                            "nothing is serving them", "start (or restart) `assetmap up`")
        return Check("pipeline", True, f"{len(ours)} deployments served and ready")
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        return Check("pipeline", False, f"could not ask the Prefect API at {api} ({_why(exc)})",
                     "see the prefect line")


def check_writer(api: str, db: Path) -> Check:
    """The store's writer limit exists, allows one writer, and who holds it."""
    name = settings.writer_limit(db)
    base = api.rstrip("/")
    try:
        limit = _get(f"{base}/v2/concurrency_limits/{urllib.parse.quote(name, safe='')}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return Check("writer limit", False, f"{name} does not exist: no run has written this store through "
                                                "this server", "`assetmap up` (or `--pool`) makes it")
        return Check("writer limit", False, f"could not read {name} ({_why(exc)})", "see the prefect line")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Check("writer limit", False, f"could not read {name} ({_why(exc)})", "see the prefect line")
    if limit.get("limit") != 1 or not limit.get("active", True):
        return Check("writer limit", False, f"{name} allows {limit.get('limit')} writers at once"
                     + ("" if limit.get("active", True) else " and is inactive"),
                     f"`prefect gcl update {name} --limit 1 --enable`")
    if not limit.get("active_slots"):
        return Check("writer limit", True, f"{name}: free")
    holder = None
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError, AttributeError):
        holder = _get(f"{base}/variables/name/{settings.writer_holder_variable(db)}").get("value")
    if isinstance(holder, dict) and holder.get("worker"):
        since = time.time() - float(holder.get("since") or time.time())
        who = f"held by {holder['worker']} (flow run {holder.get('flow_run_id')}) for {since:.0f} s"
    else:
        who = "held (by a run that did not name itself)"
    return Check("writer limit", True, f"{name}: {who}")


def check_bucket(url: str) -> Check:
    """The snapshots' bucket answers, takes a write, and holds a ``LATEST``."""
    from assetmap import objectstore

    try:
        loc = objectstore.location(url)
        client = objectstore._client()
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS's own endpoint"
        probe = loc.key(".assetmap-doctor-probe")
        client.put_object(Bucket=loc.bucket, Key=probe, Body=b"assetmap doctor")
        client.delete_object(Bucket=loc.bucket, Key=probe)
        latest = objectstore.latest_name("public", url)
    except objectstore.ObjectStoreError as exc:
        return Check("bucket", False, str(exc), "check ASSETMAP_SNAPSHOT_URL, AWS_ENDPOINT_URL and the keys")
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        fix = ("make it: `aws s3 mb s3://BUCKET` (or your storage's console)" if code == "NoSuchBucket"
               else "check ASSETMAP_SNAPSHOT_URL, AWS_ENDPOINT_URL, the keys and that the endpoint answers")
        return Check("bucket", False, f"{url} at {os.environ.get('AWS_ENDPOINT_URL') or 'AWS'}: "
                                      f"{type(exc).__name__}: {str(exc)[:160]}", fix)
    if not latest:
        return Check("bucket", False, f"{url} at {endpoint} is writable but holds no LATEST snapshot",
                     "publish one: `assetmap publish` on the store machine (or drop a file into the inbox)")
    return Check("bucket", True, f"{url} at {endpoint}: writable, LATEST {latest}")


def check_identity(metadata_url: str) -> Check:
    """The OIDC provider's metadata answers with the endpoints a sign-in needs, and the groups
    claim is configured."""
    try:
        meta = _get(metadata_url)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Check("identity provider", False, f"{metadata_url} does not answer ({_why(exc)})",
                     "check ASSETMAP_OIDC_METADATA_URL and that the identity provider is up")
    if not isinstance(meta, dict):
        return Check("identity provider", False, f"{metadata_url} is not OpenID Connect metadata (not JSON)",
                     "ASSETMAP_OIDC_METADATA_URL ends in /.well-known/openid-configuration")
    missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not meta.get(k)]
    if missing:
        return Check("identity provider", False, f"{metadata_url} lacks {', '.join(missing)}",
                     "ASSETMAP_OIDC_METADATA_URL must be the provider's /.well-known/openid-configuration")
    unset = [f"ASSETMAP_OIDC_{k.upper()}" for k in ("client_id", "client_secret", "redirect_uri", "cookie_secret")
             if not settings.oidc.get(k)]
    if unset:
        return Check("identity provider", False, f"{meta['issuer']} answers, but {', '.join(unset)} "
                                                 f"{'is' if len(unset) == 1 else 'are'} not set",
                     "register assetmap with the provider (redirect URI: the front door's /oauth2callback, and one per "
                     "replica reached directly; docs/deploy.md, step 7) and set them")
    claims = meta.get("claims_supported")
    claim = settings.roles_claim
    if not claim:
        return Check("identity provider", False, "no groups claim is configured", "set ASSETMAP_ROLES_CLAIM")
    if isinstance(claims, list) and claim not in claims:
        return Check("identity provider", False, f"{meta['issuer']} does not list the claim {claim!r} that "
                                                 "partners' groups are read from",
                     f"map users' groups to the {claim!r} claim in the provider, or set ASSETMAP_ROLES_CLAIM")
    return Check("identity provider", True, f"{meta['issuer']}: sign-in endpoints and the {claim!r} claim "
                                            f"(partners: {', '.join(settings.partner_groups)})")


def _replicas(home: Path) -> list[str]:
    """The replicas' addresses in ``up``'s HAProxy configuration, if there is one."""
    cfg = home / "haproxy.cfg"
    if not cfg.exists():
        return []
    return re.findall(r"^\s*server\s+\S+\s+(\S+:\d+)", cfg.read_text(encoding="utf-8"), flags=re.MULTILINE)


def check_dashboard(url: str, home: Path) -> Check:
    """The dashboard answers its health check; so does every replica behind HAProxy."""
    try:
        _get(url.rstrip("/") + "/_stcore/health")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Check("dashboard", False, f"{url} does not answer its health check ({_why(exc)})",
                     "start it with `assetmap up` (or give --dashboard with its address)")
    replicas = _replicas(home)
    down = []
    for address in replicas:
        try:
            _get(f"http://{address}/_stcore/health")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            down.append(f"{address} ({_why(exc)})")
    if down:
        return Check("dashboard", False, f"{url} answers, but {len(down)} of {len(replicas)} replicas do not: "
                                         f"{', '.join(down)}", "restart `assetmap up`; see its logs/dashboard-*.log")
    behind = f", {len(replicas)} replicas behind HAProxy answer" if replicas else ""
    return Check("dashboard", True, f"{url} answers{behind}")


def check_map_scripts(folder: Path | None = None) -> Check:
    """The vendored map scripts match their pinned digests."""
    from dashboards import vendor

    bad = vendor.problems(folder)
    if bad:
        return Check("map scripts", False, f"{len(bad)} missing or altered ({', '.join(bad[:3])}"
                                           f"{' ...' if len(bad) > 3 else ''}): the maps would stay empty",
                     vendor.FIX)
    return Check("map scripts", True, f"{len(vendor.FILES_SHA256)} files match their pinned digests")


# -- the command ----------------------------------------------------------------------------
def check_mail(url: str) -> Check:
    """The alerts' mail server answers, speaks STARTTLS (unless told not to) and, given an account,
    takes its login; nothing is sent."""
    import smtplib
    import ssl

    from assetmap.alerts import AlertError, MailServer

    fix = "check ASSETMAP_SMTP_URL (smtp://user:password@host:587, smtps://…:465) and that the server answers"
    try:
        mail = MailServer.of(url)
    except AlertError as exc:
        return Check("mail server", False, str(exc), fix)
    ctx = ssl.create_default_context()
    if not mail.verify:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    where = f"{mail.host}:{mail.port}"
    try:
        if mail.tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(mail.host, mail.port, timeout=TIMEOUT_S, context=ctx)
        else:
            server = smtplib.SMTP(mail.host, mail.port, timeout=TIMEOUT_S)
        with server:
            server.ehlo()
            if mail.tls == "starttls":
                server.starttls(context=ctx)
                server.ehlo()
            if mail.user:
                server.login(mail.user, mail.password)
    except (OSError, smtplib.SMTPException) as exc:
        return Check("mail server", False, f"{where}: {_why(exc)}", fix)
    return Check("mail server", True, f"{where}: answers{', STARTTLS' if mail.tls == 'starttls' else ''}"
                                      f"{', login taken' if mail.user else ''}")


def run(db: Path, api: str, pool: str | None, dashboard: str | None, home: Path,
        replica: bool = False) -> list[Check]:
    """Every part, in the order a deployment depends on them; on a ``replica`` machine (dashboards
    following the bucket) neither the store nor Prefect, which it never touches."""
    if replica:
        checks = [Check("store", None, "none here: this replica follows the bucket"),
                  Check("prefect", None, "not used by a replica")]
        if not settings.snapshot_url:
            checks[0] = Check("store", False, "a replica with no ASSETMAP_SNAPSHOT_URL has nothing to serve",
                              "set ASSETMAP_SNAPSHOT_URL=s3://bucket/prefix (as on the store machine)")
        return checks + _outside(dashboard, home)
    checks = [check_store(db)]
    prefect = check_prefect(api)
    checks.append(prefect)
    if prefect.ok:
        checks += [check_pipeline(api, pool), check_writer(api, db)]
    else:
        checks += [Check("pipeline", None, "not asked: the Prefect API does not answer"),
                   Check("writer limit", None, "not asked: the Prefect API does not answer")]
    return checks + _outside(dashboard, home)


def _outside(dashboard: str | None, home: Path) -> list[Check]:
    """The parts beyond the store and Prefect: bucket, identity provider, mail, dashboard, scripts."""
    checks = []
    checks.append(check_bucket(settings.snapshot_url) if settings.snapshot_url
                  else Check("bucket", None, "not used (ASSETMAP_SNAPSHOT_URL is not set)"))
    metadata = settings.oidc.get("metadata_url")
    checks.append(check_identity(metadata) if metadata
                  else Check("identity provider", None, "not used (ASSETMAP_OIDC_METADATA_URL is not set)"))
    checks.append(check_mail(settings.smtp_url) if settings.smtp_url
                  else Check("mail server", None, "not used (ASSETMAP_SMTP_URL is not set: no alert email goes)"))
    checks.append(check_dashboard(dashboard, home) if dashboard
                  else Check("dashboard", None, "not asked (--no-dashboard)"))
    checks.append(check_map_scripts())
    return checks


def _line(check: Check) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "--  "}[check.ok]
    fix = f"\n      -> {check.fix}" if check.ok is False and check.fix else ""
    return f"{mark}  {check.part:<18} {check.said}{fix}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="assetmap doctor",
                                 description="Check a deployment's parts from this machine, one line each.")
    ap.add_argument("--db", default=None, help="the store (default ASSETMAP_DB or the home's)")
    ap.add_argument("--api", default=None, help=f"the Prefect API (default PREFECT_API_URL, else {DEFAULT_API})")
    ap.add_argument("--pool", default=None, help="the work pool whose workers to look for (with `up --pool`)")
    ap.add_argument("--dashboard", default=DEFAULT_DASHBOARD,
                    help=f"the dashboard's address (default {DEFAULT_DASHBOARD})")
    ap.add_argument("--no-dashboard", action="store_true", help="this machine serves no dashboard")
    ap.add_argument("--replica", action="store_true",
                    help="this machine only serves dashboards from the bucket: no store, no Prefect here")
    ap.add_argument("--json", action="store_true", help="print the checks as JSON")
    args = ap.parse_args(argv)
    api = args.api or os.environ.get("PREFECT_API_URL") or DEFAULT_API
    db = Path(args.db or settings.db_path)
    checks = run(db, api, args.pool, None if args.no_dashboard else args.dashboard, Path(settings.home),
                 replica=args.replica)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for check in checks:
            print(_line(check))
        failed = [c.part for c in checks if c.ok is False]
        print(f"\n{len(failed)} part(s) need attention: {', '.join(failed)}" if failed
              else "\nevery part checked is fine")
    return 1 if any(c.ok is False for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
