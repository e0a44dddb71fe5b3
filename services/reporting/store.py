"""SQL of the reporting read models: multi-row, commutative upserts, one statement per table family.

The statements that carry most of a batch (facts, shifts, assignments, check-ins, sessions) take
its rows as one array of a row type (migration 103); the others an array per column."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

UPSERT_TEAMS = """
INSERT INTO rp_teams (ward_id, team_id, name, hamlet, v_time, v_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
ON CONFLICT (ward_id, team_id) DO UPDATE SET name = EXCLUDED.name, hamlet = EXCLUDED.hamlet,
    v_time = EXCLUDED.v_time, v_id = EXCLUDED.v_id
WHERE (EXCLUDED.v_time, EXCLUDED.v_id) > (rp_teams.v_time, rp_teams.v_id)
"""
UPSERT_MEMBERS = """
INSERT INTO rp_members (ward_id, member_id, team_id, display_name, occupation, v_time, v_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[])
ON CONFLICT (ward_id, member_id) DO UPDATE SET team_id = EXCLUDED.team_id,
    display_name = EXCLUDED.display_name, occupation = EXCLUDED.occupation,
    v_time = EXCLUDED.v_time, v_id = EXCLUDED.v_id
WHERE rp_members.v_time IS NULL OR (EXCLUDED.v_time, EXCLUDED.v_id) > (rp_members.v_time, rp_members.v_id)
"""
DEACTIVATE_MEMBERS = """
INSERT INTO rp_members (ward_id, member_id, deactivated)
SELECT w, m, true FROM unnest($1::text[], $2::text[]) AS t(w, m)
ON CONFLICT (ward_id, member_id) DO UPDATE SET deactivated = true
"""
UPSERT_SHIFTS = """
INSERT INTO rp_shifts (ward_id, shift_id, scheduled, team_id, location, day, period, starts_at,
                       ends_at, min_staff, v_time, v_id)
SELECT w, s, true, team, loc, d, p, st, en, ms, vt, vi
FROM unnest($1::rp_shift_row[]) AS t(w, s, team, loc, d, p, st, en, ms, vt, vi)
ON CONFLICT (ward_id, shift_id) DO UPDATE SET scheduled = true, team_id = EXCLUDED.team_id,
    location = EXCLUDED.location, day = EXCLUDED.day, period = EXCLUDED.period,
    starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, min_staff = EXCLUDED.min_staff,
    v_time = EXCLUDED.v_time, v_id = EXCLUDED.v_id
WHERE rp_shifts.v_time IS NULL OR (EXCLUDED.v_time, EXCLUDED.v_id) > (rp_shifts.v_time, rp_shifts.v_id)
"""
CANCEL_SHIFTS = """
INSERT INTO rp_shifts (ward_id, shift_id, cancelled)
SELECT w, s, true FROM unnest($1::text[], $2::text[]) AS t(w, s)
ON CONFLICT (ward_id, shift_id) DO UPDATE SET cancelled = true
"""
UPSERT_ASSIGNMENTS = """
INSERT INTO rp_assignments (ward_id, shift_id, member_id, assigned, v_time, v_id)
SELECT * FROM unnest($1::rp_assignment_row[])
ON CONFLICT (ward_id, shift_id, member_id) DO UPDATE SET assigned = EXCLUDED.assigned,
    v_time = EXCLUDED.v_time, v_id = EXCLUDED.v_id
WHERE (EXCLUDED.v_time, EXCLUDED.v_id) > (rp_assignments.v_time, rp_assignments.v_id)
"""
UPSERT_CHECKINS = """
INSERT INTO rp_checkins (ward_id, checkin_id, shift_id, member_id, checked_in_at, checked_out_at)
SELECT * FROM unnest($1::rp_checkin_row[])
ON CONFLICT (ward_id, checkin_id) DO UPDATE SET
    shift_id = LEAST(rp_checkins.shift_id, EXCLUDED.shift_id),
    member_id = LEAST(rp_checkins.member_id, EXCLUDED.member_id),
    checked_in_at = LEAST(rp_checkins.checked_in_at, EXCLUDED.checked_in_at),
    checked_out_at = LEAST(rp_checkins.checked_out_at, EXCLUDED.checked_out_at)
"""
# Facts first; the counters grow only by the facts this statement actually inserted, and it
# answers which input rows those were (their 1-based positions): a dossier's id is its inbox.
INSERT_DOSSIERS = """
WITH input AS (
    SELECT * FROM unnest($1::rp_dossier_row[]) WITH ORDINALITY
        AS t(ward_id, dossier_id, day, channel, field, eligible, fully_online, assisted, n)
), ins AS (
    INSERT INTO rp_dossiers (ward_id, dossier_id, day, channel, field, eligible, fully_online,
                             assisted)
    SELECT t.ward_id, t.dossier_id, t.day, t.channel, t.field, t.eligible, t.fully_online,
           t.assisted OR EXISTS (SELECT 1 FROM rp_dossier_links l
                                 WHERE l.ward_id = t.ward_id AND l.dossier_id = t.dossier_id)
    FROM input t
    ON CONFLICT DO NOTHING
    RETURNING *
), days AS (
    INSERT INTO rp_dossier_days AS d
    SELECT ward_id, day, channel, field, count(*), count(*) FILTER (WHERE eligible),
           count(*) FILTER (WHERE eligible AND fully_online), count(*) FILTER (WHERE assisted)
    FROM ins GROUP BY ward_id, day, channel, field
    ON CONFLICT (ward_id, day, channel, field) DO UPDATE SET
        dossiers = d.dossiers + EXCLUDED.dossiers, eligible = d.eligible + EXCLUDED.eligible,
        fully_online = d.fully_online + EXCLUDED.fully_online,
        assisted = d.assisted + EXCLUDED.assisted
), totals AS (
    INSERT INTO rp_dossier_totals AS d
    SELECT ward_id, channel, field, count(*), count(*) FILTER (WHERE eligible),
           count(*) FILTER (WHERE eligible AND fully_online), count(*) FILTER (WHERE assisted)
    FROM ins GROUP BY ward_id, channel, field
    ON CONFLICT (ward_id, channel, field) DO UPDATE SET
        dossiers = d.dossiers + EXCLUDED.dossiers, eligible = d.eligible + EXCLUDED.eligible,
        fully_online = d.fully_online + EXCLUDED.fully_online,
        assisted = d.assisted + EXCLUDED.assisted
)
SELECT coalesce(array_agg(input.n), '{}') FROM ins JOIN input USING (ward_id, dossier_id)
"""
# An assist naming a dossier already counted as not assisted moves it to assisted, once.
LINK_DOSSIERS = """
WITH links AS (
    INSERT INTO rp_dossier_links (ward_id, dossier_id)
    SELECT * FROM unnest($1::text[], $2::text[])
    ON CONFLICT DO NOTHING
    RETURNING ward_id, dossier_id
), changed AS (
    UPDATE rp_dossiers d SET assisted = true FROM links l
    WHERE d.ward_id = l.ward_id AND d.dossier_id = l.dossier_id AND NOT d.assisted
    RETURNING d.ward_id, d.day, d.channel, d.field
), days AS (
    UPDATE rp_dossier_days d SET assisted = d.assisted + c.n
    FROM (SELECT ward_id, day, channel, field, count(*) AS n FROM changed
          GROUP BY ward_id, day, channel, field) c
    WHERE d.ward_id = c.ward_id AND d.day = c.day AND d.channel = c.channel
      AND d.field = c.field
)
UPDATE rp_dossier_totals d SET assisted = d.assisted + c.n
FROM (SELECT ward_id, channel, field, count(*) AS n FROM changed
      GROUP BY ward_id, channel, field) c
WHERE d.ward_id = c.ward_id AND d.channel = c.channel AND d.field = c.field
"""
# Like the dossiers: an assist's id is its inbox, and the inserted rows' positions come back.
INSERT_ASSISTS = """
WITH input AS (
    SELECT * FROM unnest($1::rp_assist_row[]) WITH ORDINALITY
        AS t(ward_id, assist_id, day, venue, outcome, duration_ms, rated, satisfied,
             vneid_blocked, reason, le, n)
), ins AS (
    INSERT INTO rp_assists (ward_id, assist_id, day, venue, outcome)
    SELECT ward_id, assist_id, day, venue, outcome FROM input
    ON CONFLICT DO NOTHING
    RETURNING ward_id, assist_id
), new AS (
    SELECT input.* FROM input JOIN ins USING (ward_id, assist_id)
), days AS (
    INSERT INTO rp_assist_days AS a
    SELECT ward_id, day, venue, outcome, count(*), sum(duration_ms), count(*) FILTER (WHERE rated),
           count(*) FILTER (WHERE satisfied), count(*) FILTER (WHERE vneid_blocked)
    FROM new GROUP BY ward_id, day, venue, outcome
    ON CONFLICT (ward_id, day, venue, outcome) DO UPDATE SET
        assists = a.assists + EXCLUDED.assists, duration_ms = a.duration_ms + EXCLUDED.duration_ms,
        rated = a.rated + EXCLUDED.rated, satisfied = a.satisfied + EXCLUDED.satisfied,
        vneid_blocked = a.vneid_blocked + EXCLUDED.vneid_blocked
), totals AS (
    INSERT INTO rp_assist_totals AS a
    SELECT ward_id, venue, outcome, count(*), sum(duration_ms), count(*) FILTER (WHERE rated),
           count(*) FILTER (WHERE satisfied), count(*) FILTER (WHERE vneid_blocked)
    FROM new GROUP BY ward_id, venue, outcome
    ON CONFLICT (ward_id, venue, outcome) DO UPDATE SET
        assists = a.assists + EXCLUDED.assists, duration_ms = a.duration_ms + EXCLUDED.duration_ms,
        rated = a.rated + EXCLUDED.rated, satisfied = a.satisfied + EXCLUDED.satisfied,
        vneid_blocked = a.vneid_blocked + EXCLUDED.vneid_blocked
), reasons AS (
    INSERT INTO rp_assist_reasons AS r
    SELECT ward_id, day, reason, count(*) FROM new WHERE reason IS NOT NULL
    GROUP BY ward_id, day, reason
    ON CONFLICT (ward_id, day, reason) DO UPDATE SET assists = r.assists + EXCLUDED.assists
), durations AS (
    INSERT INTO rp_assist_durations AS h
    SELECT ward_id, le, count(*) FROM new GROUP BY ward_id, le
    ON CONFLICT (ward_id, le) DO UPDATE SET assists = h.assists + EXCLUDED.assists
)
SELECT coalesce(array_agg(n), '{}') FROM new
"""
UPSERT_WARDS = """
INSERT INTO rp_wards AS w (ward_id, first_day, last_day, watermark)
SELECT * FROM unnest($1::text[], $2::date[], $3::date[], $4::timestamptz[])
ON CONFLICT (ward_id) DO UPDATE SET first_day = LEAST(w.first_day, EXCLUDED.first_day),
    last_day = GREATEST(w.last_day, EXCLUDED.last_day),
    watermark = GREATEST(w.watermark, EXCLUDED.watermark)
"""
INSERT_WARD_DAYS = """
INSERT INTO rp_ward_days (ward_id, day) SELECT * FROM unnest($1::text[], $2::date[])
ON CONFLICT DO NOTHING
"""
LOCK_KEYS = """
SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, n)
"""
WATERMARKS = "SELECT ward_id, watermark FROM rp_wards WHERE ward_id = ANY($1::text[])"
SESSION_FACTS = """
SELECT s.* FROM rp_shifts s JOIN unnest($1::text[], $2::text[]) AS t(w, id)
    ON s.ward_id = t.w AND s.shift_id = t.id
