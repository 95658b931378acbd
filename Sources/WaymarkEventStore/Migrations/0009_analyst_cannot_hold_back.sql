-- The analyst role reads; it must not be able to stall the read side. Holding a projection's
-- advisory lock froze the journeys view, and an open transaction that had created a temporary
-- table held every build back (it holds a transaction id below the readers' horizon).
--
-- TEMP on the database and the advisory-lock functions are granted to PUBLIC by PostgreSQL, so
-- revoking them from waymark_analyst alone changes nothing: they are revoked from PUBLIC and granted
-- back to the role that runs the migrations (Waymark's own). Another role on this database that
-- needs them must be granted them by name. Where the migrating role may not change them (a
-- managed service without superuser), a warning says so and the timeouts below still apply.
DO $$
DECLARE
    f regprocedure;
BEGIN
    -- Schemas migrating at once change the same grants: one at a time.
    PERFORM pg_advisory_xact_lock(7461, 9);
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ '^pg_(try_)?advisory_(xact_)?lock(_shared)?$'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, current_user);
    END LOOP;
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'waymark: cannot revoke TEMP and the advisory-lock functions from PUBLIC (%); waymark_analyst can still hold a projection back', SQLERRM;
END
$$;

-- A statement or an idle transaction of the analyst's cannot last: a transaction left open in a
-- BI tool ends after two minutes idle, a query after ten. Change them with ALTER ROLE.
DO $$
BEGIN
    PERFORM pg_advisory_xact_lock(7461, 9);
    ALTER ROLE waymark_analyst SET statement_timeout = '10min';
    ALTER ROLE waymark_analyst SET idle_in_transaction_session_timeout = '2min';
    ALTER ROLE waymark_analyst SET default_transaction_read_only = on;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'waymark: cannot set the timeouts of waymark_analyst (%)', SQLERRM;
END
$$;
