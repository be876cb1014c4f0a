-- Issue 14: G-B2, the RSA right's own entry date beside the CAF transmission date (entry_date, the orientation
-- clock's start); §3.8, the GESICA entry domain of a CER signed on the CAF route (for the CAF's annual report).
ALTER TABLE pathways ADD COLUMN rsa_entry_date date;
ALTER TABLE pathway_cers ADD COLUMN gesica_domain text;
