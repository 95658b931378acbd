-- The expected-version rule in one place: append_events and the client's one-statement appends
-- (EventStore's fast path) both ask this function, which PostgreSQL inlines into the calling
-- statement. Replaces append_events of 0002 (same signature, same behaviour) to use it.

-- Whether a stream at version p_current (0: no stream) meets the expectation p_kind ('any',
-- 'no_stream', 'exists', 'exact' with p_expected).
CREATE FUNCTION expected_version_holds(p_kind text, p_expected bigint, p_current bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE p_kind
        WHEN 'any' THEN true
        WHEN 'no_stream' THEN p_current = 0
        WHEN 'exists' THEN p_current > 0
        WHEN 'exact' THEN p_current = p_expected
        ELSE false
    END
$fn$;

CREATE OR REPLACE FUNCTION append_events(
    p_stream text,
    p_expected text,
    p_expected_version bigint,
    p_event_ids uuid[],
    p_types text[],
    p_data jsonb[],
    p_metadata jsonb[]
) RETURNS TABLE (event_id uuid, stream_version bigint, tx_id xid8, global_id bigint, replayed boolean)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $fn$
#variable_conflict use_column
DECLARE
    v_count integer := coalesce(cardinality(p_event_ids), 0);
    v_current bigint;
    v_last_tx xid8;
    v_own_tx xid8;
    v_tried bigint;
    v_attempt integer := 0;
BEGIN
    IF v_count = 0 THEN
        RAISE EXCEPTION 'an append to stream % needs at least one event', p_stream USING ERRCODE = 'WM003';
    END IF;
    IF coalesce(cardinality(p_types), -1) <> v_count OR coalesce(cardinality(p_data), -1) <> v_count
       OR coalesce(cardinality(p_metadata), -1) <> v_count THEN
        RAISE EXCEPTION 'the id, type, data and metadata arrays of an append must have the same length' USING ERRCODE = 'WM003';
    END IF;
    IF p_expected IS NULL OR p_expected NOT IN ('any', 'no_stream', 'exists', 'exact')
       OR (p_expected = 'exact' AND (p_expected_version IS NULL OR p_expected_version < 0)) THEN
        RAISE EXCEPTION 'invalid expected version: % %', p_expected, p_expected_version USING ERRCODE = 'WM003';
    END IF;
    IF v_count > 1 AND (SELECT count(DISTINCT x) FROM unnest(p_event_ids) AS x) <> v_count THEN
        RAISE EXCEPTION 'the batch for stream % repeats an event id', p_stream USING ERRCODE = 'WM003';
    END IF;

    LOOP
        v_attempt := v_attempt + 1;
        -- The stream's last event: one backward step on the (stream_name, stream_version) index.
        SELECT e.stream_version, e.tx_id INTO v_current, v_last_tx
        FROM events e WHERE e.stream_name = p_stream ORDER BY e.stream_version DESC LIMIT 1;
        IF NOT FOUND THEN
            v_current := 0;
            v_last_tx := NULL;
        END IF;

        -- A retry of a batch that was stored is not a conflict: return what was stored. Looked for
        -- after the version was read, so a copy that committed before that read is found here.
        RETURN QUERY SELECT * FROM replayed_append(p_stream, p_event_ids, p_types, p_data);
        IF FOUND THEN
            RETURN;
        END IF;

        IF NOT expected_version_holds(p_expected, p_expected_version, v_current) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'WM001',
                MESSAGE = format('wrong expected version for stream %s: expected %s, actual %s', p_stream,
                    CASE p_expected WHEN 'exact' THEN p_expected_version::text ELSE replace(p_expected, '_', ' ') END,
                    CASE WHEN v_current = 0 THEN 'no stream' ELSE v_current::text END),
                DETAIL = v_current::text;
        END IF;

        v_own_tx := pg_current_xact_id_if_assigned();
        IF v_own_tx IS NOT NULL AND v_last_tx > v_own_tx THEN
            RAISE EXCEPTION USING
                ERRCODE = '40001',
                MESSAGE = format('stream %s was last written by transaction %s, which is newer than this one (%s): an append here would '
                    'put the stream out of version order in the global log; retry in a new transaction', p_stream, v_last_tx, v_own_tx),
                HINT = 'run the append in a new transaction (autocommit, or retry the whole transaction)';
        END IF;
        IF v_current IS NOT DISTINCT FROM v_tried THEN
            -- A writer won this version, yet this snapshot still shows the stream without it: the
            -- transaction reads an older snapshot (REPEATABLE READ or SERIALIZABLE).
            RAISE EXCEPTION USING
                ERRCODE = '40001',
                MESSAGE = format('stream %s changed after this transaction''s snapshot was taken; retry in a new transaction', p_stream);
        END IF;
        v_tried := v_current;

        BEGIN
            INSERT INTO events AS e (stream_name, stream_version, event_id, event_type, data, metadata)
            SELECT p_stream, v_current + u.ord, u.id, u.t, u.d, u.m
            FROM unnest(p_event_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS u(id, t, d, m, ord);
            RETURN QUERY
            SELECT e.event_id, e.stream_version, e.tx_id, e.global_id, false
            FROM events e WHERE e.event_id = ANY (p_event_ids) ORDER BY e.stream_version;
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            -- Another writer committed first: these versions (a concurrent append) or these ids (a
            -- concurrent copy of the batch). The next attempt reads again and decides.
            IF v_attempt >= 50 THEN
                RAISE EXCEPTION 'could not append to stream % after % attempts under contention', p_stream, v_attempt USING ERRCODE = '40001';
            END IF;
        END;
    END LOOP;
END
$fn$;
