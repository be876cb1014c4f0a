-- Beneficiary pathway read model (issue 3). Written only by the BeneficiaryPathway activities.
-- Every write is guarded by a version that only grows (the workflow's change sequence), so a retried or
-- late write does nothing. Only opaque ids, dates and categories: no personal data.
CREATE TABLE pathways (
    pathway_id              text PRIMARY KEY,          -- workflow id: pathway-<person id>
    person_id               text NOT NULL,             -- keyed hash of the NIR, never the NIR
    territory               text NOT NULL,
    rule_set                text NOT NULL,
    stage                   text NOT NULL,
    subject_to_duties       boolean,
    referent_type           text,
    referent_structure_id   text,
    entry_date              date,                      -- CAF daily transmission date (start of the orientation clock)
    orientation_target      text,
    orientation_notified_on date,
    caf_saisine_mode        text,
    next_deadline           date,
    breach_count            integer NOT NULL DEFAULT 0,
    cer_count               integer NOT NULL DEFAULT 0,
    closed_on               date,
    exit_reason             text,
    version                 bigint NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pathways_stage_idx ON pathways (territory, stage);

CREATE TABLE stage_changes (
    pathway_id  text NOT NULL,
    seq         bigint NOT NULL,
    from_stage  text,
    to_stage    text NOT NULL,
    changed_on  date NOT NULL,
    cause       text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pathway_id, seq)
);
CREATE INDEX stage_changes_to_idx ON stage_changes (to_stage, changed_on);

CREATE TABLE deadlines (
    pathway_id  text NOT NULL,
    deadline_id text NOT NULL,
    kind        text NOT NULL,
    started_on  date NOT NULL,
    due_on      date NOT NULL,
    status      text NOT NULL,               -- PENDING, PAUSED, MET, BREACHED, FIRED, CANCELLED
    closed_on   date,
    responsible text NOT NULL,
    version     bigint NOT NULL,
    PRIMARY KEY (pathway_id, deadline_id)
);
CREATE INDEX deadlines_kind_idx ON deadlines (kind, status, due_on);

CREATE TABLE breaches (
    pathway_id  text NOT NULL,
    deadline_id text NOT NULL,
    kind        text NOT NULL,
    due_on      date NOT NULL,
    breached_on date NOT NULL,
    responsible text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pathway_id, deadline_id)
);
CREATE INDEX breaches_kind_idx ON breaches (kind, breached_on);

-- CERs (ids, dates and counts only), for the "first CER within 2 months" and CAF "≥ 3 physical appointments".
CREATE TABLE pathway_cers (
    pathway_id            text NOT NULL,
    cer_id                text NOT NULL,
    cer_type              text NOT NULL,
    start_on              date NOT NULL,
    end_on                date NOT NULL,
    signed_on             date NOT NULL,
    renewal               boolean NOT NULL,
    action_count          integer NOT NULL,
    referent_type         text NOT NULL,
    structure_id          text NOT NULL,
    physical_appointments integer NOT NULL DEFAULT 0,
    version               bigint NOT NULL,
    PRIMARY KEY (pathway_id, cer_id)
);

-- CAF volumes per year (convention: ≥ 20 per ETP, 1 300 per year [000:256]): pathways whose referent is the CAF,
-- counted in the year of their first CAF CER.
CREATE VIEW caf_accompaniments_by_year AS
SELECT extract(year FROM min(c.start_on))::int AS year, c.pathway_id, min(c.structure_id) AS structure_id
FROM pathway_cers c
WHERE c.referent_type = 'CAF'
GROUP BY c.pathway_id;
