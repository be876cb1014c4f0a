-- People's commands applied to a pathway, with who sent them (issue 12): the calling service (from its API
-- token) and the acting person's opaque id (X-Actor header, ``agent:<id>``, never a name). Written by the
-- pathway's read-model activity; ``seq`` is the pathway's change sequence, so a retried write does nothing.
CREATE TABLE pathway_decisions (
    pathway_id  text NOT NULL,
    seq         bigint NOT NULL,
    command     text NOT NULL,      -- the workflow update's name (sign_cer, decide_reorientation, ...)
    decided_on  date NOT NULL,      -- the pathway's civil day when it was applied
    stage       text NOT NULL,      -- the stage after it
    service     text,               -- the calling service; NULL for commands sent before actors existed
    actor       text,               -- opaque person id (agent:<id>)
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pathway_id, seq)
);
CREATE INDEX pathway_decisions_actor_idx ON pathway_decisions (actor, decided_on);
