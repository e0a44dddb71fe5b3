"""Changes to a plan once it is made: a member released from future sessions, a member swapped."""

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from services.roster.bookings import Ledger, shortage_reason
from services.roster.domain import (
    Assignments,
    Plan,
    PlanRules,
    RosterRuleError,
    Session,
    Unstaffable,
    Volunteer,
)

Pair = tuple[str, str]


@dataclass(frozen=True)
class Replan:
    """A changed plan and the (shift_id, member_id) pairs that were added and removed."""

    plan: Plan
    added: tuple[Pair, ...]
    removed: tuple[Pair, ...]


def member_loads(assignments: Assignments) -> Counter[str]:
    """How many sessions each member has in these assignments."""
    return Counter(m for members in assignments.values() for m in members)


def diff_assignments(old: Assignments, new: Assignments) -> tuple[list[Pair], list[Pair]]:
    """The (shift_id, member_id) pairs to add and to remove to go from `old` to `new`."""
    before = {(shift, m) for shift, members in old.items() for m in members}
    after = {(shift, m) for shift, members in new.items() for m in members}
    return sorted(after - before), sorted(before - after)


def _ledger(plan: Plan, rules: PlanRules, prior_load: Mapping[str, int] | None) -> Ledger:
    ledger = Ledger(prior_load or {}, rules.max_per_week)
    for s in plan.sessions:
        for member_id in plan.assignments.get(s.shift_id, ()):
            ledger.book(member_id, s)
    return ledger


def _replan(plan: Plan, assignments: dict[str, tuple[str, ...]], short: dict) -> Replan:
    unstaffable = tuple(short[s.shift_id] for s in plan.sessions if s.shift_id in short)
    added, removed = diff_assignments(plan.assignments, assignments)
    return Replan(Plan(plan.sessions, assignments, unstaffable), tuple(added), tuple(removed))


def release_member(
    plan: Plan,
    member_id: str,
    after: datetime,
    volunteers: Sequence[Volunteer],
    rules: PlanRules = PlanRules(),
    *,
    dates: Collection[date] | None = None,
    shift_ids: Collection[str] | None = None,
    prior_load: Mapping[str, int] | None = None,
) -> Replan:
    """Take a member off every session starting after `after` (only on `dates`, only the
    sessions `shift_ids`, when given).

    Each session is refilled up to its minimum from the same team's least-loaded free members,
    else from other teams; what cannot be refilled is listed as unstaffable, never raised.
    """
    if after.tzinfo is None:
        raise RosterRuleError("`after` must carry a time zone")
    ledger = _ledger(plan, rules, prior_load)
    pool = sorted((v for v in volunteers if v.member_id != member_id), key=lambda v: v.member_id)
    assignments = dict(plan.assignments)
    short = {u.shift_id: u for u in plan.unstaffable}
    for s in plan.sessions:
        members = assignments.get(s.shift_id, ())
        if member_id not in members or s.starts_at <= after:
            continue
        if dates is not None and s.date not in dates:
            continue
        if shift_ids is not None and s.shift_id not in shift_ids:
            continue
        ledger.unbook(member_id, s)
        kept = [m for m in members if m != member_id]
        blockers: Counter[str] = Counter()
        eligible = []
        for v in pool:
            why = "busy" if v.member_id in kept else ledger.blocker(v, s)
            if why is None:
                eligible.append(v)
            elif v.member_id not in kept:
                blockers[why] += 1

        def rank(v: Volunteer, s: Session = s) -> tuple:
            m = v.member_id
            return (v.team_id != s.team_id, ledger.sessions_on(m, s.date) > 0, ledger.load[m], m)

        added = [v.member_id for v in sorted(eligible, key=rank)[: s.min_staff - len(kept)]]
        for new_member in added:
            ledger.book(new_member, s)
        staff = kept + added
        assignments[s.shift_id] = tuple(sorted(staff))
        if len(staff) >= s.min_staff:
            short.pop(s.shift_id, None)
        else:
            found = len(staff)
            reason = shortage_reason(s.min_staff, found, blockers, rules.max_per_week)
            short[s.shift_id] = Unstaffable(s.shift_id, s.date, s.period, s.min_staff, found, reason)
    return _replan(plan, assignments, short)


def swap(
    plan: Plan,
    shift_id: str,
    out_member: str,
    in_member: str,
    volunteers: Sequence[Volunteer],
    rules: PlanRules = PlanRules(),
) -> Replan:
    """Put `in_member` in `out_member`'s place in one session, if the rules allow it."""
    session = plan.session(shift_id)
    members = plan.assignments.get(shift_id, ())
    if out_member not in members:
        raise RosterRuleError(f"{out_member} is not on session {shift_id}")
    if in_member in members:
        raise RosterRuleError(f"{in_member} is already on session {shift_id}")
    incoming = next((v for v in volunteers if v.member_id == in_member), None)
    if incoming is None:
        raise RosterRuleError(f"{in_member} is not an active member of this ward")
    ledger = _ledger(plan, rules, None)
    ledger.unbook(out_member, session)
    why = ledger.blocker(incoming, session)
    if why == "unavailable":
        raise RosterRuleError(f"{in_member} is unavailable on {session.date:%Y-%m-%d}")
    if why == "weekly_cap":
        raise RosterRuleError(f"{in_member} already has {rules.max_per_week} sessions in that week (the cap)")
    if why == "busy":
        raise RosterRuleError(f"{in_member} is on another session at that time")
    assignments = dict(plan.assignments)
    assignments[shift_id] = tuple(sorted([m for m in members if m != out_member] + [in_member]))
    short = {u.shift_id: u for u in plan.unstaffable}
    return _replan(plan, assignments, short)
