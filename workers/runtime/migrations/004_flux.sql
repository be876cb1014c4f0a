-- CAF/MSA beneficiaries flows (issue 5). A record is identified by the SHA-256 of its file and its position:
-- the 1-based index of its InfosFoyerRSA element (or CSV household), 0 for the file header.
-- No personal data here: a record is kept as the SHA-256 of its raw content; the file itself stays in the
-- drop directory, the only place where the NIRs and names are.

-- Files seen, so a file dropped twice (or re-sent) is recognised.
CREATE TABLE flux_files (
    file_digest   text PRIMARY KEY CHECK (file_digest ~ '^[0-9a-f]{64}$'),
    file_name     text NOT NULL,
    source        text NOT NULL DEFAULT 'CAF' CHECK (source IN ('CAF', 'MSA', 'CSV')),
    flow_type     text,
    flow_date     date,
    byte_size     bigint,
    status        text NOT NULL DEFAULT 'importing' CHECK (status IN ('importing', 'imported', 'unreadable')),
    households    integer,
    rejected      integer,
    received_at   timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);

-- Import ledger: one row per record handled, written in the same transaction as its outcome, so a
-- re-imported file or a resumed import skips what is done (idempotency key: file digest + position).
CREATE TABLE flux_import_ledger (
    file_digest   text NOT NULL,
    position      integer NOT NULL CHECK (position >= 0),
    outcome       text NOT NULL CHECK (outcome IN ('imported', 'rejected')),
    record_hash   text,
    persons       integer NOT NULL DEFAULT 0,
    signals       integer NOT NULL DEFAULT 0,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_digest, position)
);

-- Quarantine: every rejected record, never dropped silently. record_hash is NULL when the record could not
-- be read at all (truncated or malformed file from that position on).
CREATE TABLE flux_quarantine (
    file_digest    text NOT NULL,
    position       integer NOT NULL CHECK (position >= 0),
    reason_codes   text[] NOT NULL,
    reason         text NOT NULL,
    record_hash    text,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolution     text,
    PRIMARY KEY (file_digest, position)
);
CREATE INDEX flux_quarantine_open_idx ON flux_quarantine (quarantined_at) WHERE resolved_at IS NULL;
CREATE INDEX flux_quarantine_reason_idx ON flux_quarantine USING gin (reason_codes);
