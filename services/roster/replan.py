"""Re-planning against what is stored: which shifts are locked, and what a new plan changes."""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from services.roster.changes import Pair, diff_assignments
from services.roster.domain import Plan, PlanRules, Session, Volunteer, plan_rotation, rotation_order
from services.roster.records import ShiftRecord


@dataclass(frozen=True)
class Reconciliation:
    """What to write so that the stored shifts of a period match a new plan."""

    scheduled: tuple[Session, ...]  # new shifts
    rescheduled: tuple[Session, ...]  # stored shifts whose team, time, place or minimum changed
    dropped: tuple[ShiftRecord, ...]  # stored future shifts on days that are no longer worked
    added: tuple[Pair, ...]
    removed: tuple[Pair, ...]

    @property
    def empty(self) -> bool:
        return not (self.scheduled or self.rescheduled or self.dropped or self.added or self.removed)


def is_started(shift: ShiftRecord, now: datetime) -> bool:
    """A shift that can no longer change: it has started, or someone has checked in to it."""
    return shift.starts_at <= now or bool(shift.checked_in)


def replan(ward_id: str, teams: Sequence[str], volunteers: Sequence[Volunteer], start: date, end: date,
           rules: PlanRules, stored: Mapping[str, ShiftRecord], now: datetime,
           prior_load: Mapping[str, int] | None = None) -> tuple[Plan, set[str]]:
    """The plan of [start, end] given what is stored, and the ids of the shifts it must keep.

    plan_rotation counts a locked session's members from the first day, so a lock in the middle
    of a period would change earlier choices even when it holds exactly what the planner picks.
    Hence only started shifts (a prefix in time, where that makes no difference) are always
    locked; cancelled shifts are planned as usual and their result ignored, so that cancelling
    moves nobody else; shifts changed by hand or checked in to early are locked only when the
    plan would change them. Planning the same inputs twice thus gives the same plan.
    """
    started = {i: s.members for i, s in stored.items() if s.starts_at <= now}
    plan = plan_rotation(ward_id, teams, volunteers, start, end, rules, locked=started,
                         prior_load=prior_load)
    kept = {i: s.members for i, s in stored.items()
            if i not in started and s.status == "scheduled" and (s.pinned or s.checked_in)}
    if any(plan.assignments.get(i) != members for i, members in kept.items()):
        plan = plan_rotation(ward_id, teams, volunteers, start, end, rules, locked={**started, **kept},
                             prior_load=prior_load)
    cancelled = {i for i, s in stored.items() if s.status == "cancelled"}
    return plan, set(started) | set(kept) | cancelled


def session_of(shift: ShiftRecord) -> Session:
    return Session(shift.shift_id, shift.date, shift.period, shift.starts_at,  # type: ignore[arg-type]
                   shift.ends_at, shift.team_id, shift.location, shift.min_staff)


def stored_plan(shifts: Iterable[ShiftRecord]) -> Plan:
    """The scheduled (not cancelled) shifts as a Plan, so that changes.py can rework it."""
    kept = sorted((s for s in shifts if s.status == "scheduled"), key=lambda s: (s.starts_at, s.shift_id))
    return Plan(tuple(session_of(s) for s in kept), {s.shift_id: s.members for s in kept}, ())


def continue_rotation(rules: PlanRules, teams: Sequence[str], volunteers: Sequence[Volunteer],
                      last_team: str | None) -> PlanRules:
    """Rules whose rotation starts with the team after `last_team` (the owner of the last
    planned day before the period), so that planning month by month keeps the turns fair."""
    order = rotation_order(teams, volunteers, rules)
    if last_team in order:
        turn = order.index(last_team) + 1
        order = order[turn:] + order[:turn]
    return replace(rules, team_order=tuple(order))


def _differs(shift: ShiftRecord, session: Session) -> bool:
    return (shift.team_id, shift.starts_at, shift.ends_at, shift.location, shift.min_staff) != (
        session.team_id, session.starts_at, session.ends_at, session.location, session.min_staff)


def reconcile(stored: Mapping[str, ShiftRecord], plan: Plan, locked: Collection[str],
              start: date, end: date) -> Reconciliation:
    """The changes from the stored shifts of [start, end] to `plan`; locked shifts stay as they are."""
    in_plan = {s.shift_id for s in plan.sessions}
    scheduled, rescheduled = [], []
    old: dict[str, tuple[str, ...]] = {}
    new: dict[str, tuple[str, ...]] = {}
    for session in plan.sessions:
        if session.shift_id in locked:
            continue
        shift = stored.get(session.shift_id)
        if shift is None:
            scheduled.append(session)
        elif _differs(shift, session):
            rescheduled.append(session)
        old[session.shift_id] = shift.members if shift else ()
        new[session.shift_id] = plan.assignments[session.shift_id]
    dropped = tuple(
        s for s in sorted(stored.values(), key=lambda s: (s.starts_at, s.shift_id))
        if start <= s.date <= end and s.shift_id not in in_plan and s.shift_id not in locked
    )
    added, removed = diff_assignments(old, new)
    return Reconciliation(tuple(scheduled), tuple(rescheduled), dropped, tuple(added), tuple(removed))
