-- Flow import into pathways (issue 5, item 4). No personal data: persons are known by the opaque person id
-- (keyed hash of the NIR); the state holds dates, CNAF codes and observation ids only.

-- The last flow observation applied to each person, what domain.flux_events.derive_events diffs against.
CREATE TABLE flux_observations (
    person_id            text PRIMARY KEY,
    state                jsonb NOT NULL,             -- domain.flux_events.PersonFlowState
    pathway              boolean NOT NULL DEFAULT false, -- a flow started (signal-with-start) the person's pathway
    pathway_file_digest  text,                       -- the file whose import started it
    file_digest          text NOT NULL,              -- last file applied to the person
    position             integer NOT NULL,           -- and the household's position in it
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flux_observations_pathway_file_idx ON flux_observations (pathway_file_digest)
    WHERE pathway_file_digest IS NOT NULL;

-- Households whose pathway signals are being sent: written before the first signal, removed in the
-- transaction that writes the ledger row. A row left behind by a crash means "some of these signals may
-- have reached the pathway": the resumed import checks the pathway's history before sending each again.
CREATE TABLE flux_signal_intents (
    file_digest  text NOT NULL,
    position     integer NOT NULL CHECK (position > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_digest, position)
);
