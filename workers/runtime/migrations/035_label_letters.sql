-- Label letters: the territory and the dates the letter states. The LRAR number and the posting day are the
-- columns of migration 023 (registered_letter_number, sent_on), filled by the letter-sent command or by the
-- DPID's LETTER_TO_SEND task. The letter's text (reasons are free text) stays in the encrypted workflow state:
-- the API renders it on demand.
ALTER TABLE label_letters
    ADD COLUMN territory         text,
    ADD COLUMN dates             jsonb NOT NULL DEFAULT '{}'::jsonb;
