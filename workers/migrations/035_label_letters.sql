-- Label letters as documents: the rendered HTML and PDF, the LRAR number, posting and receipt dates.
ALTER TABLE label_letters
    ADD COLUMN territory         text,
    ADD COLUMN dates             jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN html              text,
    ADD COLUMN pdf               bytea,
    ADD COLUMN registered_number text,
    ADD COLUMN posted_on         date;
