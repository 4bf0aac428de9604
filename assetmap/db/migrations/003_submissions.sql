-- assetmap schema version 3: applied in one transaction; never edit once shipped
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
