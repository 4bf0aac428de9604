-- assetmap schema version 6: applied in one transaction; never edit once shipped
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
