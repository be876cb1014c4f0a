-- « Perdus de vue » campaigns (T26, G-B19; issue 14): each monthly run of LostFromViewCampaign, what it selected
-- and whom it convoked. Opaque pathway ids, dates and counts only.
CREATE TABLE lost_from_view_campaigns (
    campaign_id      text PRIMARY KEY,       -- the workflow id (the schedule appends the scheduled time)
    run_on           date NOT NULL,
    cutoff           date NOT NULL,          -- « sans accompagnement » since this day or before
    appointment_date date NOT NULL,
    territory        text,                   -- NULL: every territory
    selected         integer NOT NULL,
    convoked         integer NOT NULL,
    not_found        integer NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lost_from_view_campaigns_run_idx ON lost_from_view_campaigns (run_on);

CREATE TABLE lost_from_view_campaign_items (
    campaign_id text NOT NULL REFERENCES lost_from_view_campaigns ON DELETE CASCADE,
    pathway_id  text NOT NULL,
    outcome     text NOT NULL,               -- CONVOKED, NOT_FOUND
    PRIMARY KEY (campaign_id, pathway_id)
);
