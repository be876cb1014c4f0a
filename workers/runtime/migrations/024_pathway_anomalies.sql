-- Refused events never vanish (issues 12 and 13): a message a pathway could not apply (a fact the rules refuse,
-- e.g. a MISSED appointment before any appointment was fixed, or data the dates cannot carry) is kept here, in the
-- case's view and as a REFUSED_EVENT task for the responsible service. Codes and categories only: the message's
-- name, its event id, the rule's code, the stage it found.
CREATE TABLE pathway_anomalies (
    pathway_id   text NOT NULL,
    anomaly_id   text NOT NULL,                 -- anomaly-<pathway change sequence>
    message      text NOT NULL,                 -- workflow signal or update name
    event_id     text NOT NULL,
    code         text NOT NULL,                 -- rule code, IMPLAUSIBLE_DATE or DATA_NOT_APPLICABLE
    stage        text NOT NULL,
    received_on  date NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pathway_id, anomaly_id)
);
CREATE INDEX pathway_anomalies_code_idx ON pathway_anomalies (code, received_on);
