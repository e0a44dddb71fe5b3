"""Sessions and members as the roster told us, desk check-ins, and each ward's data clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.assist.domain import CheckIn, Member, Session

UPSERT_SCHEDULE = """
INSERT INTO shifts (ward_id, shift_id, location, starts_at, ends_at, min_staff)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (ward_id, shift_id) DO UPDATE SET location = EXCLUDED.location,
    starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, min_staff = EXCLUDED.min_staff
"""
CANCEL = """
INSERT INTO shifts (ward_id, shift_id, cancelled, cancel_reason) VALUES ($1, $2, true, $3)
ON CONFLICT (ward_id, shift_id) DO UPDATE SET cancelled = true, cancel_reason = EXCLUDED.cancel_reason
"""
ASSIGN = "INSERT INTO shift_members VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
UNASSIGN = "DELETE FROM shift_members WHERE ward_id = $1 AND shift_id = $2 AND member_id = $3"
UPSERT_MEMBER = """
INSERT INTO members (ward_id, member_id, display_name, active) VALUES ($1, $2, $3, $4)
ON CONFLICT (ward_id, member_id) DO UPDATE SET active = EXCLUDED.active,
    display_name = COALESCE(EXCLUDED.display_name, members.display_name)
"""
_SESSION = """
SELECT s.*, COALESCE(array_agg(m.member_id) FILTER (WHERE m.member_id IS NOT NULL), '{}') AS assigned
FROM shifts s LEFT JOIN shift_members m USING (ward_id, shift_id)
"""
SESSION = _SESSION + "WHERE s.ward_id = $1 AND s.shift_id = $2 GROUP BY s.ward_id, s.shift_id"
SESSIONS_BETWEEN = _SESSION + """
WHERE s.ward_id = $1 AND s.starts_at < $3 AND s.ends_at > $2
GROUP BY s.ward_id, s.shift_id ORDER BY s.starts_at, s.shift_id
"""
MEMBERS = """
SELECT member_id, bool_or(active) AS active FROM (
    SELECT member_id, active FROM members WHERE ward_id = $1 AND member_id = ANY($2)
    UNION ALL
    SELECT member_id, true FROM shift_members WHERE ward_id = $1 AND member_id = ANY($2)
      AND NOT EXISTS (SELECT 1 FROM members r WHERE r.ward_id = $1
                      AND r.member_id = shift_members.member_id)
) known GROUP BY member_id
"""
INSERT_CHECKIN = """
INSERT INTO checkins (checkin_id, ward_id, shift_id, member_id, at, stand_in)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING *
"""
CHECKIN_OF = "SELECT * FROM checkins WHERE ward_id = $1 AND shift_id = $2 AND member_id = $3"
CHECKIN = "SELECT * FROM checkins WHERE ward_id = $1 AND checkin_id = $2"
CHECK_OUT = """
UPDATE checkins SET checked_out_at = $3, checkout_auto = $4
WHERE ward_id = $1 AND checkin_id = $2 AND checked_out_at IS NULL RETURNING *
"""
CHECKINS_OF_SHIFT = "SELECT * FROM checkins WHERE ward_id = $1 AND shift_id = $2 ORDER BY at"
CHECKINS_BETWEEN = """
SELECT c.* FROM checkins c JOIN shifts s USING (ward_id, shift_id)
WHERE c.ward_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3 ORDER BY s.starts_at, c.at
"""
CHECKED_IN_SHIFTS = """
SELECT DISTINCT shift_id FROM checkins
WHERE ward_id = $1 AND member_id = ANY($2) AND shift_id = ANY($3)
"""
# Open check-ins of sessions over by `now` (wall clock) or by their ward's watermark.
DUE_WALL = """
SELECT c.*, s.ends_at, $1::timestamptz AS now FROM checkins c JOIN shifts s USING (ward_id, shift_id)
WHERE c.checked_out_at IS NULL AND s.ends_at <= $1 ORDER BY s.ends_at LIMIT $2
"""
DUE_WATERMARK = """
SELECT c.*, s.ends_at, w.watermark AS now FROM checkins c JOIN shifts s USING (ward_id, shift_id)
JOIN ward_clock w ON w.ward_id = c.ward_id
WHERE c.checked_out_at IS NULL AND s.ends_at <= w.watermark ORDER BY s.ends_at LIMIT $1
"""
ADVANCE_CLOCK = """
INSERT INTO ward_clock (ward_id, watermark) SELECT * FROM unnest($1::text[], $2::timestamptz[])
ON CONFLICT (ward_id) DO UPDATE SET watermark = GREATEST(ward_clock.watermark, EXCLUDED.watermark)
"""
WATERMARK = "SELECT watermark FROM ward_clock WHERE ward_id = $1"


def _session(row: asyncpg.Record) -> Session:
    return Session(ward_id=row["ward_id"], shift_id=row["shift_id"], starts_at=row["starts_at"],
                   ends_at=row["ends_at"], location=row["location"], cancelled=row["cancelled"],
                   cancel_reason=row["cancel_reason"], assigned=frozenset(row["assigned"]))


def _checkin(row: asyncpg.Record) -> CheckIn:
    return CheckIn(checkin_id=row["checkin_id"], ward_id=row["ward_id"], shift_id=row["shift_id"],
                   member_id=row["member_id"], at=row["at"], stand_in=row["stand_in"],
                   checked_out_at=row["checked_out_at"], checkout_auto=row["checkout_auto"])


async def schedule_shift(conn: asyncpg.Connection, *, ward_id: str, shift_id: str, location: str,
                         starts_at: datetime, ends_at: datetime, min_staff: int) -> None:
    await conn.execute(UPSERT_SCHEDULE, ward_id, shift_id, location, starts_at, ends_at, min_staff)


async def cancel_shift(conn: asyncpg.Connection, *, ward_id: str, shift_id: str,
                       reason: str) -> None:
    await conn.execute(CANCEL, ward_id, shift_id, reason)


async def assign(conn: asyncpg.Connection, *, ward_id: str, shift_id: str, member_id: str,
                 assigned: bool) -> None:
    await conn.execute(ASSIGN if assigned else UNASSIGN, ward_id, shift_id, member_id)


async def record_member(conn: asyncpg.Connection, *, ward_id: str, member_id: str,
                        display_name: str | None, active: bool) -> None:
    await conn.execute(UPSERT_MEMBER, ward_id, member_id, display_name, active)


async def session(conn: asyncpg.Connection, *, ward_id: str, shift_id: str) -> Session | None:
    row = await conn.fetchrow(SESSION, ward_id, shift_id)
    return _session(row) if row else None


async def sessions_between(conn: asyncpg.Connection, *, ward_id: str, start: datetime,
                           end: datetime) -> list[Session]:
    return [_session(r) for r in await conn.fetch(SESSIONS_BETWEEN, ward_id, start, end)]


async def members(conn: asyncpg.Connection, *, ward_id: str,
                  member_ids: Sequence[str]) -> dict[str, Member]:
    rows = await conn.fetch(MEMBERS, ward_id, list(member_ids))
    return {r["member_id"]: Member(r["member_id"], r["active"]) for r in rows}


async def add_checkin(conn: asyncpg.Connection, checkin: CheckIn) -> CheckIn | None:
    """The new check-in, or None when the member had already checked in to that session."""
    row = await conn.fetchrow(INSERT_CHECKIN, checkin.checkin_id, checkin.ward_id,
                              checkin.shift_id, checkin.member_id, checkin.at, checkin.stand_in)
    return _checkin(row) if row else None


async def checkin_of(conn: asyncpg.Connection, *, ward_id: str, shift_id: str,
                     member_id: str) -> CheckIn | None:
    row = await conn.fetchrow(CHECKIN_OF, ward_id, shift_id, member_id)
    return _checkin(row) if row else None


async def checkin(conn: asyncpg.Connection, *, ward_id: str, checkin_id: str) -> CheckIn | None:
    row = await conn.fetchrow(CHECKIN, ward_id, checkin_id)
    return _checkin(row) if row else None


async def check_out(conn: asyncpg.Connection, *, ward_id: str, checkin_id: str, at: datetime,
                    auto: bool) -> CheckIn | None:
    """The checked-out check-in, or None when it was checked out meanwhile."""
    row = await conn.fetchrow(CHECK_OUT, ward_id, checkin_id, at, auto)
    return _checkin(row) if row else None


async def checkins_of_shift(conn: asyncpg.Connection, *, ward_id: str,
                            shift_id: str) -> list[CheckIn]:
    return [_checkin(r) for r in await conn.fetch(CHECKINS_OF_SHIFT, ward_id, shift_id)]


async def checkins_between(conn: asyncpg.Connection, *, ward_id: str, start: datetime,
                           end: datetime) -> list[CheckIn]:
    return [_checkin(r) for r in await conn.fetch(CHECKINS_BETWEEN, ward_id, start, end)]


async def checked_in_shifts(conn: asyncpg.Connection, *, ward_id: str, member_ids: Sequence[str],
                            shift_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(CHECKED_IN_SHIFTS, ward_id, list(member_ids), list(shift_ids))
    return {r["shift_id"] for r in rows}


async def due_checkouts(conn: asyncpg.Connection, *, clock: str, now: datetime,
                        limit: int) -> list[tuple[CheckIn, datetime, datetime]]:
    """Open check-ins of sessions that are over, with each session's end and its ward's now."""
    rows = await (conn.fetch(DUE_WALL, now, limit) if clock == "wall"
                  else conn.fetch(DUE_WATERMARK, limit))
    return [(_checkin(r), r["ends_at"], r["now"]) for r in rows]


async def advance_clock(conn: asyncpg.Connection, times: dict[str, datetime]) -> None:
    """Move each ward's watermark forward to the latest time seen in its data."""
    if times:
        await conn.execute(ADVANCE_CLOCK, list(times), list(times.values()))


async def watermark(conn: asyncpg.Connection, *, ward_id: str) -> datetime | None:
    return await conn.fetchval(WATERMARK, ward_id)
