-- Webhooks, continued.
--
-- A replayed dead notification gets a fresh retry window, counted from the replay rather
-- than from its creation (which the delivery log keeps showing).
ALTER TABLE webhook_deliveries ADD COLUMN replayed_at TIMESTAMPTZ;

-- Housekeeping forgets delivered notifications by age.
CREATE INDEX webhook_deliveries_finished_idx
    ON webhook_deliveries (finished_at) WHERE state = 'delivered';
