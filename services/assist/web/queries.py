"""SQL the desk page needs beyond the service's stores: the ward's members, today's count."""

from __future__ import annotations

from datetime import datetime

import asyncpg

MEMBERS = "SELECT member_id, display_name, active FROM members WHERE ward_id = $1"
MY_ASSISTS = """
SELECT count(*) FROM assists
WHERE ward_id = $1 AND $2 = ANY(member_ids) AND ended_at >= $3 AND ended_at < $4
"""


async def members(conn: asyncpg.Connection, *, ward_id: str) -> dict[str, tuple[str | None, bool]]:
    """member_id -> (display name, active) of every member the roster told us of."""
    rows = await conn.fetch(MEMBERS, ward_id)
    return {r["member_id"]: (r["display_name"], r["active"]) for r in rows}


async def assists_by(conn: asyncpg.Connection, *, ward_id: str, member_id: str, start: datetime,
                     end: datetime) -> int:
    return await conn.fetchval(MY_ASSISTS, ward_id, member_id, start, end)
