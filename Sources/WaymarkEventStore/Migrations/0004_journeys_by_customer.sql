-- A customer's journeys: the client finds them through the events that started them. This partial
-- index holds one entry per journey (its start event), so the lookup reads a few index entries
-- whatever the size of the log. The client module owns the query (CustomerDirectory.journeys(of:)).
CREATE INDEX events_journey_started_by_customer
    ON events ((data->>'customerId'), stream_name)
    WHERE event_type = 'JourneyStarted';
