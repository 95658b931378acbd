-- The notification outbox's working table, in the store's schema, recorded in
-- notification_migrations. Derived from the log (NotificationRequested and the outcome events on
-- journey streams) by the subscription `notifications:outbox`; it can be dropped and derived again.

-- One row per requested notification. A worker claims due pending rows with FOR UPDATE SKIP LOCKED
-- and leases them (leased_by, leased_until) while it sends, so a worker that dies mid-send leaves
-- a row another takes once the lease runs out: delivery is at least once.
CREATE TABLE nt_deliveries (
    notification_id text PRIMARY KEY,
    stream text NOT NULL,
    request jsonb NOT NULL,
    request_event_id uuid NOT NULL,
    requested_at timestamptz NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'suppressed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    leased_by text,
    leased_until timestamptz,
    last_status integer,
    last_error text,
    closed_at timestamptz
);
CREATE INDEX nt_deliveries_due ON nt_deliveries (next_attempt_at) WHERE state = 'pending';

-- Workers that delivered lately, for status.
CREATE TABLE nt_workers (
    worker text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    seen_at timestamptz NOT NULL,
    delivered bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    suppressed bigint NOT NULL DEFAULT 0
);