"""
SESSION_ASSIGNED = """
SELECT a.ward_id, a.shift_id, a.member_id FROM rp_assignments a
JOIN unnest($1::text[], $2::text[]) AS t(w, id) ON a.ward_id = t.w AND a.shift_id = t.id
WHERE a.assigned
"""
SESSION_CHECKINS = """
SELECT c.ward_id, c.shift_id, c.member_id, c.checked_in_at, c.checked_out_at FROM rp_checkins c
JOIN unnest($1::text[], $2::text[]) AS t(w, id) ON c.ward_id = t.w AND c.shift_id = t.id
"""
UPDATE_SESSIONS = """
UPDATE rp_shifts s SET status = t.status, on_time = t.on_time, seconds = t.seconds,
    ended = t.ended, decide_at = t.decide_at
FROM unnest($1::rp_session_row[]) AS t(w, id, status, on_time, seconds, ended, decide_at)
WHERE s.ward_id = t.w AND s.shift_id = t.id
"""
DELETE_MEMBER_SESSIONS = """
DELETE FROM rp_member_sessions m USING unnest($1::text[], $2::text[]) AS t(w, id)
WHERE m.ward_id = t.w AND m.shift_id = t.id
"""
INSERT_MEMBER_SESSIONS = """
INSERT INTO rp_member_sessions (ward_id, shift_id, member_id, day, seconds, on_time)
SELECT * FROM unnest($1::rp_member_session_row[])
"""
ADD_WARD_SHIFT_TOTALS = """
INSERT INTO rp_ward_shift_totals AS w (ward_id, scheduled, staffed, understaffed, cancelled, seconds)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::bigint[])
ON CONFLICT (ward_id) DO UPDATE SET scheduled = w.scheduled + EXCLUDED.scheduled,
    staffed = w.staffed + EXCLUDED.staffed, understaffed = w.understaffed + EXCLUDED.understaffed,
    cancelled = w.cancelled + EXCLUDED.cancelled, seconds = w.seconds + EXCLUDED.seconds
