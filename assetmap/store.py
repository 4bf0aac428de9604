"""The DuckDB store: one file on disk, schema by versioned migrations, spatial loaded by path.

Every geometry is stored in British National Grid (EPSG:27700). Writes happen inside
:meth:`Store.transaction`; an ingest is exactly one transaction, so a failure leaves the data
tables as they were.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from assetmap.errors import AssetmapError
from assetmap.settings import settings
from assetmap.vocab import CATEGORIES, INDEX_NAMES, LEVELS, PARENT_LEVELS, UNLISTED
from assetmap.vocab.units import sql_list

log = logging.getLogger(__name__)

#: Data tables whose rows an ingest adds or changes (the audit tables are listed apart).
DATA_TABLES = ("areas", "area_lookup", "population", "postcodes", "assets", "asset_versions", "partner_indices",
               "dispersal", "dispersal_unallocated", "population_estimates", "scorecard_indicators", "network_nodes",
               "network_edges",
               "network_info", "transit_stops", "transit_departures", "transit_info", "transit_links")
#: Derived by ``assetmap recompute``; never edited by hand.
RESULT_TABLES = ("unit_indices", "oa_inputs", "oa_access", "unit_access", "unit_need", "unit_gaps", "analysed_assets",
                 "unit_gaps_as_at", "unit_languages", "oa_ptal", "oa_ptal_routes", "unit_ptal")
AUDIT_TABLES = ("ingests", "quarantine", "repairs", "events", "submissions", "subscriptions", "deliveries")

# CHECK constraints read the vocabulary (fixed words, never input)
_CATEGORY_CHECK = sql_list(tuple(CATEGORIES))
_INDEX_CHECK = sql_list(INDEX_NAMES)
_LEVEL_CHECK = sql_list(LEVELS)
_PARENT_CHECK = sql_list(PARENT_LEVELS)

#: Versioned migrations. Append; never edit one that has shipped.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        f"""
        CREATE TABLE ingests (
            ingest_id        INTEGER PRIMARY KEY,
            path             VARCHAR NOT NULL,
            sha256           VARCHAR NOT NULL,
            kind             VARCHAR,
            options          VARCHAR,
            rows_read        INTEGER NOT NULL DEFAULT 0,
            rows_accepted    INTEGER NOT NULL DEFAULT 0,
            rows_quarantined INTEGER NOT NULL DEFAULT 0,
            started_at       TIMESTAMP NOT NULL,
            finished_at      TIMESTAMP,
            status           VARCHAR NOT NULL CHECK (status IN ('completed', 'refused')),
            message          VARCHAR,
            CHECK (rows_read = rows_accepted + rows_quarantined)
        );
        CREATE TABLE areas (
            code        VARCHAR PRIMARY KEY,
            name        VARCHAR,
            level       VARCHAR NOT NULL CHECK (level IN ({_LEVEL_CHECK})),
            parent_code VARCHAR,
            vintage     VARCHAR,
            geom        GEOMETRY NOT NULL,
            source      VARCHAR,
            ingest_id   INTEGER
        );
        CREATE TABLE area_lookup (
            area_code    VARCHAR NOT NULL,
            parent_level VARCHAR NOT NULL CHECK (parent_level IN ({_PARENT_CHECK})),
            parent_code  VARCHAR NOT NULL,
            method       VARCHAR NOT NULL CHECK (method IN ('file', 'best_fit')),
            ingest_id    INTEGER,
            PRIMARY KEY (area_code, parent_level)
        );
        CREATE TABLE population (
            area_code VARCHAR NOT NULL,
            variable  VARCHAR NOT NULL,
            category  VARCHAR NOT NULL,
            count     BIGINT NOT NULL CHECK (count >= 0),
            vintage   VARCHAR NOT NULL,
            source    VARCHAR,
            ingest_id INTEGER,
            PRIMARY KEY (area_code, variable, category, vintage)
        );
        CREATE TABLE postcodes (
            postcode  VARCHAR PRIMARY KEY,
            geom      GEOMETRY NOT NULL,
            ingest_id INTEGER
        );
        CREATE TABLE assets (
            asset_id         VARCHAR PRIMARY KEY,
            category         VARCHAR NOT NULL CHECK (category IN ({_CATEGORY_CHECK})),
            subtype          VARCHAR,
            name             VARCHAR NOT NULL,
            name_key         VARCHAR NOT NULL,
            address          VARCHAR,
            postcode         VARCHAR,
            geom             GEOMETRY NOT NULL,
            attrs            JSON,
            sensitive        BOOLEAN NOT NULL DEFAULT false,
            source           VARCHAR NOT NULL,
            source_record_id VARCHAR,
            licence          VARCHAR,
            observed_at      TIMESTAMP,
            ingest_id        INTEGER NOT NULL,
            oa_code          VARCHAR,
            ward_code        VARCHAR
        );
        CREATE TABLE quarantine (
            ingest_id   INTEGER NOT NULL REFERENCES ingests (ingest_id),
            row_number  INTEGER NOT NULL,
            raw         VARCHAR,
            reason_code VARCHAR NOT NULL,
            message     VARCHAR NOT NULL,
            PRIMARY KEY (ingest_id, row_number)
        );
        CREATE TABLE events (
            event_id    VARCHAR PRIMARY KEY,
            name        VARCHAR NOT NULL,
            payload     JSON,
            occurred_at TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        2,
        f"""
        -- Analysis results. ``unit_level`` is the level of the unit of analysis (ward by default;
        -- msoa or la where data comes without wards); ``ward_code`` holds that unit's code.
        CREATE TABLE ward_indices (
            unit_level   VARCHAR NOT NULL DEFAULT 'ward',
            ward_code    VARCHAR NOT NULL,
            focal_group  VARCHAR NOT NULL,
            index_name   VARCHAR NOT NULL CHECK (index_name IN ({_INDEX_CHECK})),
            value        DOUBLE,
            ci_low       DOUBLE,
            ci_high      DOUBLE,
            reliable     BOOLEAN NOT NULL,
            n_oas        INTEGER NOT NULL,
            computed_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (unit_level, ward_code, focal_group, index_name)
        );
        -- Indices published by partners, kept as a source of their own with provenance.
        CREATE TABLE partner_indices (
            source       VARCHAR NOT NULL,
            ward_code    VARCHAR NOT NULL,
            focal_group  VARCHAR NOT NULL,
            index_name   VARCHAR NOT NULL,
            value        DOUBLE NOT NULL,
            ci_low       DOUBLE,
            ci_high      DOUBLE,
            ingest_id    INTEGER NOT NULL REFERENCES ingests (ingest_id),
            PRIMARY KEY (source, ward_code, focal_group, index_name)
        );
        CREATE TABLE oa_access (
            oa_code           VARCHAR NOT NULL,
            category          VARCHAR NOT NULL,
            population        DOUBLE NOT NULL,
            demand            DOUBLE NOT NULL,
            nearest_m         DOUBLE,
            nearest_asset_id  VARCHAR,
            n_800             INTEGER NOT NULL,
            n_1600            INTEGER NOT NULL,
            e2sfca            DOUBLE NOT NULL,
            PRIMARY KEY (oa_code, category)
        );
        -- What the last full recompute took each OA to be: its point (point on surface, EPSG:27700),
        -- residents, and residents in demand of each category. Read back by incremental recomputes.
        CREATE TABLE oa_inputs (
            oa_code                  VARCHAR PRIMARY KEY,
            x                        DOUBLE NOT NULL,
            y                        DOUBLE NOT NULL,
            population               DOUBLE NOT NULL,
            demand_community_centre  DOUBLE NOT NULL,
            demand_place_of_worship  DOUBLE NOT NULL,
            demand_esol_provider     DOUBLE NOT NULL,
            demand_refugee_support   DOUBLE NOT NULL
        );
        CREATE TABLE ward_access (
            unit_level        VARCHAR NOT NULL,
            ward_code         VARCHAR NOT NULL,
            category          VARCHAR NOT NULL,
            population        DOUBLE NOT NULL,
            demand            DOUBLE NOT NULL,
            demand_basis      VARCHAR NOT NULL,
            nearest_m         DOUBLE,
            share_within_800  DOUBLE,
            share_within_1600 DOUBLE,
            mean_n_1600       DOUBLE,
            e2sfca            DOUBLE,
            assets_in_unit    INTEGER NOT NULL,
            capacity_in_unit  DOUBLE NOT NULL,
            computed_at       TIMESTAMP NOT NULL,
            PRIMARY KEY (unit_level, ward_code, category)
        );
        CREATE TABLE ward_need (
            unit_level   VARCHAR NOT NULL,
            ward_code    VARCHAR NOT NULL,
            component    VARCHAR NOT NULL,
            raw          DOUBLE,
            scaled       DOUBLE,
            computed_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (unit_level, ward_code, component)
        );
        CREATE TABLE ward_gaps (
            unit_level   VARCHAR NOT NULL,
            ward_code    VARCHAR NOT NULL,
            category     VARCHAR NOT NULL,
            need         DOUBLE NOT NULL,
            supply       DOUBLE NOT NULL,
            gap          DOUBLE NOT NULL,
            rank         INTEGER,
            components   JSON NOT NULL,
            flags        JSON,
            strengths    JSON,
            computed_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (unit_level, ward_code, category)
        );
        -- Home Office Asy_D11: asylum seekers in receipt of support by local authority.
        CREATE TABLE dispersal (
            la_code       VARCHAR NOT NULL,
            la_name       VARCHAR,
            support_type  VARCHAR NOT NULL,
            period        DATE NOT NULL,
            people        INTEGER NOT NULL CHECK (people >= 0),
            source        VARCHAR,
            ingest_id     INTEGER NOT NULL REFERENCES ingests (ingest_id),
            PRIMARY KEY (la_code, support_type, period)
        );
        """,
    ),
    (
        3,
        """
        -- Community submissions: pending until a moderator approves or rejects them. Pending rows
        -- never reach a published snapshot.
        CREATE TABLE submissions (
            submission_id  VARCHAR PRIMARY KEY,
            status         VARCHAR NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
            payload        JSON NOT NULL,
            source_path    VARCHAR,
            submitted_at   TIMESTAMP NOT NULL,
            decided_at     TIMESTAMP,
            reason         VARCHAR,
            asset_id       VARCHAR,
            CHECK ((status = 'pending') = (decided_at IS NULL)),
            CHECK (status <> 'rejected' OR reason IS NOT NULL)
        );
        """,
    ),
    (
        4,
        """
        -- Display geometry of the maps: each area simplified once per detail level (shared edges
        -- kept shared), in EPSG:4326 GeoJSON. ``basis`` fingerprints the areas it was made from,
        -- so it is remade only when the boundaries change (see assetmap.display).
        CREATE TABLE display_areas (
            level    VARCHAR NOT NULL,
            code     VARCHAR NOT NULL,
            detail   VARCHAR NOT NULL CHECK (detail IN ('overview', 'detail')),
            geojson  VARCHAR NOT NULL,
            basis    VARCHAR NOT NULL,
            PRIMARY KEY (level, code, detail)
        );
        """,
    ),
    (
        5,
        """
        -- Point-location index of the areas (see assetmap.geography): each level's polygons as
        -- native 2-D polygons (``area_parts``, one row per polygon of a multipolygon) and the
        -- cells of a regular grid each polygon touches (``area_cells``). Placing points is then a
        -- hash join on the cell key and an exact point-in-polygon test on a few candidates.
        -- ``basis`` fingerprints the areas it was built from, like display_areas.
        CREATE TABLE area_grid (
            level    VARCHAR PRIMARY KEY,
            cell_m   DOUBLE NOT NULL CHECK (cell_m > 0),
            x0       DOUBLE NOT NULL,
            y0       DOUBLE NOT NULL,
            x1       DOUBLE NOT NULL,
            y1       DOUBLE NOT NULL,
            parts    INTEGER NOT NULL,
            cells    BIGINT NOT NULL,
            basis    VARCHAR NOT NULL
        );
        CREATE TABLE area_parts (
            level    VARCHAR NOT NULL,
            part_id  INTEGER NOT NULL,
            code     VARCHAR NOT NULL,
            poly     POLYGON_2D NOT NULL,
            PRIMARY KEY (level, part_id)
        );
        CREATE TABLE area_cells (
            level    VARCHAR NOT NULL,
            cell     BIGINT NOT NULL,
            part_id  INTEGER NOT NULL
        );
        """,
    ),
    (
        6,
        """
        -- Asy_D11 as the Home Office publishes it: the UK region or nation of each authority,
        -- and suppressed cells kept as suppressed (people NULL), never as zero.
        CREATE TABLE dispersal_v6 (
            la_code       VARCHAR NOT NULL,
            la_name       VARCHAR,
            region        VARCHAR,
            support_type  VARCHAR NOT NULL,
            period        DATE NOT NULL,
            people        INTEGER CHECK (people >= 0),
            suppressed    BOOLEAN NOT NULL DEFAULT false,
            source        VARCHAR,
            ingest_id     INTEGER NOT NULL REFERENCES ingests (ingest_id),
            PRIMARY KEY (la_code, support_type, period),
            CHECK (suppressed = (people IS NULL))
        );
        INSERT INTO dispersal_v6 (la_code, la_name, support_type, period, people, source, ingest_id)
            SELECT la_code, la_name, support_type, period, people, source, ingest_id FROM dispersal;
        DROP TABLE dispersal;
        ALTER TABLE dispersal_v6 RENAME TO dispersal;
        -- Residents by area from a population estimate (ONS mid-year estimates), the
        -- denominator of per-10,000 figures where it is loaded.
        CREATE TABLE population_estimates (
            area_code   VARCHAR NOT NULL,
            area_name   VARCHAR,
            year        INTEGER NOT NULL,
            residents   BIGINT NOT NULL CHECK (residents >= 0),
            source      VARCHAR,
            ingest_id   INTEGER NOT NULL REFERENCES ingests (ingest_id),
            PRIMARY KEY (area_code, year)
        );
        """,
    ),
    (
        7,
        f"""
        -- The rules every read shares, kept here so that the CLI, the dashboard and the analysis
        -- cannot drift apart. Census: the latest vintage of each variable in each area.
        CREATE VIEW census_latest AS
            SELECT variable, area_code, category, count, vintage, source FROM population
            QUALIFY vintage = max(vintage) OVER (PARTITION BY variable, area_code);
        -- One variable's latest counts in the output areas under one unit (``lvl``, ``unit``),
        -- filtered before the latest-vintage window so a ward reads its own OAs only. Shares
        -- are of the residents whose category the table lists: the '{UNLISTED}' remainder
        -- (counted in a row's total but in no category column) is left out of both sides, as
        -- the gap's need components do.
        CREATE MACRO census_in(var, lvl, unit) AS TABLE
            SELECT p.area_code, p.category, p.count, p.vintage FROM population p
            WHERE p.variable = var AND p.category <> '{UNLISTED}'
              AND p.area_code IN (SELECT area_code FROM area_lookup
                                  WHERE parent_level = lvl AND parent_code = unit)
            QUALIFY p.vintage = max(p.vintage) OVER (PARTITION BY p.area_code);
        -- An asset's supply: its capacity where recorded, else 1.
        CREATE VIEW asset_supply AS
            SELECT asset_id, category, subtype, oa_code, ward_code, sensitive, geom,
                   coalesce(TRY_CAST(json_extract_string(attrs, '$.capacity') AS DOUBLE), 1.0) AS capacity
            FROM assets;
        -- What the public may see of a site: not a sensitive one (those are counted per ward).
        CREATE VIEW public_assets AS SELECT * FROM assets WHERE NOT sensitive;
        """,  # noqa: S608 (a vocabulary word)
    ),
    (
        8,
        """
        -- Names that say what they hold: the analysis tables hold units of any level (ward, MSOA,
        -- LSOA, LA), keyed by unit_code; so do a partner's published indices.
        ALTER TABLE ward_indices RENAME COLUMN ward_code TO unit_code;
        ALTER TABLE ward_indices RENAME TO unit_indices;
        ALTER TABLE ward_access RENAME COLUMN ward_code TO unit_code;
        ALTER TABLE ward_access RENAME TO unit_access;
        ALTER TABLE ward_need RENAME COLUMN ward_code TO unit_code;
        ALTER TABLE ward_need RENAME TO unit_need;
        ALTER TABLE ward_gaps RENAME COLUMN ward_code TO unit_code;
        ALTER TABLE ward_gaps RENAME TO unit_gaps;
        ALTER TABLE partner_indices RENAME COLUMN ward_code TO unit_code;
        """,
    ),
    (
        9,
        """
        -- The assets as the analysis last saw them: an incremental recompute compares them with
        -- the assets now, and so knows exactly which moved, opened, closed or changed capacity.
        CREATE TABLE analysed_assets (
            asset_id   VARCHAR PRIMARY KEY,
            category   VARCHAR NOT NULL,
            x          DOUBLE NOT NULL,
            y          DOUBLE NOT NULL,
            capacity   DOUBLE NOT NULL
        );
        """,
    ),
    (
        10,
        """
        -- Sensitive sites counted per ward, filled in each published snapshot (empty in the working
        -- store): all a public snapshot says about them, which holds none of their rows.
        -- ``in_reach`` counts those within the reach of the ward profile (settings.profile_reach_m).
        CREATE TABLE sensitive_site_counts (
            ward_code  VARCHAR NOT NULL,
            category   VARCHAR NOT NULL,
            in_ward    INTEGER NOT NULL,
            in_reach   INTEGER NOT NULL,
            PRIMARY KEY (ward_code, category)
        );
        -- What a snapshot is: its variant (public or partner) and id; empty in the working store.
        CREATE TABLE snapshot_info (
            key    VARCHAR PRIMARY KEY,
            value  VARCHAR NOT NULL
        );
        """,
    ),
    (
        11,
        """
        -- Every version of every asset: what it was from valid_from until valid_to (NULL: still
        -- so), the ingest that made it and the one that ended it. ``change`` is what began the
        -- version; a closed site has a last version with status 'closed' (and is gone from assets).
        CREATE TABLE asset_versions (
            asset_id          VARCHAR NOT NULL,
            version           INTEGER NOT NULL,
            change            VARCHAR NOT NULL CHECK (change IN ('opened', 'changed', 'moved', 'closed', 'reopened')),
            status            VARCHAR NOT NULL CHECK (status IN ('open', 'closed')),
            valid_from        TIMESTAMP NOT NULL,
            valid_to          TIMESTAMP,
            ingest_id         INTEGER,
            ended_by          INTEGER,
            category          VARCHAR NOT NULL,
            subtype           VARCHAR,
            name              VARCHAR NOT NULL,
            address           VARCHAR,
            postcode          VARCHAR,
            geom              GEOMETRY NOT NULL,
            attrs             JSON,
            sensitive         BOOLEAN NOT NULL,
            source            VARCHAR NOT NULL,
            source_record_id  VARCHAR,
            oa_code           VARCHAR,
            ward_code         VARCHAR,
            PRIMARY KEY (asset_id, version),
            CHECK (valid_to IS NULL OR valid_to >= valid_from)
        );
        -- the sites a store held before it kept history: opened when the ingest that brought them ran
        INSERT INTO asset_versions
            SELECT a.asset_id, 1, 'opened', 'open', coalesce(i.started_at, a.observed_at, current_timestamp::TIMESTAMP),
                   NULL, a.ingest_id, NULL, a.category, a.subtype, a.name, a.address, a.postcode, a.geom, a.attrs,
                   a.sensitive, a.source, a.source_record_id, a.oa_code, a.ward_code
            FROM assets a LEFT JOIN ingests i USING (ingest_id);
        -- The sites open at a moment, shaped as asset_supply: what a recompute "as at" a past date reads.
        CREATE MACRO assets_as_at(ts) AS TABLE
            SELECT asset_id, category, subtype, oa_code, ward_code, sensitive, geom,
                   coalesce(TRY_CAST(json_extract_string(attrs, '$.capacity') AS DOUBLE), 1.0) AS capacity
            FROM asset_versions
            WHERE status = 'open' AND valid_from <= ts AND (valid_to IS NULL OR valid_to > ts);
        -- Gaps computed as at a past date (``assetmap recompute --as-at``), beside today's unit_gaps.
        CREATE TABLE unit_gaps_as_at (
            as_at        TIMESTAMP NOT NULL,
            unit_level   VARCHAR NOT NULL,
            unit_code    VARCHAR NOT NULL,
            category     VARCHAR NOT NULL,
            need         DOUBLE NOT NULL,
            supply       DOUBLE NOT NULL,
            gap          DOUBLE NOT NULL,
            rank         INTEGER,
            assets       INTEGER NOT NULL,
            computed_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (as_at, unit_level, unit_code, category)
        );
        """,
    ),
    (
        12,
        """
        -- Race equality scorecard indicators (a local race disparity audit): per local authority,
        -- domain, indicator, group and year, the group's value beside its reference group's.
        CREATE TABLE scorecard_indicators (
            la_code          VARCHAR NOT NULL,
            domain           VARCHAR NOT NULL,
            indicator        VARCHAR NOT NULL,
            grp              VARCHAR NOT NULL,
            value            DOUBLE NOT NULL,
            reference_group  VARCHAR NOT NULL,
            reference_value  DOUBLE NOT NULL CHECK (reference_value > 0),
            year             INTEGER NOT NULL,
            source           VARCHAR NOT NULL,
            lower            DOUBLE,
            upper            DOUBLE,
            ingest_id        INTEGER NOT NULL,
            PRIMARY KEY (la_code, domain, indicator, grp, year)
        );
        """,
    ),
    (
        13,
        """
        -- Language match per unit: the residents of each main language other than English or Welsh
        -- (census main_language), and how many of them live within reach of an ESOL or
        -- refugee-support provider working in it. language_gap = 1 - covered / speakers.
        CREATE TABLE unit_languages (
            unit_level    VARCHAR NOT NULL,
            unit_code     VARCHAR NOT NULL,
            language      VARCHAR NOT NULL,
            speakers      DOUBLE NOT NULL,
            share         DOUBLE,
            covered       DOUBLE NOT NULL,
            language_gap  DOUBLE NOT NULL,
            providers     INTEGER NOT NULL,
            rank          INTEGER NOT NULL,
            basis         VARCHAR NOT NULL,
            computed_at   TIMESTAMP NOT NULL,
            PRIMARY KEY (unit_level, unit_code, language)
        );
        """,
    ),
    (
        14,
        """
        -- The walking network (assetmap.network): OSM nodes in EPSG:27700 and the walkable edges
        -- between consecutive nodes of a way: length to the millimetre; walk_m, the length as
        -- effort (steps count 1 / steps_speed_factor times their length), which the engine routes
        -- on; seconds, the walk at network_info.walk_speed_kmh. One network per store; a new
        -- network file replaces it. network_info says where it came from.
        CREATE TABLE network_nodes (
            node_id    BIGINT PRIMARY KEY,
            x          DOUBLE NOT NULL,
            y          DOUBLE NOT NULL
        );
        CREATE TABLE network_edges (
            from_node  BIGINT NOT NULL,
            to_node    BIGINT NOT NULL,
            length_m   DOUBLE NOT NULL CHECK (length_m >= 0),
            walk_m     DOUBLE NOT NULL CHECK (walk_m >= length_m),
            seconds    DOUBLE NOT NULL CHECK (seconds >= 0),
            highway    VARCHAR NOT NULL,
            way_id     BIGINT NOT NULL
        );
        CREATE TABLE network_info (
            ingest_id        INTEGER PRIMARY KEY,
            source           VARCHAR NOT NULL,
            sha256           VARCHAR NOT NULL,
            osm_timestamp    TIMESTAMP,
            walk_speed_kmh   DOUBLE NOT NULL,
            nodes            INTEGER NOT NULL,
            edges            INTEGER NOT NULL,
            dropped_nodes    INTEGER NOT NULL,
            dropped_islands  INTEGER NOT NULL,
            loaded_at        TIMESTAMP NOT NULL,
            -- the extract's own extent (its header's box, or an XML file's <bounds>), EPSG:27700:
            -- output areas outside it are beyond the network, however near a way the cut kept
            min_x            DOUBLE,
            min_y            DOUBLE,
            max_x            DOUBLE,
            max_y            DOUBLE
        );
        -- Which provider answered each access row: 'network' (on foot along the streets) or
        -- 'crow_flies' (straight lines, where no network is loaded). nearest_min is the walk in
        -- minutes at the network's speed; crow_m the straight line to the same nearest asset.
        ALTER TABLE oa_access ADD COLUMN access_mode VARCHAR DEFAULT 'crow_flies';
        ALTER TABLE oa_access ADD COLUMN nearest_min DOUBLE;
        ALTER TABLE oa_access ADD COLUMN crow_m DOUBLE;
        ALTER TABLE unit_access ADD COLUMN access_mode VARCHAR DEFAULT 'crow_flies';
        ALTER TABLE unit_access ADD COLUMN nearest_min DOUBLE;
        ALTER TABLE unit_access ADD COLUMN crow_m DOUBLE;
        """,
    ),
    (
        15,
        """
        -- Timetables (assetmap.transit): the stops of a GTFS feed in and around the study area,
        -- EPSG:27700, each with its mode ('bus', 'rail', 'metro', 'tram', 'ferry', from the
        -- routes calling there); and per stop, route and direction the departures in the PTAL
        -- morning peak (08:15-09:15) of one service date. One feed per store; a new feed
        -- replaces it. transit_info says where it came from and what it counted.
        CREATE TABLE transit_stops (
            stop_id     VARCHAR PRIMARY KEY,
            name        VARCHAR,
            mode        VARCHAR NOT NULL,
            x           DOUBLE NOT NULL,
            y           DOUBLE NOT NULL,
            departures  INTEGER NOT NULL   -- all departures of the service date
        );
        CREATE TABLE transit_departures (
            stop_id       VARCHAR NOT NULL,
            route_id      VARCHAR NOT NULL,
            route_name    VARCHAR,
            mode          VARCHAR NOT NULL,
            direction_id  INTEGER NOT NULL,  -- -1 where the feed gives none
            departures    INTEGER NOT NULL CHECK (departures > 0),
            PRIMARY KEY (stop_id, route_id, direction_id)
        );
        CREATE TABLE transit_info (
            ingest_id      INTEGER PRIMARY KEY,
            source         VARCHAR NOT NULL,
            sha256         VARCHAR NOT NULL,
            service_date   DATE NOT NULL,
            date_chosen    VARCHAR NOT NULL,   -- 'given' (--service-date) or 'busiest weekday'
            peak_start     VARCHAR NOT NULL,
            peak_end       VARCHAR NOT NULL,
            agencies       INTEGER NOT NULL,
            routes         INTEGER NOT NULL,
            trips          INTEGER NOT NULL,
            trips_on_date  INTEGER NOT NULL,
            stop_times     INTEGER NOT NULL,
            stops_in_feed  INTEGER NOT NULL,
            stops_kept     INTEGER NOT NULL,
            peak_calls     INTEGER NOT NULL,
            note           VARCHAR NOT NULL,
            loaded_at      TIMESTAMP NOT NULL
        );
        -- One bus (or train) from a stop to a later one, for the option that counts providers a
        -- short walk and one bus away on the supply side (settings.supply_by_bus): per route and
        -- pair of stops, the quickest ride among the peak's trips that call at both (ride_min,
        -- at most settings.bus_ride_max_min), and how many of them there are (departures).
        CREATE TABLE transit_links (
            route_id    VARCHAR NOT NULL,
            from_stop   VARCHAR NOT NULL,
            to_stop     VARCHAR NOT NULL,
            ride_min    DOUBLE NOT NULL CHECK (ride_min >= 0),
            departures  INTEGER NOT NULL CHECK (departures > 0),
            PRIMARY KEY (route_id, from_stop, to_stop)
        );
        -- Whether a unit's supply counted providers a short walk and one bus away (the option).
        ALTER TABLE unit_access ADD COLUMN supply_by_bus BOOLEAN DEFAULT false;
        -- PTAL (Transport for London's method) per output area: the access index and its band,
        -- how the walks to stops were measured ('network', 'crow_flies', or 'outside' the walking
        -- network: no figure), and each route's part in it (oa_ptal_routes: the route's nearest
        -- stop by total access time, the walk, its peak frequency and the weighted EDF it adds).
        CREATE TABLE oa_ptal (
            oa_code      VARCHAR PRIMARY KEY,
            ptal_ai      DOUBLE,
            ptal_band    VARCHAR,
            walk_mode    VARCHAR NOT NULL,
            routes       INTEGER NOT NULL,
            computed_at  TIMESTAMP NOT NULL
        );
        CREATE TABLE oa_ptal_routes (
            oa_code      VARCHAR NOT NULL,
            route_id     VARCHAR NOT NULL,
            route_name   VARCHAR,
            mode         VARCHAR NOT NULL,
            stop_id      VARCHAR NOT NULL,
            walk_m       DOUBLE NOT NULL,
            frequency    INTEGER NOT NULL,
            tat_min      DOUBLE NOT NULL,
            edf          DOUBLE NOT NULL,
            weight       DOUBLE NOT NULL,
            PRIMARY KEY (oa_code, route_id)
        );
        -- Units (every level the lookups give): the resident-weighted mean index of their OAs
        -- that have a figure, and the band of that mean.
        CREATE TABLE unit_ptal (
            unit_level   VARCHAR NOT NULL,
            unit_code    VARCHAR NOT NULL,
            ptal_ai      DOUBLE,
            ptal_band    VARCHAR,
            oas          INTEGER NOT NULL,
            residents    DOUBLE NOT NULL,
            computed_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (unit_level, unit_code)
        );
        """,
    ),
    (
        16,
        """
        -- What a reader changed in a row to store it, and why (a code that belonged to another
        -- authority than the row's name, repeated rows added up): shown on the provenance page.
        CREATE TABLE repairs (
            ingest_id   INTEGER NOT NULL REFERENCES ingests (ingest_id),
            row_number  INTEGER NOT NULL,
            field       VARCHAR NOT NULL,
            given       VARCHAR,
            stored      VARCHAR,
            reason      VARCHAR NOT NULL
        );
        -- Asy_D11: the release each figure came from (the latest date the file holds), so that a
        -- later release replaces an earlier one's figures for an authority and date, never adds.
        ALTER TABLE dispersal ADD COLUMN release DATE;
        -- Support a release publishes as not allocated to any authority under a label that says
        -- why ('N/A - Subsistence Only (Dec 2023 - Sep 2024)'): the series breaks.
        CREATE TABLE dispersal_unallocated (
            support_type  VARCHAR NOT NULL,
            period        DATE NOT NULL,
            label         VARCHAR NOT NULL,
            people        INTEGER,
            release       DATE,
            source        VARCHAR,
            ingest_id     INTEGER NOT NULL REFERENCES ingests (ingest_id),
            PRIMARY KEY (support_type, period, label)
        );
        """,
    ),
    (
        17,
        """
        -- Alerts (assetmap.alerts): who is told what, where; never in a snapshot of either variant.
        CREATE TABLE subscriptions (
            subscription_id   VARCHAR PRIMARY KEY,
            channel           VARCHAR NOT NULL CHECK (channel IN ('email', 'webhook')),
            address           VARCHAR NOT NULL,
            wards             VARCHAR[] NOT NULL,
            las               VARCHAR[] NOT NULL,
            region            VARCHAR,
            categories        VARCHAR[],
            triggers          VARCHAR[] NOT NULL,
            threshold         DOUBLE,
            mode              VARCHAR NOT NULL CHECK (mode IN ('immediate', 'daily')),
            role              VARCHAR NOT NULL CHECK (role IN ('public', 'partner')),
            status            VARCHAR NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed')),
            -- address, secret and token are sealed (Fernet) with the key beside the store
            -- (``<store>.alerts-key``), so no copy of the file, a snapshot's free pages included,
            -- gives them away; the token is found by its hash
            secret            VARCHAR NOT NULL,
            token             VARCHAR NOT NULL,
            token_hash        VARCHAR NOT NULL UNIQUE,
            address_hash      VARCHAR NOT NULL,  -- keyed hash: the same address asked twice is known
            made_by           VARCHAR NOT NULL,
            created_at        TIMESTAMP NOT NULL,
            confirmed_at      TIMESTAMP,
            ended_at          TIMESTAMP,
            baseline          JSON,
            baseline_snapshot VARCHAR,
            last_digest_at    TIMESTAMP
        );
        -- Each message once: (subscription, key) where the key is the snapshot, the digest or
        -- 'confirm'. Its text is fixed when it is planned, so a retry sends the same message.
        CREATE TABLE deliveries (
            subscription_id VARCHAR NOT NULL,
            key             VARCHAR NOT NULL,
            kind            VARCHAR NOT NULL CHECK (kind IN ('confirm', 'alert', 'digest')),
            snapshot_id     VARCHAR,
            subject         VARCHAR NOT NULL,
            body            VARCHAR NOT NULL,
            data            JSON,
            status          VARCHAR NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'given_up',
                                                               'interrupted', 'cancelled')),
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_at         TIMESTAMP NOT NULL,
            claimed_by      VARCHAR,
            claimed_at      TIMESTAMP,
            error           VARCHAR,
            created_at      TIMESTAMP NOT NULL,
            sent_at         TIMESTAMP,
            PRIMARY KEY (subscription_id, key)
        );
        """,
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
    """The first column of the first row of ``sql``, or None when it returns no row."""
    row = con.execute(sql, params or []).fetchone()
    return None if row is None else row[0]


class StoreError(AssetmapError, RuntimeError):
    """The store cannot be opened or is not in a state assetmap understands."""


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of the store (or snapshot) ``con`` reads; 0 for none."""
    if not scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"):
        return 0
    return int(scalar(con, "SELECT coalesce(max(version), 0) FROM schema_migrations") or 0)


def require_schema(con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str], snapshot: bool = False) -> None:
    """Refuse, naming the command that fixes it, a store or snapshot made by an older assetmap
    (a reader cannot migrate it: its tables and shared views are not what the queries read)."""
    version = schema_version(con)
    if 0 < version < SCHEMA_VERSION:
        fix = ("`assetmap publish` (with the store's --db) publishes a new one" if snapshot
               else f"`assetmap migrate --db {path}` brings it up to date")
        raise StoreError(f"{path} was written by an older assetmap (schema version {version}, this one reads "
                         f"{SCHEMA_VERSION}): {fix}")


def spatial_extension_path() -> Path:
    """Path of the DuckDB spatial extension shipped by the ``duckdb-extension-spatial`` wheel.

    ``INSTALL spatial`` downloads from the internet; loading the wheel's file by path does not.
    """
    import duckdb_extension_spatial

    base = Path(duckdb_extension_spatial.__file__).parent / "extensions"
    path = base / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    if not path.exists():
        found = sorted(base.glob("v*/spatial.duckdb_extension"))
        raise StoreError(
            f"spatial extension for duckdb {duckdb.__version__} not found under {base} "
            f"(found: {[str(p) for p in found]}); duckdb and duckdb-extension-spatial must match"
        )
    return path


class StoreBusy(StoreError):
    """Another process holds the store's write lock for longer than we were willing to wait."""


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


def connect(path: str | os.PathLike[str] | None, read_only: bool = False,
            wait_s: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with the spatial extension loaded.

    DuckDB lets one process at a time open a file for writing. When another holds it, wait up
    to ``wait_s`` seconds for it to let go (the pipeline's flows and the CLI take turns), then
    raise :class:`StoreBusy`.
    """
    target = ":memory:" if path is None else str(path)
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(target, read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise StoreBusy(f"{target} is in use by another process ({exc})") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    con.execute(f"LOAD '{spatial_extension_path()}'")
    con.execute("SET enable_progress_bar = false")  # no bars drawn over the CLI's and the logs' output
    return con


class Store:
    """The assetmap store.

    Parameters
    ----------
    path
        The DuckDB file; created (with its folder) when missing unless ``read_only``.
    read_only
        Open without taking the writer's lock (for readers of a published copy).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else settings.db_path
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"no store at {self.path}")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # a writer waits its turn; a reader never waits (readers belong on snapshots)
        self.con = connect(self.path, read_only=read_only, wait_s=0.0 if read_only else settings.lock_wait_s)
        if not read_only:
            self.migrate()
        else:
            try:
                require_schema(self.con, self.path)
            except StoreError:
                self.con.close()
                raise

    @classmethod
    def over(cls, con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str]) -> Store:
        """A read-only Store over an open connection (a snapshot's)."""
        store = cls.__new__(cls)
        store.path, store.read_only, store.con = Path(path), True, con
        return store

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return schema_version(self.con)

    def migrate(self) -> int:
        """Apply the migrations this store has not had; return the schema version."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
        )
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {current}, newer than this assetmap "
                f"({SCHEMA_VERSION}); upgrade assetmap"
            )
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])
            log.info("store %s migrated to schema version %d", self.path, version)
        return self.schema_version

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction: committed when the block ends, rolled back if it raises.

        What was queued with :meth:`on_commit` inside runs after the commit, in order; a rollback
        drops it.
        """
        self.con.execute("BEGIN TRANSACTION")
        self._pending: list[Callable[[], None]] | None = []
        try:
            yield self.con
        except BaseException:
            self._pending = None
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
            pending, self._pending = self._pending, None
            for callback in pending or []:
                callback()

    @property
    def in_transaction(self) -> bool:
        return getattr(self, "_pending", None) is not None

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the open transaction commits (now, when none is open)."""
        pending = getattr(self, "_pending", None)
        if pending is not None:
            pending.append(callback)
        else:
            callback()

    # -- queries -------------------------------------------------------------------------
    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return scalar(self.con, sql, params)

    def table_counts(self) -> dict[str, int]:
        names = [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()]
        # table names come from the catalogue, never from user input
        return {n: int(self.scalar(f'SELECT count(*) FROM "{n}"')) for n in names}  # noqa: S608

    def extent(self) -> list[float] | None:
        """[min_lon, min_lat, max_lon, max_lat] of the loaded wards (or other areas), or None."""
        row = self.con.execute(
            """
            WITH lvl AS (
                SELECT level FROM areas
                ORDER BY CASE level WHEN 'ward' THEN 0 WHEN 'la' THEN 1 WHEN 'msoa' THEN 2
                                    WHEN 'lsoa' THEN 3 ELSE 4 END LIMIT 1)
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
                SELECT ST_Extent_Agg(ST_Transform(ST_Envelope(geom), 'EPSG:27700', 'EPSG:4326',
                                                  always_xy := true)) AS e
                FROM areas WHERE level = (SELECT level FROM lvl))
            """
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return [round(float(v), 6) for v in row]

    def ingests(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT ingest_id, path, sha256, kind, status, rows_read, rows_accepted, "
            "rows_quarantined, started_at, finished_at, message FROM ingests ORDER BY ingest_id"
        )
        rows = self.con.execute(sql).fetchall()
        cols = [d[0] for d in self.con.description]
        out = [dict(zip(cols, r, strict=False)) for r in rows]
        for r in out:
            for key in ("started_at", "finished_at"):
                if r[key] is not None:
                    r[key] = r[key].isoformat()
        return out[-limit:] if limit else out

    def status(self) -> dict[str, Any]:
        """The store's status, the payload of ``assetmap status --json``."""
        return {
            "db": str(self.path),
            "tables": self.table_counts(),
            "ingests": self.ingests(),
            "schema_version": self.schema_version,
            "extent": self.extent(),
            "network": self.network(),
            "timetable": self.timetable(),
        }

    def _latest(self, table: str, columns: tuple[str, ...], since: int) -> dict[str, Any] | None:
        """The columns of ``table``'s row of the latest ingest (None before schema ``since``, or
        with no row). ``table`` and ``columns`` are fixed names of the callers below."""
        if self.schema_version < since:
            return None
        row = self.con.execute(f"SELECT {', '.join(columns)} FROM {table} "  # noqa: S608 (fixed names)
                               "ORDER BY ingest_id DESC LIMIT 1").fetchone()
        return None if row is None else dict(zip(columns, row, strict=True))

    def network(self) -> dict[str, Any] | None:
        """The walking network loaded (source, OSM date, nodes, edges, what was dropped), or None."""
        out = self._latest("network_info", ("source", "osm_timestamp", "nodes", "edges", "dropped_nodes",
                                            "dropped_islands", "walk_speed_kmh"), 14)
        if out is not None:
            out["osm_timestamp"] = out["osm_timestamp"].isoformat() if out["osm_timestamp"] else None
            # measured an authority at a time where there are several (assetmap.network.split)
            las = int(self.scalar("SELECT count(*) FROM areas WHERE level = 'la'") or 0)
            out["authorities"] = las if settings.network_split and las >= 2 else 1
            out["buffer_m"] = settings.network_buffer_m
        return out

    def timetable(self) -> dict[str, Any] | None:
        """The GTFS timetable loaded (source, service date and how it was chosen, routes, trips
        running that day, stops kept), or None."""
        out = self._latest("transit_info", ("source", "service_date", "date_chosen", "routes", "trips_on_date",
                                            "stops_kept"), 15)
        if out is not None:
            out["service_date"] = out["service_date"].isoformat()
        return out

    def next_ingest_id(self) -> int:
        return int(self.scalar("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests"))


def open_store(db: str | os.PathLike[str] | None = None, read_only: bool = False) -> Store:
    """Open the store at ``db`` (default: settings.db_path)."""
    return Store(db if db is not None else settings.db_path, read_only=read_only)
