-- An event's occurred_at (metadata->>'occurred_at') is an ISO 8601 time with a UTC offset or Z,
-- as the store writes it and as every reader parses it: 2026-11-21T08:00:00.5Z,
-- 2026-11-21T10:00:00+02:00 (also +02 or +0200, and a space for the T, as PostgreSQL prints a
-- timestamptz). A text PostgreSQL would read but Waymark's readers might not (a time without an
-- offset means the reader's zone; words such as 'yesterday') is refused when written, so one such
-- event cannot stop the read side. The cast refuses dates that do not exist (2026-02-30).
-- NOT VALID: events written before are never changed; the projections skip them on request
-- (waymark projections skip).
ALTER TABLE events ADD CONSTRAINT events_occurred_at_check CHECK (
    NOT (metadata ? 'occurred_at')
    OR (
        jsonb_typeof(metadata->'occurred_at') = 'string'
        AND (metadata->>'occurred_at') ~ '^[0-9]{4,6}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'
        AND (metadata->>'occurred_at')::timestamptz IS NOT NULL
    )
) NOT VALID;
