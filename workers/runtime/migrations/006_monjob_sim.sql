-- Local MonJob62 simulator (workers/monjob_sim.py): what it accepted, and every request it saw.
-- Not part of the read model: MonJob62 is an external system; these tables only back the simulator.
-- One record per idempotency key; body_digest detects a key reused with a different body (refused, 422).
CREATE TABLE monjob_sim_records (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    kind             text NOT NULL CHECK (kind IN ('cer', 'bilan', 'exit')),
    person_id        text NOT NULL,
    business_ref     text NOT NULL,
    body             jsonb NOT NULL,
    body_digest      text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX monjob_sim_records_person_idx ON monjob_sim_records (person_id, kind);

-- Request log: one row per push request with the status answered (faults included), for tests and debugging.
CREATE TABLE monjob_sim_requests (
    id               bigserial PRIMARY KEY,
    received_at      timestamptz NOT NULL DEFAULT now(),
    kind             text NOT NULL,
    idempotency_key  text,
    status           integer NOT NULL,
    outcome          text NOT NULL
);
CREATE INDEX monjob_sim_requests_key_idx ON monjob_sim_requests (idempotency_key, id);
