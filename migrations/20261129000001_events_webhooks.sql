-- Event collection, the Events API and webhooks.
--
-- An application collects events when `events_grant_enabled` is on ("Collect Events").
-- Each of its accounts then has one `event_feeds` row with a due time; the scheduler
-- claims due rows and enqueues one collection job per account. Triggers keep the rows in
-- step with applications and accounts, whatever code path creates them.

CREATE TABLE event_feeds (
    account_id       BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    -- When the scheduler next enqueues a collection.
    next_collect_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A worker is collecting until then (a crashed worker's lease runs out).
    lease_until      TIMESTAMPTZ,
    -- The service's change-feed position; NULL for snapshot-diff services.
    cursor           TEXT,
    -- The first collection records what exists without reporting it as events.
    seeded           BOOLEAN NOT NULL DEFAULT FALSE,
    last_collected_at TIMESTAMPTZ,
    last_error       TEXT,
    failures         INTEGER NOT NULL DEFAULT 0,
    -- Highest event id of this account removed by retention: older cursors have expired.
    purged_through   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX event_feeds_due_idx ON event_feeds (next_collect_at);

-- What a collection last saw of each item, to tell adds from updates, renames and moves.
-- `key` is the service's own id where it has one, else the path.
CREATE TABLE feed_items (
    account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    path        TEXT NOT NULL,
    parent      TEXT NOT NULL,
    folder      BOOLEAN NOT NULL,
    version     TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX feed_items_parent_idx ON feed_items (account_id, parent);
CREATE INDEX feed_items_path_idx ON feed_items (account_id, path text_pattern_ops);

CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    -- The item as a connector reported it (shared::storage::Entry).
    metadata    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_account_idx ON events (account_id, id);
CREATE INDEX events_created_idx ON events (created_at);

CREATE FUNCTION event_feeds_for_account() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM applications WHERE id = NEW.application_id AND events_grant_enabled) THEN
        INSERT INTO event_feeds (account_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER accounts_event_feeds AFTER INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION event_feeds_for_account();

CREATE FUNCTION event_feeds_for_application() RETURNS trigger AS $$
BEGIN
    IF NEW.events_grant_enabled AND NOT OLD.events_grant_enabled THEN
        INSERT INTO event_feeds (account_id)
            SELECT id FROM accounts WHERE application_id = NEW.id ON CONFLICT DO NOTHING;
    ELSIF OLD.events_grant_enabled AND NOT NEW.events_grant_enabled THEN
        DELETE FROM event_feeds f USING accounts a
            WHERE a.id = f.account_id AND a.application_id = NEW.id;
        DELETE FROM feed_items i USING accounts a
            WHERE a.id = i.account_id AND a.application_id = NEW.id;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER applications_event_feeds AFTER UPDATE OF events_grant_enabled ON applications
    FOR EACH ROW EXECUTE FUNCTION event_feeds_for_application();

-- Webhooks: registered per application; one pending notification per account and
-- webhook at a time (a burst of events is one ping), delivered from this outbox.
CREATE TABLE webhooks (
    id              BIGSERIAL PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_application_idx ON webhooks (application_id, id);

CREATE TABLE webhook_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    webhook_id       BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    account_id       BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- pending, delivered or dead.
    state            TEXT NOT NULL DEFAULT 'pending',
    -- Bumped each time new events join a pending notification: a delivery only counts
    -- for the generation it carried.
    generation       INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A sender holds the row until then.
    lease_until      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at      TIMESTAMPTZ,
    last_status      INTEGER,
    last_error       TEXT,
    last_latency_ms  INTEGER
);
CREATE UNIQUE INDEX webhook_deliveries_pending_idx
    ON webhook_deliveries (webhook_id, account_id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_due_idx
    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);

-- Every attempt of every delivery: when, what the receiver answered, how long it took.
CREATE TABLE webhook_attempts (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    status       INTEGER,
    error        TEXT,
    latency_ms   INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- Webhooks are signed with the application's API key (Kloudless v1), so keys are also
-- kept sealed (AES-256-GCM); lookups still go through the digest only.
ALTER TABLE api_keys ADD COLUMN key_sealed BYTEA;
