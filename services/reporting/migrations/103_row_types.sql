-- The rows of the statements that carry most of a batch travel as one array of these row types,
-- not as an array per column: asyncpg checks every element of an array parameter for nesting
-- (two isinstance checks against collections.abc per text element), so one array of rows
-- costs a fraction of the same rows as columns (tests/bench/write_path.py: the transaction's
-- process CPU per event -10% for the roster topic, -20% for the assist topic).
CREATE TYPE rp_dossier_row AS (
    ward_id text, dossier_id text, day date, channel text, field text, eligible boolean,
    fully_online boolean, assisted boolean
);
CREATE TYPE rp_shift_row AS (
    ward_id text, shift_id text, team_id text, location text, day date, period text,
    starts_at timestamptz, ends_at timestamptz, min_staff int, v_time timestamptz, v_id text
);
CREATE TYPE rp_assignment_row AS (
    ward_id text, shift_id text, member_id text, assigned boolean, v_time timestamptz, v_id text
);
CREATE TYPE rp_session_row AS (
    ward_id text, shift_id text, status text, on_time int, seconds bigint, ended boolean,
    decide_at timestamptz
);
CREATE TYPE rp_member_session_row AS (
    ward_id text, shift_id text, member_id text, day date, seconds bigint, on_time boolean
);
CREATE TYPE rp_assist_row AS (
    ward_id text, assist_id text, day date, venue text, outcome text, duration_ms bigint,
    rated boolean, satisfied boolean, vneid_blocked boolean, reason text, le double precision
);
CREATE TYPE rp_checkin_row AS (
    ward_id text, checkin_id text, shift_id text, member_id text, checked_in_at timestamptz,
    checked_out_at timestamptz
);
