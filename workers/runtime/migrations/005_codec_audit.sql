-- Audit log of the codec server: one row per authorised decode request (who read clear payloads, when, which
-- workflow). Never the payloads themselves. token_name is the name configured with the token (PARCOURS_CODEC_TOKENS).
CREATE TABLE codec_audit (
    id             bigserial PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    token_name     text NOT NULL,
    namespace      text,
    workflow_id    text,
    payload_count  integer NOT NULL,
    key_ids        text[] NOT NULL DEFAULT '{}',
    outcome        text NOT NULL CHECK (outcome IN ('decoded', 'failed')),
    origin         text,
    client         text
);
CREATE INDEX codec_audit_time_idx ON codec_audit (occurred_at);
CREATE INDEX codec_audit_workflow_idx ON codec_audit (workflow_id, occurred_at);
CREATE INDEX codec_audit_who_idx ON codec_audit (token_name, occurred_at);
