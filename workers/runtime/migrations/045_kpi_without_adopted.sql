-- KPIs without the migrated periods (issue 19): pathway_kpi less the pathways adopted from a caseload after their
-- entry (their steps before adopted_on happened in the former tool, replayed here from the caseload's dates).
-- `parcours report kpi --exclude-adopted` reads the new-entrant, accompagnement-global and perdus-de-vue counts
-- from this view instead of pathway_kpi.
CREATE VIEW pathway_kpi_native AS
SELECT k.*
FROM pathway_kpi k
WHERE NOT EXISTS (SELECT 1 FROM caseload_adoptions a
                  WHERE a.pathway_id = k.pathway_id AND (k.entry_date IS NULL OR k.entry_date < a.adopted_on));
