-- The rules engine's working tables, in the store's schema, recorded in reaction_migrations.
-- Written in the transaction of the subscription `reactions:rules` that moves its checkpoint, so
-- they say exactly what the log says up to it.

-- Each rule fired once per triggering event: the guard that a retried or re-read batch (another
-- instance, a reset checkpoint) decides nothing twice.
CREATE TABLE rx_fired (
    rule_id text NOT NULL,
    trigger_event_id uuid NOT NULL,
    journey_id text,
    rule_version text NOT NULL,
    fired_at timestamptz NOT NULL,
    -- NULL when the rule's decision was recorded; else why nothing was (no such journey, an event
    -- the rule cannot judge).
    skipped text,
    PRIMARY KEY (rule_id, trigger_event_id)
);

-- The last survey requested of each customer (consent subject), for "at most one per customer
-- within a window".
CREATE TABLE rx_surveys (
    subject_id text PRIMARY KEY,
    requested_at timestamptz NOT NULL,
    notification_id text NOT NULL
);
