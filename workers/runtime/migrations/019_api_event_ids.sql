-- Event ids sent through the HTTP API, per case (issue 13): an event id reused with another command or another
-- content is refused (409) instead of being silently ignored by the workflow as a duplicate. command_hash is an
-- HMAC (keyed with the person-id secret) of the message name and content without its event id and actor:
-- nothing readable, no personal data. Rows are purged after the retention the API sets (400 days).
CREATE TABLE api_event_ids (
    workflow_id   text NOT NULL,
    event_id      text NOT NULL,
    command_hash  bytea NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, event_id)
);
CREATE INDEX api_event_ids_seen_idx ON api_event_ids (first_seen_at);
