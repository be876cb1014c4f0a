-- Issue 18: the contract a CER row records, named by the case's rule set (CER under the 2023 rules, contrat
-- d'engagement under the 2025 rules of the loi « pour le plein emploi »), and the weekly hours of a contrat
-- d'engagement. Rows written before are CERs.
ALTER TABLE pathway_cers ADD COLUMN contract_kind text NOT NULL DEFAULT 'CER'
    CHECK (contract_kind IN ('CER', 'CONTRAT_ENGAGEMENT'));
ALTER TABLE pathway_cers ADD COLUMN weekly_hours smallint CHECK (weekly_hours BETWEEN 0 AND 35);
