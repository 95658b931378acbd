-- Consent propagation deadlines (issue 21): a downstream system that has not applied a consent
-- decision within its time in consent.yaml. Their deadlines live in pm_deadlines beside the
-- journeys' with kind 'consent_propagation', on a consent subject instead of a journey.

-- Each consent subject as the scheduler last folded it (a ConsentWatch as JSON), with the consent
-- stream's version it folded: a deadline fires only while that is still the stream's version.
CREATE TABLE pm_consent_watches (
    subject_id text PRIMARY KEY,
    version bigint NOT NULL,
    watch jsonb NOT NULL
);

-- A deadline belongs to a journey or to a consent subject, never both.
ALTER TABLE pm_deadlines ALTER COLUMN journey_id DROP NOT NULL;
ALTER TABLE pm_deadlines ADD COLUMN subject_id text;
ALTER TABLE pm_deadlines ADD CONSTRAINT pm_deadlines_one_owner CHECK ((journey_id IS NULL) <> (subject_id IS NULL));
CREATE INDEX pm_deadlines_pending_by_subject ON pm_deadlines (subject_id) WHERE state = 'pending';

-- The scheduler now reads the consent category too, from the log's start: its derived state is
-- dropped and derived again (as `waymark process-manager rebuild` does), so decisions recorded
-- before this migration get their deadlines; those whose events are in the log count as fired.
TRUNCATE pm_watches, pm_customers, pm_deadlines;
DELETE FROM subscription_checkpoints WHERE subscription_name = 'process-manager:deadlines';
