-- assetmap schema version 17: applied in one transaction; never edit once shipped
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
