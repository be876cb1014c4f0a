-- Seed-002 indicators (domain.md §5.1 (a), (c), (e)), computed by activities/kpi.py from the pathway events of
-- 002 — never from the stored counters (breach_count, cer_count), whose history cannot be checked (G-B21).
-- Only opaque ids, dates and categories: no personal data.

-- Every appointment event of a pathway (G-B4: when it was fixed, for which date, held or missed). The 002 tables
-- keep only the first appointment met within 14 days (FIRST_APPOINTMENT deadline closed_on): a first appointment
-- fixed late, or one on the direct-orientation route, leaves no dated trace there. Written by the pathway
-- activity (insert-only, one row per accepted AppointmentEvent, keyed by its event id).
CREATE TABLE pathway_appointments (
    pathway_id       text NOT NULL,
    event_id         text NOT NULL,               -- AppointmentEvent.event_id (a re-sent event writes nothing)
    kind             text NOT NULL,               -- SCHEDULED | HELD | MISSED
    appointment_date date NOT NULL,               -- the appointment's own date
    recorded_on      date NOT NULL,               -- the pathway's day when the event arrived (date it was fixed)
    physical         boolean NOT NULL DEFAULT true,
    excused          boolean NOT NULL DEFAULT false,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pathway_id, event_id)
);

-- "Zéro bénéficiaire sans accompagnement" (T26, G-B19): convocations of "perdus de vue" by the Département's
-- services so that they are oriented, and whether the person came. Written by whoever sends the convocation
-- (the pathway's campaign step); the outcome is updated with a version that only grows.
CREATE TABLE lost_from_view_convocations (
    pathway_id       text NOT NULL,
    convocation_id   text NOT NULL,               -- event id of the convocation
    convoked_on      date NOT NULL,               -- date the convocation was sent
    appointment_date date,
    outcome          text,                        -- NULL while pending, ATTENDED | MISSED | EXCUSED
    version          bigint NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pathway_id, convocation_id)
);
CREATE INDEX lost_from_view_convocations_on_idx ON lost_from_view_convocations (convoked_on);

-- Reporting indexes on the pathway read model: the new-entrant cohort by entry date (and territory), the
-- orientations to the accompagnement global by notification date, and a pathway's indicator clocks, first CER and
-- first appointment (index-only look-ups).
CREATE INDEX pathways_entry_idx ON pathways (entry_date, territory);
CREATE INDEX pathways_orientation_idx ON pathways (orientation_target, orientation_notified_on);
CREATE INDEX deadlines_indicator_idx ON deadlines (pathway_id, kind)
    INCLUDE (started_on, due_on, status, closed_on)
    WHERE kind IN ('ORIENTATION', 'FIRST_APPOINTMENT', 'FIRST_CER');
CREATE INDEX pathway_cers_first_idx ON pathway_cers (pathway_id, signed_on) WHERE NOT renewal;
CREATE INDEX pathway_appointments_first_idx ON pathway_appointments (pathway_id, appointment_date)
    WHERE kind IN ('SCHEDULED', 'HELD');
-- Orientation on the CAF route (no notification date: the SLAI accepts the saisine), for the "perdus de vue".
CREATE INDEX stage_changes_caf_orientation_idx ON stage_changes (pathway_id, changed_on)
    WHERE cause = 'CAF_SAISINE_ACCEPTED';