"""
DUE_SESSIONS_WALL = """
SELECT ward_id, shift_id FROM rp_shifts WHERE decide_at <= $1 ORDER BY decide_at LIMIT $2
"""
DUE_SESSIONS_WATERMARK = """
SELECT s.ward_id, s.shift_id FROM rp_wards w
JOIN LATERAL (SELECT ward_id, shift_id FROM rp_shifts s
              WHERE s.ward_id = w.ward_id AND s.decide_at <= w.watermark LIMIT $1) s ON true
WHERE w.watermark IS NOT NULL LIMIT $1
"""
RECORD_ALERTS = """
INSERT INTO rp_alerts (kind, ward_id, key, event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING
RETURNING ward_id, key
"""


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit advisory lock key."""
    digest = hashlib.blake2b("/".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> None:
    """Serialise the transactions that recompute the same sessions (sorted: no lock cycles)."""
    if keys:
        await conn.fetchval(LOCK_KEYS, sorted({lock_key("rp-session", *k) for k in keys}))


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows to the column arrays that unnest() takes."""
    return [[row[i] for row in rows] for i in range(width)] if rows else [[] for _ in range(width)]


def _arguments(rows: Sequence[Sequence[Any]], width: int | None) -> list[Any]:
    """A statement's parameters: the rows as one array of a row type (`$1::rp_*_row[]`, the
    statements that carry most of a batch: migration 103), or `width` column arrays."""
    return [rows] if width is None else columns(rows, width)


async def execute_rows(conn: asyncpg.Connection, sql: str, rows: Sequence[Sequence[Any]],
                       width: int | None = None) -> None:
    if rows:
        await conn.execute(sql, *_arguments(rows, width))


async def inserted(conn: asyncpg.Connection, sql: str, rows: Sequence[Sequence[Any]],
                   width: int | None = None) -> list[int]:
    """Run a fact statement that answers the positions (0-based here) of the rows it inserted."""
    if not rows:
        return []
    return [n - 1 for n in await conn.fetchval(sql, *_arguments(rows, width))]


async def watermarks(conn: asyncpg.Connection, wards: Sequence[str]) -> dict[str, datetime | None]:
    rows = await conn.fetch(WATERMARKS, list(wards))
    return {r["ward_id"]: r["watermark"] for r in rows}


async def record_alerts(conn: asyncpg.Connection, kind: str,
                        items: Sequence[tuple[str, str, str]]) -> set[tuple[str, str]]:
    """Record (ward, key, event id) alerts; returns the (ward, key) not recorded before."""
    if not items:
        return set()
    rows = await conn.fetch(RECORD_ALERTS, [kind] * len(items), *columns(items, 3))
    return {(r["ward_id"], r["key"]) for r in rows}
