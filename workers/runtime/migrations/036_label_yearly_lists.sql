-- The annual list of labelled structures for the Commission Permanente (L20), as stored by the
-- LabelYearlyList workflow (one row per year; a re-run replaces it).
CREATE TABLE label_yearly_lists (
    year         integer PRIMARY KEY,
    workflow_id  text NOT NULL,
    generated_on date NOT NULL,
    granted      jsonb NOT NULL,
    labelled     jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
