-- Events an operator told a projection to pass over (`waymark projections skip NAME EVENT-ID`):
-- an event it cannot read (data that does not decode as its type, an unreadable occurred_at) stops
-- only that projection, and the log cannot change, so the operator may decide to go on without
-- it. Kept per projection name, not per build: a rebuild passes over the same events, so it
-- builds what the live build shows. Who and why are recorded with the failure it answered.
CREATE TABLE projection_skips (
    name text NOT NULL,
    event_id uuid NOT NULL,
    position_tx xid8 NOT NULL,
    position_id bigint NOT NULL,
    reason text NOT NULL CHECK (length(btrim(reason)) > 0),
    skipped_by text NOT NULL CHECK (length(btrim(skipped_by)) > 0),
    skipped_at timestamptz NOT NULL DEFAULT now(),
    -- The error the build stopped with.
    error text NOT NULL,
    PRIMARY KEY (name, event_id)
);

ALTER TABLE projections ADD COLUMN events_skipped bigint NOT NULL DEFAULT 0;
