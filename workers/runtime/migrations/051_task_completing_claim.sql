-- A completion that must first be taken by the task's case (a LETTER_TO_SEND task tells its label case
-- ``record_letter_sent``) is claimed for a moment instead of holding a row lock and a pool connection across the
-- workflow update: the claim (a random token and when it was taken) is set in one short statement, the case is
-- told with no connection held, then the completion is written only while the claim is still this one. A claim
-- older than the takeover delay (a crashed completion) may be taken by a retry. No personal data.
ALTER TABLE human_tasks ADD COLUMN completing_token uuid;
ALTER TABLE human_tasks ADD COLUMN completing_since timestamptz;
