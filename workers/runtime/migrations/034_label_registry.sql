-- Structure registry of the Label référent RSA: one row per structure (the primary key is the unique
-- constraint that makes "one open application per structure" atomic; see domain/label_registry.py).
CREATE TABLE label_structures (
    structure_id           text PRIMARY KEY,
    open_application       text,            -- application workflow id under instruction, moratorium or appeal
    moratorium_application text,            -- = open_application while it holds the moratorium
    moratorium_until       date,            -- first day a new application is possible
    label_workflow_id      text,
    label_status           text,
    label_expires_on       date,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
