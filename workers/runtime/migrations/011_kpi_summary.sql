-- Seed-002 indicators at scale (issue 7: `parcours report kpi` under 2 s at 1M pathways, a whole-table cohort
-- included). A report joined four event tables (millions of rows at 1M pathways); it now reads one narrow row per
-- pathway: the dates activities/kpi.py counts, each the earliest matching event row, kept by statement triggers on
-- the event tables. Still counted from events, never from the stored counters (G-B21). Only opaque ids, dates and
-- categories: no personal data.

-- The definition: a pathway's row computed from its events (the triggers refresh pathway_kpi from it; a test
-- compares the two). Each pathway opens one clock of each indicator kind; should there be more, the earliest wins.
CREATE VIEW pathway_kpi_source AS
SELECT p.pathway_id, p.territory, p.rule_set, p.entry_date, p.orientation_target, p.orientation_notified_on,
       p.closed_on,
       k.o_start, k.o_due, k.o_met_on, k.a_start, k.a_due, k.a_met_on, k.c_due,
       a.first_appointment_on, a.held_after_orientation,
       c.first_cer_on, c.cer_after_orientation,
       b.orientation_breached_on
FROM pathways p
CROSS JOIN LATERAL (
    SELECT min(d.started_on) FILTER (WHERE d.kind = 'ORIENTATION') AS o_start,
           min(d.due_on) FILTER (WHERE d.kind = 'ORIENTATION') AS o_due,
           min(d.closed_on) FILTER (WHERE d.kind = 'ORIENTATION' AND d.status = 'MET') AS o_met_on,
           min(d.started_on) FILTER (WHERE d.kind = 'FIRST_APPOINTMENT') AS a_start,
           min(d.due_on) FILTER (WHERE d.kind = 'FIRST_APPOINTMENT') AS a_due,
           min(d.closed_on) FILTER (WHERE d.kind = 'FIRST_APPOINTMENT' AND d.status = 'MET') AS a_met_on,
           min(d.due_on) FILTER (WHERE d.kind = 'FIRST_CER') AS c_due
    FROM deadlines d
    WHERE d.pathway_id = p.pathway_id AND d.kind IN ('ORIENTATION', 'FIRST_APPOINTMENT', 'FIRST_CER')
) k
CROSS JOIN LATERAL (
    SELECT min(a.appointment_date) FILTER (WHERE a.kind IN ('SCHEDULED', 'HELD')) AS first_appointment_on,
           min(a.appointment_date) FILTER (WHERE a.kind = 'HELD' AND a.appointment_date >= p.orientation_notified_on)
               AS held_after_orientation
    FROM pathway_appointments a
    WHERE a.pathway_id = p.pathway_id
) a
CROSS JOIN LATERAL (
    SELECT min(c.signed_on) FILTER (WHERE NOT c.renewal) AS first_cer_on,
           min(c.signed_on) FILTER (WHERE c.signed_on >= p.orientation_notified_on) AS cer_after_orientation
    FROM pathway_cers c
    WHERE c.pathway_id = p.pathway_id
) c
CROSS JOIN LATERAL (  -- by pathway only: breaches_kind_idx would read every ORIENTATION breach for each pathway
    SELECT min(b.breached_on) FILTER (WHERE b.kind = 'ORIENTATION') AS orientation_breached_on
    FROM breaches b
    WHERE b.pathway_id = p.pathway_id
) b;

-- One row per row of pathways, as pathway_kpi_source computes it.
CREATE TABLE pathway_kpi (
    pathway_id              text PRIMARY KEY,
    territory               text NOT NULL,
    rule_set                text NOT NULL,
    entry_date              date,
    orientation_target      text,
    orientation_notified_on date,
    closed_on               date,
    o_start                 date,      -- ORIENTATION clock: start, due day (pauses included), closing day if MET
    o_due                   date,
    o_met_on                date,
    a_start                 date,      -- FIRST_APPOINTMENT clock
    a_due                   date,
    a_met_on                date,
    c_due                   date,      -- FIRST_CER clock
    first_appointment_on    date,      -- earliest appointment SCHEDULED or HELD (its own date)
    held_after_orientation  date,      -- earliest appointment HELD on or after orientation_notified_on
    first_cer_on            date,      -- earliest CER that is not a renewal
    cer_after_orientation   date,      -- earliest CER signed on or after orientation_notified_on
    orientation_breached_on date       -- earliest ORIENTATION breach
);
-- The new-entrant cohort; the orientations to the accompagnement global; the "perdus de vue" not oriented before
-- the period.
CREATE INDEX pathway_kpi_entry_idx ON pathway_kpi (entry_date, territory);
CREATE INDEX pathway_kpi_global_idx ON pathway_kpi (orientation_notified_on)
    WHERE orientation_target = 'POLE_EMPLOI_AG';
