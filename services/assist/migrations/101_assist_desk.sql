-- Sessions known from the roster, desk check-ins, assists, dossiers received, staged uploads.

-- Order-tolerant: a row may exist for a cancellation or assignment before its schedule arrives.
CREATE TABLE shifts (
    ward_id       text        NOT NULL,
    shift_id      text        NOT NULL,
    location      text,
    starts_at     timestamptz,
    ends_at       timestamptz,
    min_staff     integer,
    cancelled     boolean     NOT NULL DEFAULT false,
    cancel_reason text,
    PRIMARY KEY (ward_id, shift_id)
);
CREATE INDEX shifts_ward_start ON shifts (ward_id, starts_at);
CREATE INDEX shifts_ends ON shifts (ends_at);

CREATE TABLE shift_members (
    ward_id   text NOT NULL,
    shift_id  text NOT NULL,
    member_id text NOT NULL,
    PRIMARY KEY (ward_id, shift_id, member_id)
);
CREATE INDEX shift_members_member ON shift_members (ward_id, member_id);

CREATE TABLE members (
    ward_id      text    NOT NULL,
    member_id    text    NOT NULL,
    display_name text,
    active       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (ward_id, member_id)
);

CREATE TABLE checkins (
    checkin_id     text        PRIMARY KEY,
    ward_id        text        NOT NULL,
    shift_id       text        NOT NULL,
    member_id      text        NOT NULL,
    at             timestamptz NOT NULL,
    stand_in       boolean     NOT NULL,
    checked_out_at timestamptz,
    checkout_auto  boolean     NOT NULL DEFAULT false,
    UNIQUE (ward_id, shift_id, member_id)
);
CREATE INDEX checkins_open ON checkins (ward_id, shift_id) WHERE checked_out_at IS NULL;
CREATE INDEX checkins_ward_at ON checkins (ward_id, at);

CREATE TABLE assists (
    assist_id          text        PRIMARY KEY,
    ward_id            text        NOT NULL,
    shift_id           text,
    member_ids         text[]      NOT NULL,
    venue              text        NOT NULL,
    procedure_code     text,
    field              text        NOT NULL,
    actions            text[]      NOT NULL,
    outcome            text        NOT NULL,
    reason             text,
    dossier_id         text,
    started_at         timestamptz NOT NULL,
    ended_at           timestamptz NOT NULL,
    satisfaction       smallint,
    vneid_level        text,
    citizen_age_band   text,
    citizen_vulnerable boolean     NOT NULL DEFAULT false
);
-- One assist per dossier within a ward: the link between them is unambiguous.
CREATE UNIQUE INDEX assists_dossier ON assists (ward_id, dossier_id) WHERE dossier_id IS NOT NULL;
CREATE INDEX assists_ward_time ON assists (ward_id, ended_at);
CREATE INDEX assists_shift ON assists (ward_id, shift_id);

-- One row per dossier_id (within its ward, so that no ward learns another's ids): the same
-- dossier sent twice, whatever its ce_id, counts once.
CREATE TABLE dossiers (
    dossier_id            text        NOT NULL,
    ward_id               text        NOT NULL,
    procedure_code        text        NOT NULL,
    field                 text        NOT NULL,
    channel               text        NOT NULL,
    received_at           timestamptz NOT NULL,
    assisted              boolean     NOT NULL,  -- as published in dossier.received
    assist_id             text,                  -- the link, whichever arrived first
    linked_at             timestamptz,
    eligible_fully_online boolean     NOT NULL,
    fully_online          boolean     NOT NULL,
    fee_due               boolean,
    paid_online           boolean,
    via                   text        NOT NULL,  -- topic | file
    PRIMARY KEY (ward_id, dossier_id)
);
CREATE INDEX dossiers_ward_time ON dossiers (ward_id, received_at);

-- Per ward, the latest time seen in its data: "now" when CDT_CLOCK=watermark.
CREATE TABLE ward_clock (
    ward_id   text        PRIMARY KEY,
    watermark timestamptz NOT NULL
);

-- Parts of a multi-request intake upload, committed together by its final part.
CREATE TABLE intake_uploads (
    upload_id  text        NOT NULL,
    part       integer     NOT NULL,
    ward_id    text        NOT NULL,
    rows       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_id, part)
);
