"""Write use cases on the plan: plan a period, swap, release, cancel; each one transaction."""

from dataclasses import asdict
from datetime import date, datetime, timedelta

import asyncpg

from services.roster import messages, shift_store, store
from services.roster.changes import swap
from services.roster.commands import Outcome, release, volunteers_of, ward_rules
from services.roster.domain import RosterRuleError
from services.roster.records import ShiftRecord
from services.roster.replan import continue_rotation, is_started, reconcile, replan, stored_plan
from services.roster.wardrules import check_calendar
from shared import outbox
from shared.events.roster import TOPIC
from shared.http import CdtError

DROPPED = "không còn là ngày làm việc (no longer a working day under the ward's rules)"


async def plan_period(conn: asyncpg.Connection, *, ward_id: str, start: date, end: date,
                      now: datetime) -> dict:
    """Plan [start, end]: new sessions scheduled and staffed, unlocked ones brought in line."""
    ward, rules = await ward_rules(conn, ward_id=ward_id)
    teams = [t.team_id for t in await store.list_teams(conn, ward_id=ward_id)]
    volunteers = await volunteers_of(conn, ward_id)
    if not volunteers:
        raise CdtError(f"ward {ward_id} has no active members: import its roster first",
                       field="ward_id", code="no_members", status=409)
    in_period = await shift_store.list_shifts(conn, ward_id=ward_id, start=start, end=end)
    stored = {s.shift_id: s for s in in_period}
    last_team = await shift_store.last_team_before(conn, ward_id=ward_id, day=start)
    rules = continue_rotation(rules, teams, volunteers, last_team)
    prior = await shift_store.loads_outside(conn, ward_id=ward_id, start=start, end=end)
    try:
        check_calendar(ward, start, end)
        plan, locked = replan(ward_id, teams, volunteers, start, end, rules, stored, now, prior)
    except RosterRuleError as error:
        raise CdtError(str(error), field="to", code="invalid_period", status=422) from None
    change = reconcile(stored, plan, locked, start, end)
    await shift_store.save_sessions(conn, ward_id=ward_id, sessions=[*change.scheduled, *change.rescheduled])
    await shift_store.cancel_shifts(conn, ward_id=ward_id, shift_ids=[s.shift_id for s in change.dropped],
                                    reason=DROPPED)
    await shift_store.unassign(conn, ward_id=ward_id, pairs=change.removed)
    await shift_store.assign(conn, ward_id=ward_id, pairs=change.added)
    moved = sorted([*change.scheduled, *change.rescheduled], key=lambda s: (s.starts_at, s.shift_id))
    events = [messages.shift_scheduled(ward_id, s) for s in moved]
    events += [messages.shift_cancelled(ward_id, s.shift_id, DROPPED) for s in change.dropped]
    events += messages.shifts_unassigned(ward_id, change.removed, "lập lại lịch (re-planned)")
    events += messages.shifts_assigned(ward_id, change.added)
    await outbox.add(conn, TOPIC, events)
    cancelled = {i for i, s in stored.items() if s.status == "cancelled"}
    open_sessions = [s for s in plan.sessions if s.shift_id not in cancelled]
    return {
        "ward_id": ward_id, "from": start.isoformat(), "to": end.isoformat(),
        "sessions": len(open_sessions), "cancelled": len(cancelled),
        "locked": len(set(locked) - cancelled),
        "assignments": sum(len(plan.assignments[s.shift_id]) for s in open_sessions),
        "scheduled": len(change.scheduled), "rescheduled": len(change.rescheduled),
        "dropped": len(change.dropped), "assigned": len(change.added), "unassigned": len(change.removed),
        "events": len(events),
        "unstaffable": [asdict(u) for u in plan.unstaffable if u.shift_id not in cancelled],
    }


async def _open_shift(conn: asyncpg.Connection, ward_id: str, shift_id: str, now: datetime) -> ShiftRecord:
    """A shift that may still change: it exists, is not cancelled, has not started."""
    shift = await shift_store.get_shift(conn, ward_id=ward_id, shift_id=shift_id)
    if shift is None:
        raise CdtError(f"no session {shift_id} in ward {ward_id}", field="shift_id", code="not_found",
                       status=404)
    if shift.status == "cancelled":
        raise CdtError(f"session {shift_id} is cancelled", field="shift_id", code="cancelled", status=409)
    if is_started(shift, now):
        raise CdtError(f"session {shift_id} has started or been checked in to; it can no longer change",
                       field="shift_id", code="locked", status=409)
    return shift


