-- Read models of the reporting service. Every write is commutative (insert-if-absent facts,
-- counters incremented only by the facts actually inserted, last-writer-wins by (event time, id),
-- LEAST/GREATEST) or recomputed from facts (the rp_shifts derived columns), so that applying the
-- same events in any order converges to the same rows. Counts are integers and durations are
-- whole seconds or milliseconds, so sums are exact and reports equal /metrics to the last digit.

-- Facts --------------------------------------------------------------------------------------
CREATE TABLE rp_teams (
    ward_id text NOT NULL, team_id text NOT NULL,
    name text NOT NULL, hamlet text NOT NULL,
    v_time timestamptz NOT NULL, v_id text NOT NULL,          -- last writer wins
    PRIMARY KEY (ward_id, team_id)
);

CREATE TABLE rp_members (
    ward_id text NOT NULL, member_id text NOT NULL,
    team_id text, display_name text, occupation text,
    v_time timestamptz, v_id text,                            -- last member.registered wins
    deactivated boolean NOT NULL DEFAULT false,
    PRIMARY KEY (ward_id, member_id)
);

CREATE TABLE rp_shifts (
    ward_id text NOT NULL, shift_id text NOT NULL,
    -- facts: filled by shift.scheduled (last writer wins) and shift.cancelled, in any order
    scheduled boolean NOT NULL DEFAULT false,
    team_id text, location text, day date, period text,
    starts_at timestamptz, ends_at timestamptz, min_staff integer,
    v_time timestamptz, v_id text,
    cancelled boolean NOT NULL DEFAULT false,
    -- derived from the facts and the clock (recomputed, never incremented)
    status text NOT NULL DEFAULT 'unknown',   -- unknown | pending | staffed | understaffed | cancelled
    on_time integer NOT NULL DEFAULT 0,       -- distinct assigned members checked in within the grace
    seconds bigint NOT NULL DEFAULT 0,        -- volunteer time, capped at the session
    ended boolean NOT NULL DEFAULT false,     -- the session is over by the clock
    decide_at timestamptz,                    -- when the clock next changes something here
    PRIMARY KEY (ward_id, shift_id)
);
CREATE INDEX rp_shifts_day ON rp_shifts (ward_id, day);
CREATE INDEX rp_shifts_due ON rp_shifts (decide_at) WHERE decide_at IS NOT NULL;
CREATE INDEX rp_shifts_ward_due ON rp_shifts (ward_id, decide_at) WHERE decide_at IS NOT NULL;

CREATE TABLE rp_assignments (
    ward_id text NOT NULL, shift_id text NOT NULL, member_id text NOT NULL,
    assigned boolean NOT NULL,                                -- last of assigned/unassigned wins
    v_time timestamptz NOT NULL, v_id text NOT NULL,
    PRIMARY KEY (ward_id, shift_id, member_id)
);

CREATE TABLE rp_checkins (
    ward_id text NOT NULL, checkin_id text NOT NULL,
    shift_id text NOT NULL, member_id text NOT NULL,
    checked_in_at timestamptz, checked_out_at timestamptz,  -- filled by whichever event arrives
    PRIMARY KEY (ward_id, checkin_id)
);
CREATE INDEX rp_checkins_shift ON rp_checkins (ward_id, shift_id);

-- Derived per member and session (recomputed with the session).
CREATE TABLE rp_member_sessions (
    ward_id text NOT NULL, shift_id text NOT NULL, member_id text NOT NULL,
    day date NOT NULL, seconds bigint NOT NULL, on_time boolean NOT NULL,
    PRIMARY KEY (ward_id, shift_id, member_id)
);
CREATE INDEX rp_member_sessions_day ON rp_member_sessions (ward_id, day);

CREATE TABLE rp_dossiers (                                   -- first dossier.received wins
    ward_id text NOT NULL, dossier_id text NOT NULL,
    day date NOT NULL, channel text NOT NULL, field text NOT NULL,
    eligible boolean NOT NULL, fully_online boolean NOT NULL, assisted boolean NOT NULL,
    PRIMARY KEY (ward_id, dossier_id)
);

CREATE TABLE rp_assists (                                    -- first assist.completed wins
    ward_id text NOT NULL, assist_id text NOT NULL,
    day date NOT NULL, venue text NOT NULL, outcome text NOT NULL,
    PRIMARY KEY (ward_id, assist_id)
);

