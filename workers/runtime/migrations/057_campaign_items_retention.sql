-- Retention purges a pathway's « perdus de vue » campaign items with its other rows (activities/retention.py,
-- PATHWAY_TABLES): an index to find them by pathway id (the primary key leads with the campaign).
CREATE INDEX lost_from_view_campaign_items_pathway_idx ON lost_from_view_campaign_items (pathway_id);
