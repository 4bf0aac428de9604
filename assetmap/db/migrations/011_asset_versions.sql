-- assetmap schema version 11: applied in one transaction; never edit once shipped
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
