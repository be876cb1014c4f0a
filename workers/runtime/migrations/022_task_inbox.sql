-- Task inbox (issue 12): a task's life cycle (OPEN → CLAIMED → DONE | CANCELLED), who claimed or closed it and why.
-- Actors are opaque ids (agent:<id>, service:<name>, or "workflow" when the awaited event closed the task): no
-- name, no free text about a person. ``task_id`` is the public id of the inbox routes (the task_key stays the
-- idempotency key of its creation). ``outcome`` holds categories and references only (e.g. a registered-letter
-- number and its date), checked by the API.
ALTER TABLE human_tasks ADD COLUMN task_id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE human_tasks ADD CONSTRAINT human_tasks_task_id_key UNIQUE (task_id);
UPDATE human_tasks SET status = upper(status);
ALTER TABLE human_tasks ALTER COLUMN status SET DEFAULT 'OPEN';
ALTER TABLE human_tasks ADD CONSTRAINT human_tasks_status_check
    CHECK (status IN ('OPEN', 'CLAIMED', 'DONE', 'CANCELLED'));
ALTER TABLE human_tasks RENAME COLUMN closed_at TO completed_at;
ALTER TABLE human_tasks
    ADD COLUMN claimed_by     text CHECK (claimed_by ~ '^(agent|service):[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    ADD COLUMN claimed_at     timestamptz,
    ADD COLUMN outcome        jsonb,
    ADD COLUMN closure_reason text CHECK (closure_reason ~ '^[A-Z][A-Z0-9_]{0,63}$'),
    ADD COLUMN closed_by      text CHECK (closed_by = 'workflow'
                                          OR closed_by ~ '^(agent|service):[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now();
UPDATE human_tasks SET completed_at = COALESCE(completed_at, now()) WHERE status IN ('DONE', 'CANCELLED');
ALTER TABLE human_tasks ADD CONSTRAINT human_tasks_closed_check
    CHECK ((status IN ('DONE', 'CANCELLED')) = (completed_at IS NOT NULL));

-- The inbox lists a status' tasks by due date (no due date last), then by id: the cursor's order.
CREATE INDEX human_tasks_inbox_idx ON human_tasks (status, (COALESCE(due_date, '9999-12-31'::date)), task_id);
CREATE INDEX human_tasks_assignee_inbox_idx
    ON human_tasks (assignee, status, (COALESCE(due_date, '9999-12-31'::date)), task_id);
DROP INDEX human_tasks_open_idx;
