"""Shifts, assignments and check-ins in the roster database (SQL as constants, keyword-only verbs)."""

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from services.roster.changes import Pair
from services.roster.domain import Session
from services.roster.exports import WARD_TIMEZONE
from services.roster.records import ShiftRecord

WARD_TZ = ZoneInfo(WARD_TIMEZONE)

SHIFTS = """
SELECT s.shift_id, s.team_id, s.date, s.period, s.starts_at, s.ends_at, s.location, s.min_staff,
       s.status, s.cancel_reason, s.pinned,
       COALESCE(array_agg(a.member_id ORDER BY a.member_id) FILTER (WHERE a.member_id IS NOT NULL),
                '{}') AS members,
       ARRAY(SELECT DISTINCT c.member_id FROM checkins c WHERE c.ward_id = s.ward_id
             AND c.shift_id = s.shift_id ORDER BY c.member_id) AS checked_in
FROM shifts s LEFT JOIN assignments a ON a.ward_id = s.ward_id AND a.shift_id = s.shift_id
WHERE s.ward_id = $1 AND ($2::date IS NULL OR s.date >= $2) AND ($3::date IS NULL OR s.date <= $3)
    AND ($4::text[] IS NULL OR s.shift_id = ANY($4))
    AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM assignments m WHERE m.ward_id = s.ward_id
                                     AND m.shift_id = s.shift_id AND m.member_id = $5))
GROUP BY s.ward_id, s.shift_id ORDER BY s.starts_at, s.shift_id
"""
SAVE_SHIFTS = """
INSERT INTO shifts (ward_id, shift_id, team_id, date, period, starts_at, ends_at, location, min_staff)
SELECT $1, s.* FROM unnest($2::text[], $3::text[], $4::date[], $5::text[], $6::timestamptz[],
                           $7::timestamptz[], $8::text[], $9::int[])
    AS s(shift_id, team_id, date, period, starts_at, ends_at, location, min_staff)
ON CONFLICT (ward_id, shift_id) DO UPDATE SET team_id = excluded.team_id,
    starts_at = excluded.starts_at, ends_at = excluded.ends_at, location = excluded.location,
    min_staff = excluded.min_staff, updated_at = now()
"""
CANCEL = """
UPDATE shifts SET status = 'cancelled', cancel_reason = $3, updated_at = now()
WHERE ward_id = $1 AND shift_id = ANY($2::text[]) AND status = 'scheduled'
"""
ASSIGN = """
INSERT INTO assignments (ward_id, shift_id, member_id)
SELECT $1, * FROM unnest($2::text[], $3::text[]) ON CONFLICT DO NOTHING
"""
UNASSIGN = """
DELETE FROM assignments a USING unnest($2::text[], $3::text[]) AS p(shift_id, member_id)
WHERE a.ward_id = $1 AND a.shift_id = p.shift_id AND a.member_id = p.member_id
"""
PIN = "UPDATE shifts SET pinned = true, updated_at = now() WHERE ward_id = $1 AND shift_id = ANY($2::text[])"
LOADS_OUTSIDE = """
SELECT a.member_id, count(*) AS load FROM assignments a
JOIN shifts s ON s.ward_id = a.ward_id AND s.shift_id = a.shift_id
JOIN members m ON m.ward_id = a.ward_id AND m.member_id = a.member_id
WHERE a.ward_id = $1 AND m.active AND (s.date < $2 OR s.date > $3)
GROUP BY a.member_id
"""
LAST_TEAM_BEFORE = """
SELECT team_id FROM shifts WHERE ward_id = $1 AND date < $2 ORDER BY starts_at DESC, shift_id DESC
LIMIT 1
"""
RECORD_CHECKINS = """
INSERT INTO checkins (ward_id, checkin_id, shift_id, member_id, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT DO NOTHING
"""


def _shift(row: asyncpg.Record) -> ShiftRecord:
    values = dict(row)
    # PostgreSQL answers in UTC; people and the contract's examples read the ward's local time.
    values["starts_at"] = values["starts_at"].astimezone(WARD_TZ)
    values["ends_at"] = values["ends_at"].astimezone(WARD_TZ)
    values["members"] = tuple(values["members"])
    values["checked_in"] = tuple(values["checked_in"])
    return ShiftRecord(**values)


async def list_shifts(conn: asyncpg.Connection, *, ward_id: str, start: date | None = None,
                      end: date | None = None, member_id: str | None = None,
                      shift_ids: Sequence[str] | None = None) -> list[ShiftRecord]:
    """The ward's shifts in time order, with their members; filters are optional."""
    ids = list(shift_ids) if shift_ids is not None else None
    return [_shift(r) for r in await conn.fetch(SHIFTS, ward_id, start, end, ids, member_id)]


async def get_shift(conn: asyncpg.Connection, *, ward_id: str, shift_id: str) -> ShiftRecord | None:
    found = await list_shifts(conn, ward_id=ward_id, shift_ids=[shift_id])
    return found[0] if found else None


async def save_sessions(conn: asyncpg.Connection, *, ward_id: str, sessions: Sequence[Session]) -> None:
    """Schedule new sessions, or update the team, times, place and minimum of stored ones."""
    if sessions:
        await conn.execute(
            SAVE_SHIFTS, ward_id, [s.shift_id for s in sessions], [s.team_id for s in sessions],
            [s.date for s in sessions], [s.period for s in sessions], [s.starts_at for s in sessions],
            [s.ends_at for s in sessions], [s.location for s in sessions],
            [s.min_staff for s in sessions])


async def cancel_shifts(conn: asyncpg.Connection, *, ward_id: str, shift_ids: Sequence[str],
                        reason: str) -> None:
    await conn.execute(CANCEL, ward_id, list(shift_ids), reason)


async def assign(conn: asyncpg.Connection, *, ward_id: str, pairs: Sequence[Pair]) -> None:
    if pairs:
        await conn.execute(ASSIGN, ward_id, [s for s, _ in pairs], [m for _, m in pairs])


async def unassign(conn: asyncpg.Connection, *, ward_id: str, pairs: Sequence[Pair]) -> None:
    if pairs:
        await conn.execute(UNASSIGN, ward_id, [s for s, _ in pairs], [m for _, m in pairs])


async def pin(conn: asyncpg.Connection, *, ward_id: str, shift_ids: Iterable[str]) -> None:
    """Mark shifts changed by hand, so that a re-plan leaves them as they are."""
    await conn.execute(PIN, ward_id, list(shift_ids))


async def loads_outside(conn: asyncpg.Connection, *, ward_id: str, start: date, end: date) -> dict[str, int]:
    """Each active member's sessions outside [start, end] (cancelled ones too, as in a re-plan)."""
    return {r["member_id"]: r["load"] for r in await conn.fetch(LOADS_OUTSIDE, ward_id, start, end)}


async def last_team_before(conn: asyncpg.Connection, *, ward_id: str, day: date) -> str | None:
    return await conn.fetchval(LAST_TEAM_BEFORE, ward_id, day)


async def record_checkins(conn: asyncpg.Connection, *,
                          checkins: Sequence[tuple[str, str, str, str, datetime]]) -> None:
    """(ward_id, checkin_id, shift_id, member_id, at) rows; a repeated check-in is kept once."""
    if checkins:
        await conn.execute(RECORD_CHECKINS, *(list(column) for column in zip(*checkins, strict=True)))
