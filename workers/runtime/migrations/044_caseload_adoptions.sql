-- Caseload adoption (issue 19): which pathways were brought in mid-flight from a département's caseload, from
-- which file and row (the read-model flag: a KPI excludes a pathway's period before adopted_on by joining on
-- pathway_id), and each row's outcome per file (rejections with their reason: the quarantine of an import).
-- Ids, digests, dates and categories only: the rows themselves stay in the département's file.
CREATE TABLE caseload_adoptions (
    person_id     text PRIMARY KEY,
    pathway_id    text NOT NULL UNIQUE,
    file_digest   text NOT NULL,
    row_number    integer NOT NULL,
    row_digest    text NOT NULL,
    source        text NOT NULL,
    stage         text NOT NULL,
    adopted_on    date NOT NULL,
    past_breaches boolean NOT NULL,
    status        text NOT NULL DEFAULT 'starting',  -- starting | started
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE caseload_import_rows (
    file_digest text NOT NULL,
    row_number  integer NOT NULL,
    outcome     text NOT NULL,  -- adopted | unchanged | rejected
    code        text,
    reason      text,
    pathway_id  text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_digest, row_number)
);
CREATE INDEX caseload_import_rows_rejected ON caseload_import_rows (file_digest) WHERE outcome = 'rejected';
