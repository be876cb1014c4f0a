-- Codec audit, one row per case: the workflow id comes from the payloads themselves (bound into their encryption
-- by our encoder) when they carry one ('payload'), else from what the client claimed ('client'), else NULL.
-- /encode is audited too (operation 'encode', outcome 'encoded').
ALTER TABLE codec_audit ADD COLUMN operation text NOT NULL DEFAULT 'decode' CHECK (operation IN ('decode', 'encode'));
ALTER TABLE codec_audit ADD COLUMN workflow_id_source text CHECK (workflow_id_source IN ('payload', 'client'));
ALTER TABLE codec_audit DROP CONSTRAINT codec_audit_outcome_check;
ALTER TABLE codec_audit ADD CONSTRAINT codec_audit_outcome_check CHECK (outcome IN ('decoded', 'failed', 'encoded'));
