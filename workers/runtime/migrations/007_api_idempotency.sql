-- Idempotency-Key store of the HTTP API (workers/api.py): one row per (calling service, key).
-- request_hash is an HMAC of the method, route and canonical body (keyed, so a body holding a NIR cannot be
-- recovered by hashing guesses); response is what the first request returned, replayed to a retry with the same
-- body. A row without a response is a request in progress (or one that crashed: started_at lets a later retry
-- take it over). Responses never hold personal data (the API never returns a NIR).
CREATE TABLE api_idempotency (
    service          text NOT NULL,
    idempotency_key  text NOT NULL,
    request_hash     bytea NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    status_code      integer,
    response         jsonb,
    PRIMARY KEY (service, idempotency_key),
    CHECK ((completed_at IS NULL) = (status_code IS NULL))
);
CREATE INDEX api_idempotency_started_idx ON api_idempotency (started_at);
