-- The probe's state: what it produced (with the outbox) and what it applied (with the inbox).
CREATE TABLE produced (seq bigint PRIMARY KEY, ward_id text NOT NULL);
CREATE TABLE applied (
    event_id text PRIMARY KEY,
    ward_id  text   NOT NULL,
    seq      bigint NOT NULL,
    applied  integer NOT NULL DEFAULT 1,
    position bigserial
);
