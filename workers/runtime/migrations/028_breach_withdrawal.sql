-- Breach withdrawal (issue 14): a breach raised when nothing was known is withdrawn when a fact dated on or
-- before its due day is recorded later (an orientation notified on day 28, recorded on day 32). The row stays,
-- with the day it was withdrawn and why (a category and dates, no personal data); the indicators ignore it.
ALTER TABLE breaches ADD COLUMN withdrawn_on date, ADD COLUMN withdrawal_reason text;

-- pathway_kpi's definition (migration 011) with withdrawn breaches left out: a person oriented in time but
-- recorded late is not « perdu de vue ».
CREATE OR REPLACE VIEW pathway_kpi_source AS
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
CROSS JOIN LATERAL (
    SELECT min(b.breached_on) FILTER (WHERE b.kind = 'ORIENTATION' AND b.withdrawn_on IS NULL)
               AS orientation_breached_on
    FROM breaches b
    WHERE b.pathway_id = p.pathway_id
) b;