async def swap_members(conn: asyncpg.Connection, *, ward_id: str, shift_id: str, out_member_id: str,
                       in_member_id: str, reason: str, now: datetime) -> Outcome:
    """Put one member in another's place on one session, if the planning rules allow it."""
    shift = await _open_shift(conn, ward_id, shift_id, now)
    if out_member_id not in shift.members:
        raise CdtError(f"{out_member_id} is not on session {shift_id}", field="out_member_id",
                       code="not_assigned", status=409)
    _, rules = await ward_rules(conn, ward_id=ward_id)
    monday = shift.date - timedelta(days=shift.date.weekday())
    week = await shift_store.list_shifts(conn, ward_id=ward_id, start=monday, end=monday + timedelta(days=6))
    try:
        change = swap(stored_plan(week), shift_id, out_member_id, in_member_id,
                      await volunteers_of(conn, ward_id), rules)
    except RosterRuleError as error:
        raise CdtError(str(error), field="in_member_id", code="rule_broken", status=409) from None
    await shift_store.unassign(conn, ward_id=ward_id, pairs=change.removed)
    await shift_store.assign(conn, ward_id=ward_id, pairs=change.added)
    await shift_store.pin(conn, ward_id=ward_id, shift_ids=[shift_id])
    why = f"đổi cho {in_member_id} (swapped with {in_member_id})" + (f": {reason}" if reason else "")
    events = messages.shifts_unassigned(ward_id, change.removed, why)
    events += messages.shifts_assigned(ward_id, change.added)
    await outbox.add(conn, TOPIC, events)
    return Outcome(events=len(events), assigned=list(change.added), unassigned=list(change.removed))


async def release_from_shift(conn: asyncpg.Connection, *, ward_id: str, shift_id: str, member_id: str,
                             reason: str, now: datetime) -> Outcome:
    """Take one member off one session and refill it, from their team first."""
    shift = await _open_shift(conn, ward_id, shift_id, now)
    if member_id not in shift.members:
        raise CdtError(f"{member_id} is not on session {shift_id}", field="member_id",
                       code="not_assigned", status=409)
    _, rules = await ward_rules(conn, ward_id=ward_id)
    outcome = Outcome()
    events = await release(conn, ward_id=ward_id, rules=rules, volunteers=await volunteers_of(conn, ward_id),
                           now=now, requests=[(member_id, reason, None, {shift_id})], outcome=outcome)
    await shift_store.pin(conn, ward_id=ward_id, shift_ids=[shift_id])
    await outbox.add(conn, TOPIC, events)
    outcome.events = len(events)
    return outcome


async def cancel_sessions(conn: asyncpg.Connection, *, ward_id: str, reason: str, now: datetime,
                          shift_id: str | None = None, day: date | None = None) -> Outcome:
    """Cancel one session, or every session of a day that has not started (storm, closure)."""
    shifts = await shift_store.list_shifts(conn, ward_id=ward_id, start=day, end=day,
                                           shift_ids=[shift_id] if shift_id else None)
    if not shifts:
        what = f"session {shift_id}" if shift_id else f"sessions on {day}"
        raise CdtError(f"no {what} in ward {ward_id}", field="shift_id" if shift_id else "date",
                       code="not_found", status=404)
    open_ = [s for s in shifts if s.status == "scheduled" and not is_started(s, now)]
    started = [s for s in shifts if s.status == "scheduled" and is_started(s, now)]
    if shift_id and started:
        raise CdtError(f"session {shift_id} has started or been checked in to; it cannot be cancelled",
                       field="shift_id", code="locked", status=409)
    await shift_store.cancel_shifts(conn, ward_id=ward_id, shift_ids=[s.shift_id for s in open_],
                                    reason=reason)
    events = [messages.shift_cancelled(ward_id, s.shift_id, reason) for s in open_]
    await outbox.add(conn, TOPIC, events)
    return Outcome(events=len(events), counts={
        "cancelled": len(open_), "already_cancelled": sum(s.status == "cancelled" for s in shifts),
        "started": len(started)})
