-- Label letters to send are tasks of the DPID (issue 12) until marked sent: completing the LETTER_TO_SEND task
-- records the registered-letter number and the day it was posted on the letter. ``sent_at`` (when the workflow
-- queued the letter) keeps its meaning. The number is a postal reference, not personal data.
ALTER TABLE label_letters
    ADD COLUMN registered_letter_number text CHECK (registered_letter_number ~ '^[A-Za-z0-9][A-Za-z0-9 .\-]{0,31}$'),
    ADD COLUMN sent_on date,
    ADD CONSTRAINT label_letters_sent_check CHECK ((registered_letter_number IS NULL) = (sent_on IS NULL));

-- Letters queued before this migration get their task too (one per letter, idempotent by key).
INSERT INTO human_tasks (task_key, workflow_id, kind, assignee, due_date, details)
SELECT l.letter_key || ':LETTER_TO_SEND', l.workflow_id, 'LETTER_TO_SEND', 'DPID', NULL,
       jsonb_build_object('letter_key', l.letter_key, 'letter_kind', l.kind, 'structure_id', l.structure_id,
                          'decided_on', l.decided_on)
FROM label_letters l
ON CONFLICT (task_key) DO NOTHING;
