-- The roster: wards and their planning settings, teams, members, shifts, assignments, check-ins.
-- Every table is keyed by ward first: a store always filters by ward, so a guessed id of
-- another ward is simply not found.

CREATE TABLE wards (
    ward_id     text        PRIMARY KEY,
    rules       jsonb       NOT NULL DEFAULT '{}',   -- WardRules overrides (wardrules.py)
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    ward_id          text        NOT NULL REFERENCES wards,
    team_id          text        NOT NULL,
    name             text        NOT NULL,
    hamlet           text        NOT NULL,
    leader_member_id text,
    position         integer     NOT NULL,          -- registration order = default rotation
    registered_at    timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ward_id, team_id)
);

CREATE TABLE members (
    ward_id            text        NOT NULL,
    member_id          text        NOT NULL,
    team_id            text        NOT NULL,
    display_name       text        NOT NULL,
    occupation         text        NOT NULL,
    is_leader          boolean     NOT NULL DEFAULT false,
    phone              text,                        -- kept only here: never on the bus
    unavailable        date[]      NOT NULL DEFAULT '{}',
    active             boolean     NOT NULL DEFAULT true,
    deactivated_reason text,
    registered_at      timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ward_id, member_id),
    FOREIGN KEY (ward_id, team_id) REFERENCES teams
);
CREATE INDEX members_by_team ON members (ward_id, team_id);

CREATE TABLE shifts (
    ward_id       text        NOT NULL REFERENCES wards,
    shift_id      text        NOT NULL,
    team_id       text        NOT NULL,
    date          date        NOT NULL,
    period        text        NOT NULL CHECK (period IN ('morning', 'afternoon', 'evening')),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    location      text        NOT NULL,
    min_staff     integer     NOT NULL CHECK (min_staff >= 1),
    status        text        NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
    cancel_reason text,
    pinned        boolean     NOT NULL DEFAULT false,  -- changed by hand: a re-plan keeps it
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ward_id, shift_id)
);
CREATE INDEX shifts_by_date ON shifts (ward_id, date);

CREATE TABLE assignments (
    ward_id     text        NOT NULL,
    shift_id    text        NOT NULL,
    member_id   text        NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ward_id, shift_id, member_id),
    FOREIGN KEY (ward_id, shift_id) REFERENCES shifts,
    FOREIGN KEY (ward_id, member_id) REFERENCES members
);
CREATE INDEX assignments_by_member ON assignments (ward_id, member_id);

-- From desk.checked_in (cdt.assist.events): a shift someone checked in to is never re-planned.
-- No foreign key: events of different topics arrive in any order.
CREATE TABLE checkins (
    ward_id    text        NOT NULL,
    checkin_id text        NOT NULL,
    shift_id   text        NOT NULL,
    member_id  text        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (ward_id, checkin_id)
);
CREATE INDEX checkins_by_shift ON checkins (ward_id, shift_id);
