-- Keeps every stream in version order in the global log, makes a retry that races its original a
-- replay, and gives the append functions plans that do not depend on the table's momentary
-- statistics. Replaces the two functions of 0001 (same signatures).
--
-- The order rule. The global log is ordered by (tx_id, global_id), and a transaction gets its id at
-- its first write, not at commit. An append whose transaction already holds an id older than the
-- transaction that wrote the stream's current last event would put a higher version before a lower
-- one. Such an append is refused with SQLSTATE 40001 (serialization_failure): a retry in a new
-- transaction gets a newer id and lands in order. An append whose transaction has no id yet is
-- always in order: the id it is about to get is newer than any transaction that committed before.
-- So within a stream, tx_id never decreases as the version grows, and readers that order by
-- (tx_id, global_id) see every stream in version order. No lock beyond the stream's index entry.
--
-- Plans. On a freshly analysed, empty table the planner prefers sequential scans, and a plan cached
-- then (plpgsql caches its plans for the session) stays a sequential scan while the table grows
-- until statistics catch up. Every statement here is an index lookup, so the functions plan with
-- enable_seqscan off: the index path is taken whatever the statistics say.

CREATE OR REPLACE FUNCTION replayed_append(p_stream text, p_event_ids uuid[], p_types text[], p_data jsonb[])
RETURNS TABLE (event_id uuid, stream_version bigint, tx_id xid8, global_id bigint, replayed boolean)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $fn$
#variable_conflict use_column
DECLARE
    v_found integer;
    v_first bigint;
    v_bad record;
BEGIN
    SELECT count(*), min(e.stream_version) INTO v_found, v_first
    FROM events e WHERE e.event_id = ANY (p_event_ids) AND e.stream_name = p_stream;
    IF v_found = 0 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (p_event_ids)) THEN
        RETURN;
    END IF;

    SELECT u.id, e.stream_name, e.stream_version, e.event_type, u.t, e.data = u.d AS same_data, u.ord INTO v_bad
    FROM unnest(p_event_ids, p_types, p_data) WITH ORDINALITY AS u(id, t, d, ord)
    LEFT JOIN events e ON e.event_id = u.id
    WHERE e.event_id IS NULL
       OR e.stream_name <> p_stream
       OR e.stream_version <> v_first + u.ord - 1
       OR e.event_type <> u.t
       OR e.data <> u.d
    ORDER BY u.ord
    LIMIT 1;

    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'WM002',
            MESSAGE = CASE
                WHEN v_bad.stream_name IS NULL THEN format(
                    'idempotency conflict on stream %s: part of the batch was appended before and event %s was not; a retry must resend the original batch unchanged',
                    p_stream, v_bad.id)
                WHEN v_bad.stream_name <> p_stream THEN format(
                    'idempotency conflict: event %s was already appended to stream %s, not to %s', v_bad.id, v_bad.stream_name, p_stream)
                WHEN v_bad.event_type <> v_bad.t OR NOT v_bad.same_data THEN format(
                    'idempotency conflict on stream %s: event %s was already appended with a different type or data', p_stream, v_bad.id)
                ELSE format(
                    'idempotency conflict on stream %s: event %s was already appended at another position; a retry must resend the original batch in order',
                    p_stream, v_bad.id)
            END,
            DETAIL = v_bad.id::text;
    END IF;

    RETURN QUERY
    SELECT e.event_id, e.stream_version, e.tx_id, e.global_id, true
    FROM events e WHERE e.event_id = ANY (p_event_ids)
    ORDER BY e.stream_version;
END
$fn$;

-- Appends a batch to one stream; see 0001 for the arguments and the error codes. Changed here:
--   * each attempt reads the stream's version first and only then looks for a replay, so a copy of
--     the batch that committed before the version was read is always found: every racing copy of a
--     stored batch returns its original positions with replayed = true;
--   * an expected-version conflict after a unique violation is decided on a fresh read, after the
--     same replay check;
--   * the order rule above: 40001 when this transaction is older than the writer of the stream's
--     last event, or when its snapshot cannot see the writer that won the version (REPEATABLE READ).
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

        IF NOT (p_expected = 'any'
                OR (p_expected = 'no_stream' AND v_current = 0)
                OR (p_expected = 'exists' AND v_current > 0)
                OR (p_expected = 'exact' AND v_current = p_expected_version)) THEN
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
