"""Write use cases on teams and members: each one transaction, state change plus outbox events."""

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

import asyncpg

from services.roster import messages, reimport, shift_store, store
from services.roster.changes import Pair, diff_assignments, release_member
from services.roster.domain import PlanRules, Unstaffable, Volunteer
from services.roster.importer import RosterFile, TeamRow, diff_roster
from services.roster.replan import stored_plan
from services.roster.wardrules import WardRules, plan_rules
from shared import outbox
from shared.events.envelope import Event
from shared.events.roster import TOPIC
from shared.http import CdtError


@dataclass
class Outcome:
    """What a write did: counts for people, the changed assignment pairs, sessions left short."""

    events: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    assigned: list[Pair] = field(default_factory=list)
    unassigned: list[Pair] = field(default_factory=list)
    unstaffable: list[Unstaffable] = field(default_factory=list)

    def body(self) -> dict:
        return {**self.counts, "events": self.events,
                "assigned": [{"shift_id": s, "member_id": m} for s, m in self.assigned],
                "unassigned": [{"shift_id": s, "member_id": m} for s, m in self.unassigned],
                "unstaffable": [asdict(u) for u in self.unstaffable]}


@asynccontextmanager
async def ward_transaction(pool: asyncpg.Pool, ward_id: str) -> AsyncIterator[asyncpg.Connection]:
    """One transaction holding the ward's write lock, so two plans never interleave."""
    async with pool.acquire() as conn, conn.transaction():
        await store.lock_ward(conn, ward_id=ward_id)
        yield conn


async def ward_rules(conn: asyncpg.Connection, *, ward_id: str) -> tuple[WardRules, PlanRules]:
    teams = await store.list_teams(conn, ward_id=ward_id)
    rules = WardRules(**await store.get_rules(conn, ward_id=ward_id))
    return rules, plan_rules(rules, [t.team_id for t in teams])


async def release(conn: asyncpg.Connection, *, ward_id: str, rules: PlanRules,
                  volunteers: Sequence[Volunteer], now: datetime,
                  requests: Sequence[tuple[str, str, Collection[date] | None, Collection[str] | None]],
                  outcome: Outcome) -> list[Event]:
    """Take members off future shifts, refilling each from its team first, then the ward.

    A request is (member_id, reason, only these dates or None, only these shift ids or None).
    """
    if not requests:
        return []
    before = stored_plan(await shift_store.list_shifts(conn, ward_id=ward_id))
    plan, reasons = before, {}
    for member_id, reason, dates, shift_ids in requests:
        pool = [v for v in volunteers if v.member_id != member_id]
        plan = release_member(plan, member_id, now, pool, rules, dates=dates, shift_ids=shift_ids).plan
        reasons[member_id] = reason
    added, removed = diff_assignments(before.assignments, plan.assignments)
    await shift_store.unassign(conn, ward_id=ward_id, pairs=removed)
    await shift_store.assign(conn, ward_id=ward_id, pairs=added)
    outcome.assigned += added
    outcome.unassigned += removed
    outcome.unstaffable += plan.unstaffable
    events: list[Event] = []
    for member_id in dict.fromkeys(m for _, m in removed):
        events += messages.shifts_unassigned(ward_id, [p for p in removed if p[1] == member_id],
                                             reasons.get(member_id, "released"))
    return events + messages.shifts_assigned(ward_id, added)


async def _deactivate(conn: asyncpg.Connection, *, ward_id: str, member_ids: Sequence[str], reason: str,
                      keep_leaders_of: Collection[str] = ()) -> list[Event]:
    """Deactivate members; a team losing its leader is registered again without one."""
    if not member_ids:
        return []
    events = [messages.member_deactivated(ward_id, m, reason) for m in member_ids]
    await store.deactivate_members(conn, ward_id=ward_id, member_ids=member_ids, reason=reason)
    for team in await store.list_teams(conn, ward_id=ward_id):
        if team.leader_member_id in member_ids and team.team_id not in keep_leaders_of:
            await store.set_leader(conn, ward_id=ward_id, team_id=team.team_id, leader_member_id=None)
            leaderless = TeamRow(team.team_id, team.name, team.hamlet, None)
            events.append(messages.team_registered(ward_id, leaderless))
    return events


