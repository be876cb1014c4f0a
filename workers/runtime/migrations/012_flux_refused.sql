-- Issue 11: a file of another CNAF flow (instruction, financier) is refused as a whole, and an unreadable
-- file keeps the one-line reason it failed with (no personal data: the readers' messages never hold any).
ALTER TABLE flux_files DROP CONSTRAINT IF EXISTS flux_files_status_check;
ALTER TABLE flux_files ADD CONSTRAINT flux_files_status_check
    CHECK (status IN ('importing', 'imported', 'unreadable', 'refused'));
ALTER TABLE flux_files ADD COLUMN IF NOT EXISTS failure text;
