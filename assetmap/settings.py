"""Configuration in one place.

Every tunable of the library lives here, with its default and the environment variable that
overrides it. Modules read ``settings.<name>``; tests may monkeypatch attributes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

#: British National Grid, in which every geometry is stored and every distance measured.
STORE_CRS = "EPSG:27700"
#: Longitude/latitude, used only for display and export.
DISPLAY_CRS = "EPSG:4326"
#: The largest longitude and latitude (degrees): a pair beyond them is not WGS84.
MAX_LON, MAX_LAT = 180.0, 90.0


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default



def _env_list(name: str, default: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in os.environ.get(name, default).split(",") if v.strip())


def _env_pairs(name: str) -> dict[str, str]:
    """``NAME="key=value;key=value"`` as a dict (keys folded to lower case)."""
    out: dict[str, str] = {}
    for part in os.environ.get(name, "").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() and value.strip():
            out[key.strip().casefold()] = value.strip()
    return out


#: Taxonomy terms of service directories (Open Referral UK's ``taxonomy_term`` names, as councils
#: and the NHS use them) that name one of assetmap's categories outright.
OPENREFERRAL_TERMS = {
    "esol": "esol_provider", "english for speakers of other languages": "esol_provider",
    "english for speakers of other languages (esol)": "esol_provider", "english language classes": "esol_provider",
    "english language courses": "esol_provider", "english language support": "esol_provider",
    "community centre": "community_centre", "community centres": "community_centre",
    "community hub": "community_centre", "community hall": "community_centre", "welcome space": "community_centre",
    "warm space": "community_centre", "warm spaces": "community_centre",
    "place of worship": "place_of_worship", "places of worship": "place_of_worship",
    "faith group": "place_of_worship", "faith groups": "place_of_worship",
    "refugee and asylum support": "refugee_support", "refugee and asylum seeker support": "refugee_support",
    "refugees and asylum seekers": "refugee_support", "asylum seekers": "refugee_support",
    "refugees": "refugee_support", "migrant support": "refugee_support",
}


def _default_db() -> Path:
    """``ASSETMAP_DB``, else ``assetmap.duckdb`` in ``ASSETMAP_HOME`` (default ``.assetmap``)."""
    env = os.environ.get("ASSETMAP_DB")
    return Path(env) if env else _env_path("ASSETMAP_HOME", ".assetmap") / "assetmap.duckdb"


def holder_variable(writer_limit: str) -> str:
    """Return the Prefect variable in which the holder of writer limit ``writer_limit`` names itself."""
    return "assetmap-writer-holder-" + hashlib.sha256(writer_limit.encode()).hexdigest()[:16]


@dataclass
class Settings:
    """Runtime settings of assetmap.

    Attributes
    ----------
    db_path
        The working DuckDB store (``ASSETMAP_DB``).
    home
        Folder for the store, snapshots and service state (``ASSETMAP_HOME``).
    duplicate_distance_m
        Two assets with the same normalised name closer than this are duplicates.
    uk_bounds
        (min_lon, min_lat, max_lon, max_lat) that a UK coordinate must fall in; used to catch
        swapped latitude/longitude and coordinates from elsewhere.
    bng_bounds
        (min_e, min_n, max_e, max_n) of valid British National Grid coordinates.
    lock_wait_s
        How long a writer waits for another process to let go of the working store.
    snapshot_dir
        Where published snapshots go (``ASSETMAP_SNAPSHOTS``; default ``snapshots/`` beside the
        store).
    keep_snapshots
        Published snapshots kept (the newest; the dashboard compares "now" with "before").
    min_oas, min_focal
        A unit with fewer OAs, or fewer residents of the focal group, gets ``reliable = false``
        on its segregation indices.
    catchments_m
        Walking catchments (metres) in which assets are counted: 800 m is about 10 minutes'
        walk, 1,600 m about 20.
    e2sfca_bands
        Distance-decay step weights of the E2SFCA score: upper bound of each band (metres) ->
        weight. The weights 1, 0.68, 0.22 are Luo and Qi's (2009) Gaussian zone weights.
    demand
        Category -> (census variable, categories, exclude). The residents who need that kind
        of asset: for ESOL, those who cannot speak English well or at all; for refugee
        support, those born outside the UK (every category except ``uk``); for centres and
        places of worship, every resident. Where the variable is not loaded, every resident.
    provision_target
        Supply per person in demand that counts as fully provided (ESOL: 5 class places per
        100 residents with little English). The capacity component of supply is the
        accessible supply over this target, capped at 1. Set these to local standards.
    need_weights
        Category -> need component -> weight. Components: ``esol_need`` (share who cannot
        speak English well or at all), ``born_abroad`` (share born outside the UK),
        ``diversity`` (normalised entropy), ``segregation`` (Theil's H across the unit's OAs),
        each scaled to its percentile among the units. Components whose data is not loaded
        are left out and the remaining weights rescaled to sum to 1.
    supply_weights
        Weights of the two supply components: ``capacity`` (E2SFCA over the target) and
        ``reach`` (share of the demand within the first walking catchment).
    walk_speed_kmh
        Walking speed on the network (``ASSETMAP_WALK_SPEED_KMH``; 4.8 km/h, the DfT's journey
        time statistics' assumption): 800 m is 10 minutes' walk, 1,600 m 20. On the network the
        catchments and E2SFCA bands above are walking times at this speed (their metres over the
        speed), so ``n_800`` counts the providers within 10 minutes' walk.
    steps_speed_factor
        Walking speed on steps as a share of ``walk_speed_kmh`` (steps are slower).
    network_snap_m
        How far an asset may lie from the walking network (its nearest node) and still be
        reached along it; an asset farther away is left out of network access and reported,
        never snapped across a river.
    network_oa_snap_m
        How far an output area's point may lie from the network: an OA farther away is outside
        the network's extent and gets no walking distance (reported as such).
    network_split, network_buffer_m
        Where the output areas lie in more than one local authority, each authority is measured
        on its own part of the network: its extent plus ``network_buffer_m`` (2 km; people cross
        borders), routed by an engine of its own, which the pipeline hands to the work pool
        (``ASSETMAP_NETWORK_SPLIT=0`` routes the whole network as one;
        ``ASSETMAP_NETWORK_BUFFER_M``). Every walk up to the buffer is exact, so every catchment
        and E2SFCA band is; see :mod:`assetmap.network.split`.
    network_part_start_s, network_part_timeout_s, network_part_runs
        A full recompute in the pipeline hands the authorities' walks to the work pool, in
        ``network_part_runs`` runs of about equal work (0, the default: two per online worker);
        a run no worker has started within ``network_part_start_s`` (60 s), or not finished
        within ``network_part_timeout_s`` (30 minutes), is routed by the recompute itself.
    transit_buffer_m
        How far beyond the loaded boundaries a timetable's stops are kept (more than the 960 m
        a PTAL walks to a station, so that an edge output area sees the stops across its edge).
    supply_by_bus, bus_walk_m, bus_ride_max_min
        The option (``ASSETMAP_SUPPLY_BY_BUS=1`` or ``recompute --supply-by-bus``; off by default)
        that counts, on the supply side of every catchment (providers within 800 m and 1,600 m,
        E2SFCA, so the gaps, the language match and the suggested sites), the providers a short
        walk (at most ``bus_walk_m`` each end), a wait (half the interval between the route's
        morning-peak buses) and one ride (at most ``bus_ride_max_min``) away, the journey's
        minutes counted as walking metres at ``walk_speed_kmh`` (20 minutes is 1,600 m).
    site_radius_m
        Service radius of a suggested site in the maximal covering location problem.
    bootstrap_reps, bootstrap_max_units
        Bootstrap replicates for the confidence intervals of D that the pipeline's full
        recomputes compute (``ASSETMAP_BOOTSTRAP``; 0 for none), when there are at most
        ``bootstrap_max_units`` units (a city: about 2 s; a national run goes without).
    display_tolerance_m
        Simplification tolerance (metres) of the display geometry of each detail level:
        ``overview`` for maps of many wards (national), ``detail`` for a city. Simplified once,
        when a snapshot is published, with shared edges kept shared (coverage simplification).
    map_detail_max_wards
        Maps showing more wards than this use the ``overview`` geometry.
    map_max_markers
        At most this many assets are drawn as markers; beyond it, only those in the current view
        are, and none until the map has reported its view (a national map starts without markers).
    dashboard_mode
        ``public`` (default): sensitive assets (refugee support venues, women-only spaces) are
        shown only as counts per ward, never as points, in pages, popups or exports.
        ``partner``: exact locations shown, for a partnership's own deployment
        (``ASSETMAP_MODE``).
    moderator_secret
        The shared secret that opens the dashboard's moderation page
        (``ASSETMAP_MODERATOR_SECRET``; unset: moderation is closed in the dashboard, the CLI's
        ``approve``/``reject`` still work).
    confine
        ``auto`` (default), ``on`` or ``off`` (``ASSETMAP_CONFINE``): a dashboard replica that
        serves the public only (public mode, no logins, no moderators' secret) confines its own
        process with Linux's Landlock to the public snapshots, so it cannot open the working store
        or the partner snapshots whatever a page does (:mod:`assetmap.confine`). ``auto`` does so
        where the kernel can and says so in the log where it cannot; ``on`` refuses to serve
        without it; ``off`` never confines.
    profile_reach_m
        How far around a ward its profile and brief list assets (and count sensitive ones).
    scorecard_min_population
        A race equality scorecard's group with fewer residents than this in the local authority
        (from the census) is flagged as unreliable: a rate over few people swings widely.
    roles_claim
        The OIDC claim that carries a signed-in user's groups (``ASSETMAP_ROLES_CLAIM``, default
        ``groups``; a list, or a string of names separated by commas or spaces).
    partner_groups, moderator_groups
        Groups (from ``roles_claim``) whose members get the ``partner`` role (exact locations
        of sensitive sites) or the ``moderator`` role (also approve and reject submissions)
        (``ASSETMAP_PARTNER_GROUPS``, ``ASSETMAP_MODERATOR_GROUPS``: comma-separated names).
    oidc
        The identity provider for ``st.login``: ``ASSETMAP_OIDC_METADATA_URL`` (the provider's
        ``/.well-known/openid-configuration``), ``ASSETMAP_OIDC_CLIENT_ID``,
        ``ASSETMAP_OIDC_CLIENT_SECRET``, ``ASSETMAP_OIDC_REDIRECT_URI`` (the dashboard's
        ``…/oauth2callback`` as the browser sees it) and ``ASSETMAP_OIDC_COOKIE_SECRET`` (the
        same on every replica). With the metadata URL set, logins are on: no login is public,
        and the moderators' shared secret is refused.
    snapshot_url
        ``s3://bucket/prefix`` (``ASSETMAP_SNAPSHOT_URL``): ``publish`` uploads each snapshot
        there, then its ``LATEST`` pointer; a machine without the working store (a dashboard
        replica elsewhere) follows ``LATEST`` there, downloading each new snapshot once into
        ``<home>/snapshot-cache``. Endpoint and keys come from the usual ``AWS_*`` variables
        (``AWS_ENDPOINT_URL`` for an S3-compatible store).
    snapshot_poll_s
        How often a follower asks the bucket whether ``LATEST`` has moved.
    store_name
        The name of the working store across machines (``ASSETMAP_STORE_NAME``; default: the
        file's name and a hash of its absolute path). Flows that write the store hold the
        Prefect global concurrency limit ``assetmap-writer:<store_name>`` (limit 1), so two
        workers, on any machines, never write it at once.
    bucket_timeout_s
        How long one request to the snapshots' bucket may wait for an answer
        (``ASSETMAP_BUCKET_TIMEOUT_S``, default 15 s; three attempts with back-off), so a bucket
        that hangs fails loudly, naming the endpoint, instead of being waited on.
    writer_lease_s, writer_wait_s
        The writer limit's lease (``ASSETMAP_WRITER_LEASE_S``, default 60 s, the shortest the
        Prefect server accepts), renewed by the holder while it writes, so a holder that was
        killed frees the store within about that long plus the server's 5 s sweep (instead of
        Prefect's default 300 s); and how long a run waits for it
        (``ASSETMAP_WRITER_WAIT_S``, default 1800 s) before it fails naming the runs that held it.
    heartbeat_s, unresponsive_after_s, run_retries
        A flow run says it is alive every ``heartbeat_s`` (``ASSETMAP_HEARTBEAT_S``, default 30 s,
        the most often Prefect sends flow run heartbeats); one silent for
        ``unresponsive_after_s`` (``ASSETMAP_UNRESPONSIVE_AFTER_S``, default 40 s) lost its
        process or its machine, and the server marks it Crashed; a crashed run is scheduled
        again for a live worker, up to ``run_retries`` times (``ASSETMAP_RUN_RETRIES``, default 2).
    tile_url, tile_attribution
        Basemap tiles (``ASSETMAP_TILE_URL``, ``ASSETMAP_TILE_ATTRIBUTION``). Unset by default:
        the maps need no internet and show ward outlines on a plain background.
    max_file_mb
        Kind of file -> the largest file (MB, as stored) that is read; a larger one is refused
        as ``too_large`` before it is read. The defaults fit the national files as ONS, Nomis
        and the Home Office publish them (every OA boundary of England and Wales at full
        resolution is about 1.5 GB as GeoJSON; the national postcode directory about 1.3 GB);
        ``submission`` is one community submission. A file in the inbox is read only up to the
        largest of these before its kind is known.
    max_unpacked_mb
        The most a gzip file may unpack to (a small file must not fill memory).
    max_json_depth
        Kind -> how deeply the arrays and objects of a JSON file may nest (``files``: any JSON
        file; GeoJSON needs about 8, Open Referral UK about 10; ``submission``: a flat object
        whose values may be lists). Checked before parsing, so nothing recurses into a hostile
        file.
    submission_max_chars
        The longest text any one field of a community submission may hold.
    fetch_urls
        Base URLs of the services ``assetmap fetch`` asks (``ASSETMAP_ONS_URL``,
        ``ASSETMAP_NOMIS_URL``, ``ASSETMAP_OVERPASS_URL``, ``ASSETMAP_BODS_URL``): the ONS Open Geography Portal's
        ArcGIS REST services, the Nomis API and the Overpass API. Set them for a mirror.
    bods_api_key
        The Bus Open Data Service's API key (``ASSETMAP_BODS_API_KEY``), sent with
        ``assetmap fetch --gtfs`` requests to its host; never logged.
    openreferral_terms
        Taxonomy terms (any case) that put a service directory's service in one of assetmap's
        categories: :data:`OPENREFERRAL_TERMS`, extended or overridden by
        ``ASSETMAP_OPENREFERRAL_TERMS="Language cafe=esol_provider;Sanctuary=refugee_support"``. A
        service no term places is placed by its terms', name's and description's words
        (:mod:`assetmap.sources.openreferral`), or quarantined.
    fetch_retries, fetch_backoff_s, fetch_timeout_s
        Attempts after the first on 429, 5xx or a truncated answer; the first wait (doubled each
        time, unless the service says ``Retry-After``); how long one request may take.
    smtp_url, mail_from, public_url
        Where alerts' email goes out (``ASSETMAP_SMTP_URL``: ``smtp://[user:password@]host[:port]``,
        STARTTLS unless ``?tls=none``; ``smtps://`` for TLS from the start; ``?verify=no`` for a
        self-signed test server), whom it is from (``ASSETMAP_MAIL_FROM``) and the dashboard's
        address as its readers reach it, for links (``ASSETMAP_PUBLIC_URL``).
    alert_tries, alert_backoff_s, alert_timeout_s, digest_hours
        Attempts at one message before it is given up and recorded; the first wait after a failed
        attempt (doubled each time); how long one attempt may take; the period of a digest.
    """

    home: Path = field(default_factory=lambda: _env_path("ASSETMAP_HOME", ".assetmap"))
    db_path: Path = field(default_factory=lambda: _default_db())
    duplicate_distance_m: float = field(
        default_factory=lambda: _env_float("ASSETMAP_DUPLICATE_DISTANCE_M", 25.0)
    )
    uk_bounds: tuple[float, float, float, float] = (-8.75, 49.8, 1.85, 60.95)
    bng_bounds: tuple[float, float, float, float] = (0.0, 0.0, 700_000.0, 1_300_000.0)
    lock_wait_s: float = field(default_factory=lambda: _env_float("ASSETMAP_LOCK_WAIT_S", 120.0))
    keep_snapshots: int = field(default_factory=lambda: int(_env_float("ASSETMAP_KEEP_SNAPSHOTS", 5)))
    # -- analysis ---------------------------------------------------------------------------
    min_oas: int = 5
    min_focal: float = 50.0
    catchments_m: tuple[float, float] = (800.0, 1600.0)
    e2sfca_bands: dict[float, float] = field(
        default_factory=lambda: {500.0: 1.0, 1000.0: 0.68, 1600.0: 0.22})
    demand: dict[str, tuple[str, tuple[str, ...], bool]] = field(default_factory=lambda: {
        "esol_provider": ("english_proficiency", ("not_well", "cannot"), False),
        "refugee_support": ("country_of_birth", ("uk", "unlisted"), True),
        "community_centre": ("ethnic_group", (), True),
        "place_of_worship": ("ethnic_group", (), True),
    })
    provision_target: dict[str, float] = field(default_factory=lambda: {
        "esol_provider": 0.05, "refugee_support": 0.0005,
        "community_centre": 0.0002, "place_of_worship": 0.0005,
    })
    need_weights: dict[str, dict[str, float]] = field(default_factory=lambda: {
        "esol_provider": {"esol_need": 0.6, "born_abroad": 0.2, "diversity": 0.1, "segregation": 0.1},
        "refugee_support": {"born_abroad": 0.5, "esol_need": 0.3, "diversity": 0.1, "segregation": 0.1},
        "community_centre": {"segregation": 0.4, "diversity": 0.3, "esol_need": 0.15, "born_abroad": 0.15},
        "place_of_worship": {"diversity": 0.5, "born_abroad": 0.3, "segregation": 0.2},
    })
    supply_weights: dict[str, float] = field(default_factory=lambda: {"capacity": 0.5, "reach": 0.5})
    site_radius_m: float = 800.0
    walk_speed_kmh: float = field(default_factory=lambda: _env_float("ASSETMAP_WALK_SPEED_KMH", 4.8))
    steps_speed_factor: float = 0.5
    network_snap_m: float = 200.0
    network_oa_snap_m: float = 500.0
    network_split: bool = field(default_factory=lambda: os.environ.get("ASSETMAP_NETWORK_SPLIT", "1").lower()
                                not in ("0", "false", "no", "off"))
    network_buffer_m: float = field(default_factory=lambda: _env_float("ASSETMAP_NETWORK_BUFFER_M", 2000.0))
    network_part_start_s: float = field(default_factory=lambda: _env_float("ASSETMAP_NETWORK_PART_START_S", 60.0))
    network_part_timeout_s: float = field(
        default_factory=lambda: _env_float("ASSETMAP_NETWORK_PART_TIMEOUT_S", 1800.0))
    network_part_runs: int = field(default_factory=lambda: int(_env_float("ASSETMAP_NETWORK_PART_RUNS", 0)))
    transit_buffer_m: float = 1000.0
    supply_by_bus: bool = field(default_factory=lambda: os.environ.get("ASSETMAP_SUPPLY_BY_BUS", "").lower()
                                in ("1", "true", "yes", "on"))
    bus_walk_m: float = 400.0
    bus_ride_max_min: float = 30.0
    bootstrap_reps: int = field(default_factory=lambda: int(_env_float("ASSETMAP_BOOTSTRAP", 199)))
    bootstrap_max_units: int = 2000
    # -- dashboard --------------------------------------------------------------------------
    display_tolerance_m: dict[str, float] = field(default_factory=lambda: {"overview": 120.0, "detail": 8.0})
    map_detail_max_wards: int = 1500
    map_max_markers: int = 5000
    dashboard_mode: str = field(default_factory=lambda: os.environ.get("ASSETMAP_MODE", "public"))
    moderator_secret: str = field(default_factory=lambda: os.environ.get("ASSETMAP_MODERATOR_SECRET", ""))
    confine: str = field(default_factory=lambda: os.environ.get("ASSETMAP_CONFINE", "auto").strip().lower())
    profile_reach_m: float = 1600.0
    scorecard_min_population: int = 1000
    # -- logins and roles (OIDC through st.login) ----------------------------------------------
    roles_claim: str = field(default_factory=lambda: os.environ.get("ASSETMAP_ROLES_CLAIM", "groups"))
    partner_groups: tuple[str, ...] = field(
        default_factory=lambda: _env_list("ASSETMAP_PARTNER_GROUPS", "partner"))
    moderator_groups: tuple[str, ...] = field(
        default_factory=lambda: _env_list("ASSETMAP_MODERATOR_GROUPS", "moderator"))
    oidc: dict[str, str] = field(default_factory=lambda: {
        key: os.environ.get(f"ASSETMAP_OIDC_{key.upper()}", "")
        for key in ("metadata_url", "client_id", "client_secret", "redirect_uri", "cookie_secret")})
    # -- sharing across machines ------------------------------------------------------------
    snapshot_url: str = field(default_factory=lambda: os.environ.get("ASSETMAP_SNAPSHOT_URL", ""))
    snapshot_poll_s: float = field(default_factory=lambda: _env_float("ASSETMAP_SNAPSHOT_POLL_S", 1.0))
    store_name: str = field(default_factory=lambda: os.environ.get("ASSETMAP_STORE_NAME", ""))
    bucket_timeout_s: float = field(default_factory=lambda: _env_float("ASSETMAP_BUCKET_TIMEOUT_S", 15.0))
    writer_lease_s: float = field(default_factory=lambda: max(60.0, _env_float("ASSETMAP_WRITER_LEASE_S", 60.0)))
    writer_wait_s: float = field(default_factory=lambda: _env_float("ASSETMAP_WRITER_WAIT_S", 1800.0))
    heartbeat_s: int = field(default_factory=lambda: max(30, int(_env_float("ASSETMAP_HEARTBEAT_S", 30.0))))
    unresponsive_after_s: float = field(
        default_factory=lambda: _env_float("ASSETMAP_UNRESPONSIVE_AFTER_S", 40.0))
    run_retries: int = field(default_factory=lambda: int(_env_float("ASSETMAP_RUN_RETRIES", 2.0)))
    tile_url: str = field(default_factory=lambda: os.environ.get("ASSETMAP_TILE_URL", ""))
    tile_attribution: str = field(default_factory=lambda: os.environ.get("ASSETMAP_TILE_ATTRIBUTION", ""))
    # -- limits on what is read (the inbox is a trust boundary) ------------------------------
    max_file_mb: dict[str, float] = field(default_factory=lambda: {
        "boundaries": 4096.0, "census": 2048.0, "postcodes": 2048.0, "lookup": 1024.0,
        "providers": 512.0, "mapped": 512.0, "osm": 1024.0, "network": 2048.0, "openreferral": 512.0,
        "dispersal": 256.0, "indices": 256.0, "submission": 0.25,
    })
    max_unpacked_mb: float = field(default_factory=lambda: _env_float("ASSETMAP_MAX_UNPACKED_MB", 8192.0))
    max_json_depth: dict[str, int] = field(default_factory=lambda: {"files": 64, "submission": 4})
    submission_max_chars: int = 2000
    # -- fetching open data -----------------------------------------------------------------
    fetch_urls: dict[str, str] = field(default_factory=lambda: {
        "ons": os.environ.get("ASSETMAP_ONS_URL",
                              "https://services1.arcgis.com/ESMARspQHYMw9BZ9/arcgis/rest/services"),
        "nomis": os.environ.get("ASSETMAP_NOMIS_URL", "https://www.nomisweb.co.uk/api/v01"),
        "bods": os.environ.get("ASSETMAP_BODS_URL", "https://data.bus-data.dft.gov.uk"),
        "overpass": os.environ.get("ASSETMAP_OVERPASS_URL", "https://overpass-api.de/api/interpreter"),
    })
    bods_api_key: str = field(default_factory=lambda: os.environ.get("ASSETMAP_BODS_API_KEY", ""))
    openreferral_terms: dict[str, str] = field(default_factory=lambda: {
        **OPENREFERRAL_TERMS, **_env_pairs("ASSETMAP_OPENREFERRAL_TERMS")})
    fetch_retries: int = 4
    fetch_backoff_s: float = 2.0
    fetch_timeout_s: float = 120.0
    # -- alerts -------------------------------------------------------------------------------
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("ASSETMAP_SMTP_URL") or None)
    mail_from: str = field(default_factory=lambda: os.environ.get("ASSETMAP_MAIL_FROM", "assetmap@localhost"))
    public_url: str = field(default_factory=lambda: os.environ.get("ASSETMAP_PUBLIC_URL",
                                                                   "http://127.0.0.1:8501").rstrip("/"))
    alert_tries: int = field(default_factory=lambda: int(_env_float("ASSETMAP_ALERT_TRIES", 8)))
    alert_backoff_s: float = field(default_factory=lambda: _env_float("ASSETMAP_ALERT_BACKOFF_S", 30.0))
    alert_timeout_s: float = field(default_factory=lambda: _env_float("ASSETMAP_ALERT_TIMEOUT_S", 10.0))
    digest_hours: float = field(default_factory=lambda: _env_float("ASSETMAP_DIGEST_HOURS", 24.0))
    demo_dir: Path = field(default_factory=lambda: _env_path("ASSETMAP_DEMO_DIR", "geodata/demo"))
    inbox_dir: Path = field(default_factory=lambda: _env_path("ASSETMAP_INBOX", "geodata/inbox"))

    snapshot_dir: Path | None = None

    def max_bytes(self, kind: str) -> int:
        """Return the largest file of ``kind`` that is read, in bytes.

        Return the largest file of ``kind`` that is read (``max(...)`` over the kinds for a file whose kind is
        not known yet).
        """
        mb = self.max_file_mb.get(kind, max(self.max_file_mb.values()))
        return int(mb * 1024 * 1024)

    @property
    def max_unpacked_bytes(self) -> int:
        """The most an archive may unpack to, in bytes."""
        return int(self.max_unpacked_mb * 1024 * 1024)

    @property
    def walk_m_per_min(self) -> float:
        """Metres walked in a minute at ``walk_speed_kmh``."""
        return self.walk_speed_kmh * 1000.0 / 60.0

    @property
    def login_enabled(self) -> bool:
        """Whether the dashboard signs users in through an identity provider (``st.login``)."""
        return bool(self.oidc.get("metadata_url"))

    def writer_limit(self, db_path: str | os.PathLike[str] | None = None) -> str:
        """Return the Prefect global concurrency limit that serialises writes to the store at ``db_path``."""
        if self.store_name:
            name = self.store_name
        else:
            path = Path(db_path or self.db_path).resolve()
            name = f"{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"  # noqa: S324 (a name)
        return f"assetmap-writer:{name}"

    def writer_holder_variable(self, db_path: str | os.PathLike[str] | None = None) -> str:
        """Return the Prefect variable in which the holder of the store's writer limit names itself.

        Return the Prefect variable in which the holder of the store's writer limit names itself (variable names
        allow lower-case letters, digits, ``-`` and ``_`` only).
        """
        return holder_variable(self.writer_limit(db_path))

    def __post_init__(self) -> None:
        """Refuse settings out of range, naming the environment variable."""
        if self.dashboard_mode not in ("public", "partner"):
            msg = f"ASSETMAP_MODE must be public or partner, not {self.dashboard_mode!r}"
            raise ValueError(msg)
        if self.confine not in ("auto", "on", "off"):
            msg = f"ASSETMAP_CONFINE must be auto, on or off, not {self.confine!r}"
            raise ValueError(msg)
        if not self.walk_speed_kmh > 0:
            msg = f"ASSETMAP_WALK_SPEED_KMH must be a positive speed, not {self.walk_speed_kmh!r}"
            raise ValueError(msg)
        if self.snapshot_url and not self.snapshot_url.startswith("s3://"):
            msg = f"ASSETMAP_SNAPSHOT_URL must be s3://bucket/prefix, not {self.snapshot_url!r}"
            raise ValueError(msg)
        if self.snapshot_dir is None and os.environ.get("ASSETMAP_SNAPSHOTS"):
            self.snapshot_dir = Path(os.environ["ASSETMAP_SNAPSHOTS"])


settings = Settings()
