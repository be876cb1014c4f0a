-- Caseloads (issue 12): a territory's, a structure's or a stage's pathways and the label applications by stage,
-- each listed by next deadline (none last, as 9999-12-31) then id, the order of their cursor.
CREATE INDEX pathways_territory_caseload_idx
    ON pathways (territory, (COALESCE(next_deadline, '9999-12-31'::date)), pathway_id);
CREATE INDEX pathways_structure_caseload_idx
    ON pathways (referent_structure_id, (COALESCE(next_deadline, '9999-12-31'::date)), pathway_id)
    WHERE referent_structure_id IS NOT NULL;
CREATE INDEX pathways_caseload_idx ON pathways ((COALESCE(next_deadline, '9999-12-31'::date)), pathway_id);
CREATE INDEX label_applications_caseload_idx
    ON label_applications (stage, (COALESCE(next_deadline, '9999-12-31'::date)), workflow_id);