-- Aggregates, incremented by the facts a batch inserted (never by a duplicate) ----------------
CREATE TABLE rp_dossier_days (
    ward_id text NOT NULL, day date NOT NULL, channel text NOT NULL, field text NOT NULL,
    dossiers bigint NOT NULL, eligible bigint NOT NULL,
    fully_online bigint NOT NULL,                -- eligible and fully online
    assisted bigint NOT NULL,                    -- submitted with desk help
    PRIMARY KEY (ward_id, day, channel, field)
);
CREATE TABLE rp_dossier_totals (
    ward_id text NOT NULL, channel text NOT NULL, field text NOT NULL,
    dossiers bigint NOT NULL, eligible bigint NOT NULL, fully_online bigint NOT NULL,
    assisted bigint NOT NULL,
    PRIMARY KEY (ward_id, channel, field)
);

CREATE TABLE rp_assist_days (
    ward_id text NOT NULL, day date NOT NULL, venue text NOT NULL, outcome text NOT NULL,
    assists bigint NOT NULL, duration_ms bigint NOT NULL, rated bigint NOT NULL,
    satisfied bigint NOT NULL, vneid_blocked bigint NOT NULL,
    PRIMARY KEY (ward_id, day, venue, outcome)
);
CREATE TABLE rp_assist_totals (
    ward_id text NOT NULL, venue text NOT NULL, outcome text NOT NULL,
    assists bigint NOT NULL, duration_ms bigint NOT NULL, rated bigint NOT NULL,
    satisfied bigint NOT NULL, vneid_blocked bigint NOT NULL,
    PRIMARY KEY (ward_id, venue, outcome)
);
CREATE TABLE rp_assist_reasons (             -- assists that did not end online, by reason
    ward_id text NOT NULL, day date NOT NULL, reason text NOT NULL, assists bigint NOT NULL,
    PRIMARY KEY (ward_id, day, reason)
);
CREATE TABLE rp_assist_durations (           -- histogram buckets, not cumulative
    ward_id text NOT NULL, le double precision NOT NULL, assists bigint NOT NULL,
    PRIMARY KEY (ward_id, le)
);

-- Sessions per ward, adjusted by (new - old) whenever a session is recomputed.
CREATE TABLE rp_ward_shift_totals (
    ward_id text PRIMARY KEY,
    scheduled bigint NOT NULL DEFAULT 0, staffed bigint NOT NULL DEFAULT 0,
    understaffed bigint NOT NULL DEFAULT 0, cancelled bigint NOT NULL DEFAULT 0,
    seconds bigint NOT NULL DEFAULT 0
);

-- Wards: the campaign's first and last day with data, and the data watermark (latest time seen).
CREATE TABLE rp_wards (
    ward_id text PRIMARY KEY,
    first_day date, last_day date,
    watermark timestamptz
);

CREATE TABLE rp_ward_days (                  -- days with data, and whether summarised yet
    ward_id text NOT NULL, day date NOT NULL, summarized boolean NOT NULL DEFAULT false,
    PRIMARY KEY (ward_id, day)
);
CREATE INDEX rp_ward_days_open ON rp_ward_days (day) WHERE NOT summarized;

-- Alerts and summaries emitted: kept across rebuilds, so each is published exactly once.
CREATE TABLE rp_alerts (
    kind text NOT NULL, ward_id text NOT NULL, key text NOT NULL,
    event_id text NOT NULL, emitted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, ward_id, key)
);

-- The rebuild in progress (at most one row): re-reading the topics from their beginning.
CREATE TABLE rp_rebuild (
    id integer PRIMARY KEY CHECK (id = 1),
    generation integer NOT NULL,
    state text NOT NULL,                     -- running | done
    started_at timestamptz NOT NULL, finished_at timestamptz,
    starts jsonb NOT NULL DEFAULT '{}',      -- "topic:partition" -> first offset
    targets jsonb NOT NULL DEFAULT '{}',     -- "topic:partition" -> high watermark to reach
    positions jsonb NOT NULL DEFAULT '{}',   -- "topic:partition" -> next offset to read
    applied bigint NOT NULL DEFAULT 0
);
CREATE INDEX rp_ward_days_ward_open ON rp_ward_days (ward_id, day) WHERE NOT summarized;
