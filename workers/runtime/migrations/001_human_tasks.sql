-- Human tasks: escalations and confirmations created by workflows for a service (SLAI, DPID, referent).
-- Idempotent by task_key (workflow id + step + business reference), so a retried activity creates one task.
CREATE TABLE human_tasks (
    task_key      text PRIMARY KEY,
    workflow_id   text NOT NULL,
    kind          text NOT NULL,
    assignee      text NOT NULL,
    due_date      date,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL DEFAULT 'open',
    created_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz
);
CREATE INDEX human_tasks_open_idx ON human_tasks (assignee, status, due_date);
CREATE INDEX human_tasks_workflow_idx ON human_tasks (workflow_id);
