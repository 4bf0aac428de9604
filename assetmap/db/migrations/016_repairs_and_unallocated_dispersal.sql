-- assetmap schema version 16: applied in one transaction; never edit once shipped
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
