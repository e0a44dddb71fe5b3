-- The assist service's own schema (shared delivery tables come from shared/migrations).
CREATE TABLE IF NOT EXISTS assist_meta (key text PRIMARY KEY, value text NOT NULL);
