-- Label référent RSA read model: applications, granted labels, registered letters (outbox).
-- Rows are upserted by workflows' activities, guarded by a version that only grows.
CREATE TABLE label_applications (
    workflow_id          text PRIMARY KEY,           -- label-<structure id>-<n>
    structure_id         text NOT NULL,
    application_no       integer NOT NULL,
    territory            text NOT NULL,
    stage                text NOT NULL,
    filed_on             date,
    decided_on           date,
    outcome              text,
    next_deadline        date,
    instruction_breached boolean NOT NULL DEFAULT false,
    funding_blocked      boolean NOT NULL DEFAULT false,
    version              bigint NOT NULL,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX label_applications_structure_idx ON label_applications (structure_id);

CREATE TABLE labels (
    label_key    text PRIMARY KEY,                   -- labelled-<structure id>:<first decision date>
    workflow_id  text NOT NULL,
    structure_id text NOT NULL,
    territory    text NOT NULL,
    status       text NOT NULL,
    granted_on   date NOT NULL,
    expires_on   date NOT NULL,                      -- first day no longer valid
    ended_on     date,                               -- first day no longer valid after W1/W2/W3/expiry
    end_reason   text,
    version      bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX labels_structure_idx ON labels (structure_id, granted_on);

CREATE TABLE label_letters (
    letter_key      text PRIMARY KEY,
    workflow_id     text NOT NULL,
    structure_id    text NOT NULL,
    kind            text NOT NULL,
    decided_on      date NOT NULL,
    reasons         jsonb NOT NULL DEFAULT '[]'::jsonb,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    acknowledged_on date
);
