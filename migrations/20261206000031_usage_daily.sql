-- Per-application usage by day, for the portal's charts: each process counts in memory
-- and adds its counts here in one statement every few seconds (never per request).
-- `metric` is one of requests (label: status class), upstream_errors (label: service),
-- events (label: service), webhook_deliveries (label: outcome). The rows of a deleted
-- application go with it; housekeeping removes days past `usage.keep_days`.
CREATE TABLE usage_daily (
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    day             DATE NOT NULL,
    metric          TEXT NOT NULL,
    label           TEXT NOT NULL,
    count           BIGINT NOT NULL,
    PRIMARY KEY (application_id, day, metric, label)
);
CREATE INDEX usage_daily_day ON usage_daily (day);
