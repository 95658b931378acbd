-- Each function of the store runs in its own schema, whatever the caller's search_path: called as
-- probe.append_events(…) from a session whose search_path starts with another schema, it wrote into
-- that schema's events table. pg_catalog first (nothing shadows the built-ins), pg_temp last (a
-- temporary table named events cannot stand in for the log).
--
-- expected_version_holds is left alone: it reads no table, and a function with a SET clause is no
-- longer inlined into the append's one-statement fast path.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace
          AND p.proname IN ('append_events', 'replayed_append', 'stream_version', 'events_are_immutable')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;
