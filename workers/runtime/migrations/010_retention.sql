-- Retention of closed pathways (issue 6, item 4). Written only by the RetentionPurge activities.
-- One row per purge run, and one item per pathway it purged (or left alone because its execution runs again).
-- Only opaque ids, dates and counts: no personal data.
CREATE TABLE retention_purges (
    purge_id            text PRIMARY KEY,              -- <workflow id>/<run id of its first run>
    as_of               date NOT NULL,                 -- the run's day (Europe/Paris)
    retention_months    integer NOT NULL,
    cutoff              date NOT NULL,                 -- pathways closed before this day are purged
    started_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    pathways_purged     integer NOT NULL DEFAULT 0,
    executions_deleted  integer NOT NULL DEFAULT 0,
    skipped_running     integer NOT NULL DEFAULT 0,
    rows_deleted        jsonb NOT NULL DEFAULT '{}'::jsonb  -- table -> rows
);

CREATE TABLE retention_purge_items (
    purge_id            text NOT NULL REFERENCES retention_purges (purge_id),
    pathway_id          text NOT NULL,
    closed_on           date,
    outcome             text NOT NULL,                 -- PURGED | SKIPPED_RUNNING
    executions_deleted  integer NOT NULL DEFAULT 0,    -- Temporal runs deleted (a continue-as-new chain)
    rows_deleted        jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purge_id, pathway_id)
);
CREATE INDEX retention_purge_items_pathway_idx ON retention_purge_items (pathway_id);

-- The purge looks pathways up by closing date.
CREATE INDEX pathways_closed_idx ON pathways (closed_on, pathway_id) WHERE closed_on IS NOT NULL;
