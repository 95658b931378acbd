-- Waymark event store: streams, the immutable event log, subscription checkpoints and the append
-- function. Applied by `waymark migrate` into the configured schema (search_path is set to it).

-- The event log. Global order is (tx_id, global_id): tx_id is the writing transaction's id, and
-- readers only read transactions older than their snapshot's xmin, so an event whose transaction
-- commits late is never skipped.
-- A stream's version is its number of events. The unique (stream_name, stream_version) index is the
-- optimistic-concurrency check: two writers that read the same version both try to insert the next
-- one, and the second fails on that stream's index entry, waiting only for the first writer. No
-- table, category or global lock is taken.
CREATE TABLE events (
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    global_id bigint GENERATED ALWAYS AS IDENTITY,
    stream_name text NOT NULL,
    stream_version bigint NOT NULL,
    category text NOT NULL GENERATED ALWAYS AS (split_part(stream_name, '-', 1)) STORED,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_pkey PRIMARY KEY (tx_id, global_id),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_name, stream_version),
    CONSTRAINT events_stream_version_check CHECK (stream_version >= 1),
    CONSTRAINT events_stream_name_check CHECK (
        length(stream_name) BETWEEN 1 AND 200 AND stream_name !~ '[[:space:][:cntrl:]]' AND left(stream_name, 1) <> '-'),
    CONSTRAINT events_event_type_check CHECK (
        length(event_type) BETWEEN 1 AND 200 AND event_type !~ '[[:space:][:cntrl:]]'),
    CONSTRAINT events_metadata_check CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE INDEX events_category_order ON events (category, tx_id, global_id);

-- Events never change: corrections are new events.
CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'WM004', HINT = 'append a correcting event instead';
END
$fn$;

CREATE TRIGGER events_immutable
    BEFORE UPDATE OR DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

CREATE TRIGGER events_not_truncated
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- Where each subscription has got to, written in the same transaction as its effects.
CREATE TABLE subscription_checkpoints (
    subscription_name text PRIMARY KEY,
    tx_id xid8 NOT NULL,
    global_id bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A stream's version: the number of events in it, 0 when it does not exist. One backward step on the
-- unique index whatever the stream's length (max() may be planned as a scan of all its entries).
CREATE FUNCTION stream_version(p_stream text) RETURNS bigint LANGUAGE sql STABLE AS $fn$
    SELECT coalesce((SELECT e.stream_version FROM events e WHERE e.stream_name = p_stream ORDER BY e.stream_version DESC LIMIT 1), 0)
$fn$;

-- The events of a batch that was already appended (an idempotent retry), or no rows when none of
-- its ids exist. Raises WM002 when the batch only partly matches what was stored.
CREATE FUNCTION replayed_append(p_stream text, p_event_ids uuid[], p_types text[], p_data jsonb[])
RETURNS TABLE (event_id uuid, stream_version bigint, tx_id xid8, global_id bigint, replayed boolean)
LANGUAGE plpgsql AS $fn$
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

-- Appends a batch to one stream. Clients first try a single INSERT (the fast path, see
-- EventStore.swift) and call this function when that inserted nothing or hit a unique violation; it
-- can also be called directly from SQL.
--   p_expected: 'any', 'no_stream', 'exists' or 'exact' (then p_expected_version is the version,
--   the number of events the stream must hold).
-- Raises WM001 on a wrong expected version (DETAIL: the actual version, 0 for no stream), WM002 on
-- an idempotency conflict, WM003 on invalid input. Re-sending an appended batch returns its
-- original positions with replayed = true and writes nothing.
CREATE FUNCTION append_events(
    p_stream text,
    p_expected text,
    p_expected_version bigint,
    p_event_ids uuid[],
    p_types text[],
    p_data jsonb[],
    p_metadata jsonb[]
) RETURNS TABLE (event_id uuid, stream_version bigint, tx_id xid8, global_id bigint, replayed boolean)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_count integer := coalesce(cardinality(p_event_ids), 0);
    v_current bigint;
    v_attempt integer := 0;
    v_constraint text;
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
        -- A retry of a batch that was stored is not a conflict: return what was stored.
        RETURN QUERY SELECT * FROM replayed_append(p_stream, p_event_ids, p_types, p_data);
        IF FOUND THEN
            RETURN;
        END IF;

        v_current := stream_version(p_stream);
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

        BEGIN
            INSERT INTO events AS e (stream_name, stream_version, event_id, event_type, data, metadata)
            SELECT p_stream, v_current + u.ord, u.id, u.t, u.d, u.m
            FROM unnest(p_event_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS u(id, t, d, m, ord);
            RETURN QUERY
            SELECT e.event_id, e.stream_version, e.tx_id, e.global_id, false
            FROM events e WHERE e.event_id = ANY (p_event_ids) ORDER BY e.stream_version;
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            -- Another writer committed first: either these versions (a concurrent append) or these
            -- ids (a concurrent retry of the same batch). Look again; 'any' simply tries again.
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            IF v_constraint = 'events_stream_version_key' AND p_expected <> 'any' THEN
                v_current := stream_version(p_stream);
                RAISE EXCEPTION USING
                    ERRCODE = 'WM001',
                    MESSAGE = format('wrong expected version for stream %s: expected %s, actual %s', p_stream,
                        CASE p_expected WHEN 'exact' THEN p_expected_version::text ELSE replace(p_expected, '_', ' ') END, v_current),
                    DETAIL = v_current::text;
            END IF;
            IF v_attempt >= 50 THEN
                RAISE EXCEPTION 'could not append to stream % after % attempts under contention', p_stream, v_attempt USING ERRCODE = '40001';
            END IF;
        END;
    END LOOP;
END
$fn$;
