-- The codec server's access log (codec_audit: who read which case's clear payloads, when) is purged by the monthly
-- retention run once older than CODEC_AUDIT_RETENTION_MONTHS (domain/retention.py); the run records how many
-- rows it deleted. Counts only, no personal data.
ALTER TABLE retention_purges ADD COLUMN codec_audit_deleted integer NOT NULL DEFAULT 0;
