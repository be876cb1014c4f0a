-- Caseload adoption (issue 19): a person adopted by CAF matricule + rank (no NIR in the former tool) and later
-- brought by a CAF flow with the NIR is one person with one pathway. The adoption keeps the opaque key of the
-- matricule and rank (keyed hash, like the NIR's); the first CAF flow that carries the NIR at that matricule and
-- rank links the NIR's person id to the adopted pathway, and every entry by NIR resolves through the link.
-- Opaque ids and digests only.
ALTER TABLE caseload_adoptions ADD COLUMN caf_key text;
CREATE INDEX caseload_adoptions_caf_key ON caseload_adoptions (caf_key) WHERE caf_key IS NOT NULL;

CREATE TABLE caseload_person_links (
    person_id        text PRIMARY KEY,   -- the NIR's person id (domain.identity.person_id)
    linked_person_id text NOT NULL,      -- the person id of the pathway that follows the person
    pathway_id       text NOT NULL,      -- pathway-<linked_person_id> (retention purges the link with the pathway)
    caf_key          text NOT NULL,      -- domain.identity.caf_person_id of the matricule and rank
    file_digest      text NOT NULL,      -- the file that brought the NIR with the matricule and rank
    linked_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX caseload_person_links_pathway ON caseload_person_links (pathway_id);
