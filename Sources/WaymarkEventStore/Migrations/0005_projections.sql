-- Projections: read models built from the log by WaymarkProjections.
--
-- Each build of a projection version owns tables named proj_<name>_v<version>b<build>_<table> in
-- this schema, and a row here. The runner feeds it batches through a subscription named
-- projection:<name>:v<version>b<build> (subscription_checkpoints), writing the read model and the
-- checkpoint in one transaction. A rebuild is a new build beside the live one; the analytics views
-- switch to it in one transaction once it has caught up.
CREATE TABLE projections (
    name text NOT NULL,
    version integer NOT NULL,
    build integer NOT NULL,
    -- building: filling its tables (a first run or a rebuild beside the live version);
    -- live: the analytics views read it; failed: stopped on an event (see failed_*);
    -- retired: replaced by a newer version, its tables dropped.
    state text NOT NULL CHECK (state IN ('building', 'live', 'failed', 'retired')),
    -- The state to go back to when a failed projection is retried.
    resume_state text CHECK (resume_state IN ('building', 'live')),
    failed_position_tx xid8,
    failed_position_id bigint,
    failed_event_id uuid,
    error text,
    events_handled bigint NOT NULL DEFAULT 0,
    -- Events of types the projection does not know: ignored on purpose, counted.
    events_ignored bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version, build)
);

-- At most one live build per projection.
CREATE UNIQUE INDEX projections_one_live ON projections (name) WHERE state = 'live';

-- The read-only role for analysts and BI tools: SELECT on the analytics views, nothing else. It
-- is cluster-wide, so a second Waymark schema on the same server finds it there already. It can
-- log in; give it a password (ALTER ROLE waymark_analyst PASSWORD …) or a pg_hba rule to use it.
-- Two schemas migrating at once may both try to create it: the loser finds it made.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'waymark_analyst') THEN
        CREATE ROLE waymark_analyst LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