async def import_roster(conn: asyncpg.Connection, *, ward_id: str, roster: RosterFile,
                        now: datetime) -> Outcome:
    """Bring the ward's teams and members in line with a parsed roster file; only differences."""
    await store.ensure_ward(conn, ward_id=ward_id)
    teams = {t.team_id: t for t in await store.list_teams(conn, ward_id=ward_id)}
    current = {m.member_id: m for m in await store.list_members(conn, ward_id=ward_id)}
    changes = diff_roster(current, roster, current_team_ids=teams)
    changed_teams = reimport.changed_teams(teams, roster.teams)
    positions = {t: r.position for t, r in teams.items()}
    positions.update(reimport.next_positions(teams, changes.new_teams))
    await store.upsert_teams(conn, ward_id=ward_id, teams=[*changes.new_teams, *changed_teams],
                             positions=positions)
    await store.upsert_members(conn, ward_id=ward_id,
                               members=[*changes.new_members, *changes.updated_members])
    republished = reimport.republished_members(current, changes.updated_members)
    events = [messages.team_registered(ward_id, t) for t in [*changes.new_teams, *changed_teams]]
    events += [messages.member_registered(ward_id, m) for m in [*changes.new_members, *republished]]
    reason = "không còn trong danh sách (removed from the roster file)"
    events += await _deactivate(conn, ward_id=ward_id, member_ids=changes.deactivated_member_ids,
                                reason=reason, keep_leaders_of={t.team_id for t in roster.teams})
    outcome = Outcome(counts={
        "teams": len(roster.teams), "members": len(roster.members),
        "teams_registered": len(changes.new_teams), "teams_updated": len(changed_teams),
        "members_registered": len(changes.new_members), "members_updated": len(changes.updated_members),
        "members_deactivated": len(changes.deactivated_member_ids)})
    _, rules = await ward_rules(conn, ward_id=ward_id)
    volunteers = [Volunteer(m.member_id, m.team_id, m.unavailable) for m in roster.members]
    unavailable = reimport.newly_unavailable(current, changes.updated_members)
    requests = [(m, reason, None, None) for m in changes.deactivated_member_ids]
    requests += [(m, "bận ngày này (unavailable that day)", days, None) for m, days in unavailable.items()]
    events += await release(conn, ward_id=ward_id, rules=rules, volunteers=volunteers, now=now,
                            requests=requests, outcome=outcome)
    await outbox.add(conn, TOPIC, events)
    outcome.events = len(events)
    return outcome


async def deactivate_member(conn: asyncpg.Connection, *, ward_id: str, member_id: str, reason: str,
                            now: datetime) -> Outcome:
    """Deactivate one member and release their future shifts, refilling where the team allows."""
    member = await store.get_member(conn, ward_id=ward_id, member_id=member_id)
    if member is None:
        raise CdtError(f"no member {member_id} in ward {ward_id}", field="member_id", code="not_found",
                       status=404)
    outcome = Outcome(counts={"members_deactivated": int(member.active)})
    if not member.active:
        return outcome
    events = await _deactivate(conn, ward_id=ward_id, member_ids=[member_id], reason=reason)
    _, rules = await ward_rules(conn, ward_id=ward_id)
    events += await release(conn, ward_id=ward_id, rules=rules, volunteers=await volunteers_of(conn, ward_id),
                            now=now, requests=[(member_id, reason, None, None)], outcome=outcome)
    await outbox.add(conn, TOPIC, events)
    outcome.events = len(events)
    return outcome


async def volunteers_of(conn: asyncpg.Connection, ward_id: str) -> list[Volunteer]:
    """The ward's active members as the planner sees them."""
    members = await store.list_members(conn, ward_id=ward_id, active=True)
    return [Volunteer(m.member_id, m.team_id, m.unavailable) for m in members]

