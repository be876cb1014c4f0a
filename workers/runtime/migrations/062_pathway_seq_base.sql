-- A new pathway under the id of a finished one (T25) counts its changes from above the former's read-model version:
-- that base, so a reader tells the current pathway's rows (anomalies ``anomaly-<seq>``) from the former's.
ALTER TABLE pathways ADD COLUMN seq_base bigint NOT NULL DEFAULT 0;
