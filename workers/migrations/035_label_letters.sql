-- Label letters: the LRAR number, posting and receipt dates, the dates the letter states. The letter's
-- text (reasons are free text) stays in the encrypted workflow state: the API renders it on demand.
ALTER TABLE label_letters
    ADD COLUMN territory         text,
    ADD COLUMN dates             jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN registered_number text,
    ADD COLUMN posted_on         date;
