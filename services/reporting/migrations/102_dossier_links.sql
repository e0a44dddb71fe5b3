-- Which dossiers an assist produced. A dossier that reaches intake before its assist is
-- published with assisted = false; the link then arrives in assist.completed.dossier_id.
-- A dossier counts as assisted when either says so, whichever arrives first.
CREATE TABLE rp_dossier_links (
    ward_id text NOT NULL, dossier_id text NOT NULL,
    PRIMARY KEY (ward_id, dossier_id)
);
