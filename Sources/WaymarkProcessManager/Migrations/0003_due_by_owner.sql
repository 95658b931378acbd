-- Journeys' and consent subjects' due deadlines are claimed by separate statements: each walks an
-- index of its own rows, so a backlog of one kind is never scanned by the other's claim.
CREATE INDEX pm_deadlines_due_journeys ON pm_deadlines (due_at, deadline_id) WHERE state = 'pending' AND journey_id IS NOT NULL;
CREATE INDEX pm_deadlines_due_subjects ON pm_deadlines (due_at, deadline_id) WHERE state = 'pending' AND subject_id IS NOT NULL;
DROP INDEX pm_deadlines_due;
