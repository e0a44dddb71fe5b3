-- Access tokens: only their id and claims are kept, never the token itself.
CREATE TABLE tokens (
    jti         text PRIMARY KEY,
    ward_id     text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('operator', 'desk', 'viewer')),
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX tokens_ward ON tokens (ward_id);
