-- The process manager's own tables, in the store's schema, recorded in process_manager_migrations.
-- Everything here is derived from the log and can be dropped and rebuilt
-- (`waymark process-manager rebuild`): deadlines whose events are in the log count as fired.

-- Each journey as the scheduler last folded it (a JourneyWatch as JSON), with the stream version
-- it folded: a deadline fires only while that is still the journey's version.
CREATE TABLE pm_watches (
    journey_id text PRIMARY KEY,
    customer_id text NOT NULL,
    open boolean NOT NULL,
    version bigint NOT NULL,
    watch jsonb NOT NULL
);
CREATE INDEX pm_watches_open_by_customer ON pm_watches (customer_id) WHERE open;

-- Customers' tiers, for merges into a survivor whose journeys take its tier.
CREATE TABLE pm_customers (
    customer_id text PRIMARY KEY,
    tier text NOT NULL
);

-- Every scheduled version of every deadline. A due time is never edited: a change cancels the
-- pending version and adds the next. At most one version of a deadline is pending or fired, so a
-- deadline fires once.
CREATE TABLE pm_deadlines (
    deadline_id text NOT NULL,
    version integer NOT NULL,
    journey_id text NOT NULL,
    kind text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'fired', 'cancelled')),
    due_at timestamptz NOT NULL,
    deadline jsonb NOT NULL,
    scheduled_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    fired_by text,
    lateness interval,
    stale boolean,
    PRIMARY KEY (deadline_id, version)
);
CREATE UNIQUE INDEX pm_deadlines_once ON pm_deadlines (deadline_id) WHERE state <> 'cancelled';
CREATE INDEX pm_deadlines_due ON pm_deadlines (due_at) WHERE state = 'pending';
CREATE INDEX pm_deadlines_pending_by_journey ON pm_deadlines (journey_id) WHERE state = 'pending';

-- Instances that fired lately, for `waymark process-manager status`.
CREATE TABLE pm_instances (
    instance text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    seen_at timestamptz NOT NULL,
    fired bigint NOT NULL DEFAULT 0
);
