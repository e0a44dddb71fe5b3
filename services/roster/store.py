"""Wards, teams and members in the roster database (SQL as constants, keyword-only verbs)."""

import json
from collections.abc import Sequence

import asyncpg

from services.roster.importer import MemberRow, TeamRow
from services.roster.records import MemberRecord, TeamRecord

LOCK_WARD = "SELECT pg_advisory_xact_lock(hashtextextended('cdt-roster:' || $1, 0))"
ENSURE_WARD = "INSERT INTO wards (ward_id) VALUES ($1) ON CONFLICT DO NOTHING"
GET_RULES = "SELECT rules FROM wards WHERE ward_id = $1"
SET_RULES = """
INSERT INTO wards (ward_id, rules) VALUES ($1, $2::jsonb)
ON CONFLICT (ward_id) DO UPDATE SET rules = excluded.rules, updated_at = now()
"""
TEAMS = """
SELECT team_id, name, hamlet, leader_member_id, position FROM teams
WHERE ward_id = $1 ORDER BY position, team_id
"""
UPSERT_TEAMS = """
INSERT INTO teams (ward_id, team_id, name, hamlet, leader_member_id, position)
SELECT $1, t.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
    AS t(team_id, name, hamlet, leader, position)
ON CONFLICT (ward_id, team_id) DO UPDATE SET name = excluded.name, hamlet = excluded.hamlet,
    leader_member_id = excluded.leader_member_id, updated_at = now()
"""
SET_LEADER = "UPDATE teams SET leader_member_id = $3, updated_at = now() WHERE ward_id = $1 AND team_id = $2"
MEMBERS = """
SELECT member_id, team_id, display_name, occupation, is_leader, unavailable, active, phone
FROM members WHERE ward_id = $1 AND ($2::bool IS NULL OR active = $2)
    AND ($3::text IS NULL OR team_id = $3) AND ($4::text IS NULL OR member_id = $4)
ORDER BY team_id, member_id
"""
UPSERT_MEMBERS = """
INSERT INTO members (ward_id, member_id, team_id, display_name, occupation, is_leader, phone,
                     unavailable)
SELECT $1, m.member_id, m.team_id, m.name, m.occupation, m.is_leader, m.phone,
       COALESCE((SELECT array_agg(d::date) FROM jsonb_array_elements_text(m.unavailable) d), '{}')
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::jsonb[])
    AS m(member_id, team_id, name, occupation, is_leader, phone, unavailable)
ON CONFLICT (ward_id, member_id) DO UPDATE SET team_id = excluded.team_id,
    display_name = excluded.display_name, occupation = excluded.occupation,
    is_leader = excluded.is_leader, phone = excluded.phone, unavailable = excluded.unavailable,
    active = true, deactivated_reason = NULL, updated_at = now()
"""
DEACTIVATE = """
UPDATE members SET active = false, deactivated_reason = $3, is_leader = false, updated_at = now()
WHERE ward_id = $1 AND member_id = ANY($2::text[]) AND active
"""


async def lock_ward(conn: asyncpg.Connection, *, ward_id: str) -> None:
    """Serialise the writes of one ward until the end of the transaction."""
    await conn.execute(LOCK_WARD, ward_id)


async def ensure_ward(conn: asyncpg.Connection, *, ward_id: str) -> None:
    await conn.execute(ENSURE_WARD, ward_id)


async def get_rules(conn: asyncpg.Connection, *, ward_id: str) -> dict:
    stored = await conn.fetchval(GET_RULES, ward_id)
    return dict(json.loads(stored)) if stored else {}


async def set_rules(conn: asyncpg.Connection, *, ward_id: str, rules: dict) -> None:
    await conn.execute(SET_RULES, ward_id, json.dumps(rules))


async def list_teams(conn: asyncpg.Connection, *, ward_id: str) -> list[TeamRecord]:
    return [TeamRecord(**dict(r)) for r in await conn.fetch(TEAMS, ward_id)]


async def upsert_teams(conn: asyncpg.Connection, *, ward_id: str, teams: Sequence[TeamRow],
                       positions: dict[str, int]) -> None:
    if teams:
        await conn.execute(UPSERT_TEAMS, ward_id, [t.team_id for t in teams], [t.name for t in teams],
                           [t.hamlet for t in teams], [t.leader_member_id for t in teams],
                           [positions[t.team_id] for t in teams])


async def set_leader(conn: asyncpg.Connection, *, ward_id: str, team_id: str,
                     leader_member_id: str | None) -> None:
    await conn.execute(SET_LEADER, ward_id, team_id, leader_member_id)


def _member(row: asyncpg.Record) -> MemberRecord:
    return MemberRecord(member_id=row["member_id"], team_id=row["team_id"], name=row["display_name"],
                        occupation=row["occupation"], is_leader=row["is_leader"],
                        unavailable=frozenset(row["unavailable"]), active=row["active"],
                        phone=row["phone"])


async def list_members(conn: asyncpg.Connection, *, ward_id: str, active: bool | None = None,
                       team_id: str | None = None, member_id: str | None = None) -> list[MemberRecord]:
    return [_member(r) for r in await conn.fetch(MEMBERS, ward_id, active, team_id, member_id)]


async def get_member(conn: asyncpg.Connection, *, ward_id: str, member_id: str) -> MemberRecord | None:
    found = await list_members(conn, ward_id=ward_id, member_id=member_id)
    return found[0] if found else None


async def upsert_members(conn: asyncpg.Connection, *, ward_id: str, members: Sequence[MemberRow]) -> None:
    """Register or update members; registering makes a member active again."""
    if members:
        await conn.execute(
            UPSERT_MEMBERS, ward_id, [m.member_id for m in members], [m.team_id for m in members],
            [m.name for m in members], [m.occupation for m in members], [m.is_leader for m in members],
            [m.phone for m in members],
            [json.dumps(sorted(d.isoformat() for d in m.unavailable)) for m in members])


async def deactivate_members(conn: asyncpg.Connection, *, ward_id: str, member_ids: Sequence[str],
                             reason: str) -> None:
    await conn.execute(DEACTIVATE, ward_id, list(member_ids), reason)