CREATE INDEX pathway_kpi_breached_idx ON pathway_kpi (orientation_notified_on)
    WHERE orientation_breached_on IS NOT NULL;
-- The sanctions after a "perdu de vue" convocation.
CREATE INDEX stage_changes_sanction_idx ON stage_changes (pathway_id, changed_on)
    WHERE to_stage = 'SANCTION_PROCEDURE' OR cause = 'EXIT_NON_RESPECT_OBLIGATIONS';

-- Recompute the rows of these pathways (drop those whose pathway is gone); an unchanged row is not rewritten.
CREATE FUNCTION pathway_kpi_refresh(ids text[]) RETURNS void LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF coalesce(cardinality(ids), 0) = 0 THEN  -- a statement that wrote nothing (ON CONFLICT DO NOTHING, ...)
        RETURN;
    END IF;
    DELETE FROM pathway_kpi k
    WHERE k.pathway_id = ANY (ids) AND NOT EXISTS (SELECT FROM pathways p WHERE p.pathway_id = k.pathway_id);
    INSERT INTO pathway_kpi SELECT * FROM pathway_kpi_source s WHERE s.pathway_id = ANY (ids)
    ON CONFLICT (pathway_id) DO UPDATE SET
        territory = EXCLUDED.territory, rule_set = EXCLUDED.rule_set, entry_date = EXCLUDED.entry_date,
        orientation_target = EXCLUDED.orientation_target, orientation_notified_on = EXCLUDED.orientation_notified_on,
        closed_on = EXCLUDED.closed_on, o_start = EXCLUDED.o_start, o_due = EXCLUDED.o_due,
        o_met_on = EXCLUDED.o_met_on, a_start = EXCLUDED.a_start, a_due = EXCLUDED.a_due,
        a_met_on = EXCLUDED.a_met_on, c_due = EXCLUDED.c_due, first_appointment_on = EXCLUDED.first_appointment_on,
        held_after_orientation = EXCLUDED.held_after_orientation, first_cer_on = EXCLUDED.first_cer_on,
        cer_after_orientation = EXCLUDED.cer_after_orientation,
        orientation_breached_on = EXCLUDED.orientation_breached_on
    WHERE (pathway_kpi.*) IS DISTINCT FROM (EXCLUDED.*);
END $$;

-- After each statement on an event table, the pathways it touched are recomputed (an UPDATE by its new rows: a
-- pathway id never changes). In READ COMMITTED each statement here sees what was committed before it started,
-- and the writers of one pathway queue on its pathways row (PathwayReadModel.write upserts it first, the
-- retention purge deletes it first): the last refresh of a pathway sees every row written before it.
CREATE FUNCTION pathway_kpi_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pathway_kpi_refresh(ARRAY(SELECT DISTINCT pathway_id FROM changed));
    RETURN NULL;
END $$;

CREATE FUNCTION pathway_kpi_truncated() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pathway_kpi_refresh(ARRAY(SELECT pathway_id FROM pathway_kpi));
    RETURN NULL;
END $$;

DO $$
DECLARE
    source text;
BEGIN
    FOREACH source IN ARRAY ARRAY['pathways', 'deadlines', 'pathway_appointments', 'pathway_cers', 'breaches'] LOOP
        EXECUTE format('CREATE TRIGGER pathway_kpi_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS changed '
                       'FOR EACH STATEMENT EXECUTE FUNCTION pathway_kpi_changed()', source);
        EXECUTE format('CREATE TRIGGER pathway_kpi_update AFTER UPDATE ON %I REFERENCING NEW TABLE AS changed '
                       'FOR EACH STATEMENT EXECUTE FUNCTION pathway_kpi_changed()', source);
        EXECUTE format('CREATE TRIGGER pathway_kpi_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS changed '
                       'FOR EACH STATEMENT EXECUTE FUNCTION pathway_kpi_changed()', source);
        EXECUTE format('CREATE TRIGGER pathway_kpi_truncate AFTER TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION pathway_kpi_truncated()', source);
    END LOOP;
END $$;

-- The pathways already there.
INSERT INTO pathway_kpi SELECT * FROM pathway_kpi_source;
