-- The CAF's annual report (domain.md §3.7, G-C8; issue 14): built each 31 January for the past year by the
-- CafAnnualReport workflow, stored whole (counts and opaque ids only) and read back by the API and the CLI.
CREATE TABLE caf_annual_reports (
    year         integer PRIMARY KEY,
    convention   text NOT NULL,
    due_on       date NOT NULL,
    report       jsonb NOT NULL,
    generated_at timestamptz NOT NULL DEFAULT now()
);
