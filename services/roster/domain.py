"""Planning rules of the desk rotation: which sessions exist and who staffs them."""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from math import ceil
from typing import Literal
from zoneinfo import ZoneInfo

from services.roster.bookings import Ledger, locked_reason, shortage_reason
from services.roster.holidays import COVERED_YEARS, vietnam_holidays, vietnam_makeup_workdays

Period = Literal["morning", "afternoon", "evening"]
Assignments = Mapping[str, tuple[str, ...]]

MAX_PLAN_DAYS = 731


class RosterError(Exception):
    """Base of the roster service's errors."""


class RosterRuleError(RosterError):
    """A plan or a change that breaks a planning rule; the message is for the operator."""


@dataclass(frozen=True)
class SessionTemplate:
    period: Period
    starts: time
    ends: time


DEFAULT_SESSIONS = (
    SessionTemplate("morning", time(7, 30), time(11, 30)),
    SessionTemplate("afternoon", time(13, 30), time(17, 0)),
)
DEFAULT_HOLIDAYS = frozenset(vietnam_holidays(COVERED_YEARS))
DEFAULT_MAKEUP_WORKDAYS = frozenset(vietnam_makeup_workdays(COVERED_YEARS))


@dataclass(frozen=True)
class PlanRules:
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    sessions: tuple[SessionTemplate, ...] = DEFAULT_SESSIONS
    holidays: frozenset[date] = DEFAULT_HOLIDAYS
    # Offices open on the Saturday that pays back a swapped weekday, so the desk opens too.
    makeup_workdays: frozenset[date] = DEFAULT_MAKEUP_WORKDAYS
    min_staff: int = 2
    max_per_week: int | None = None
    team_order: tuple[str, ...] | None = None
    timezone: str = "Asia/Ho_Chi_Minh"
    location: str = "service_center"

    def __post_init__(self) -> None:
        if self.min_staff < 1:
            raise RosterRuleError("min_staff must be at least 1")
        if self.max_per_week is not None and self.max_per_week < 1:
            raise RosterRuleError("max_per_week must be at least 1 (or unset)")
        if not self.sessions or any(t.ends <= t.starts for t in self.sessions):
            raise RosterRuleError("every session template must end after it starts")
        if len({t.period for t in self.sessions}) != len(self.sessions):
            raise RosterRuleError("each period may appear once among the session templates")


@dataclass(frozen=True)
class Volunteer:
    member_id: str
    team_id: str
    unavailable: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Session:
    shift_id: str
    date: date
    period: Period
    starts_at: datetime
    ends_at: datetime
    team_id: str
    location: str
    min_staff: int


@dataclass(frozen=True)
class Unstaffable:
    shift_id: str
    date: date
    period: Period
    needed: int
    assigned: int
    reason: str


@dataclass(frozen=True)
class Plan:
    sessions: tuple[Session, ...]
    # Every session has an entry (possibly empty), member ids sorted.
    assignments: dict[str, tuple[str, ...]] = field(hash=False)
    unstaffable: tuple[Unstaffable, ...]

    def session(self, shift_id: str) -> Session:
        for candidate in self.sessions:
            if candidate.shift_id == shift_id:
                return candidate
        raise RosterRuleError(f"no session {shift_id} in this plan")


def shift_id_for(ward_id: str, day: date, period: Period) -> str:
    """The id of a session; stable so that planning the same period again finds the same ids."""
    return f"{ward_id}-{day:%Y%m%d}-{period}"


def working_days(start: date, end: date, rules: PlanRules = PlanRules()) -> list[date]:
    if end < start:
        raise RosterRuleError(f"the period ends ({end}) before it starts ({start})")
    if (end - start).days >= MAX_PLAN_DAYS:
        raise RosterRuleError(f"a plan covers at most {MAX_PLAN_DAYS} days")
    if rules.holidays == DEFAULT_HOLIDAYS:
        outside = sorted({start.year, end.year} - COVERED_YEARS)
        if outside:
            raise RosterRuleError(
                f"no holiday calendar for {outside[0]}: give the closed days in PlanRules.holidays"
            )
    days = (start + timedelta(days=offset) for offset in range((end - start).days + 1))
    return [
        day
        for day in days
        if day in rules.makeup_workdays or (day.weekday() in rules.workdays and day not in rules.holidays)
    ]


def _sessions_of(ward_id: str, day: date, team_id: str, rules: PlanRules, tz: ZoneInfo):
    for template in rules.sessions:
        yield Session(
            shift_id=shift_id_for(ward_id, day, template.period),
            date=day,
            period=template.period,
            starts_at=datetime.combine(day, template.starts, tzinfo=tz),
            ends_at=datetime.combine(day, template.ends, tzinfo=tz),
            team_id=team_id,
            location=rules.location,
            min_staff=rules.min_staff,
        )


def working_sessions(ward_id: str, start: date, end: date, rules: PlanRules = PlanRules()) -> list[Session]:
    """Every session of the period in time order, not yet given to a team (team_id "")."""
    tz = ZoneInfo(rules.timezone)
    return [s for day in working_days(start, end, rules) for s in _sessions_of(ward_id, day, "", rules, tz)]


def rotation_order(
    teams: Sequence[str], volunteers: Sequence[Volunteer], rules: PlanRules = PlanRules()
) -> list[str]:
    """The teams that take turns owning a day: a team with no member cannot staff its day."""
    staffed = {v.team_id for v in volunteers}
    if rules.team_order is not None:
        order = list(rules.team_order)
    else:
        order = list(teams) + [v.team_id for v in volunteers]
    unique = list(dict.fromkeys(order))
    return [team for team in unique if team in staffed] or unique or [""]


def fair_shares(volunteers: Sequence[Volunteer], days: Sequence[date], slots: int) -> dict[str, int]:
    """Each member's share of the slots, in proportion to the days they are free, rounded up."""
    day_set = set(days)
    free = {v.member_id: len(days) - len(v.unavailable & day_set) for v in volunteers}
    total = sum(free.values()) or 1
    # The epsilon keeps an exact share (404 * 7 / 1176 = 2.404...) from rounding up by float noise.
    return {m: ceil(slots * f / total - 1e-9) for m, f in free.items()}


def plan_rotation(
    ward_id: str,
    teams: Sequence[str],
    volunteers: Sequence[Volunteer],
    start: date,
    end: date,
    rules: PlanRules = PlanRules(),
    *,
    locked: Assignments | None = None,
    prior_load: Mapping[str, int] | None = None,
) -> Plan:
    """Give each working day to the next team and staff its sessions as evenly as possible.

    A session is filled by the best `min_staff` eligible members, ranked by: not yet on duty
    that day, still under their fair share, in the day's team, least loaded, member id. So a
    team fills its own day until that would overwork someone, and only then are the
    least-loaded members of other teams borrowed. Locked sessions are kept as given and their
    members' load counted from the start; a session nobody can fill is listed, never raised.
    """
    locked = locked or {}
    if len({v.member_id for v in volunteers}) != len(volunteers):
        raise RosterRuleError("a member appears twice among the volunteers")
    tz = ZoneInfo(rules.timezone)
    days = working_days(start, end, rules)
    rotation = rotation_order(teams, volunteers, rules)
    sessions = [
        s
        for index, day in enumerate(days)
        for s in _sessions_of(ward_id, day, rotation[index % len(rotation)], rules, tz)
    ]
    share = fair_shares(volunteers, days, len(sessions) * rules.min_staff)
    ledger = Ledger(prior_load or {}, rules.max_per_week)
    prior = Counter(ledger.load)
    assignments = {
        s.shift_id: tuple(sorted(set(locked[s.shift_id]))) for s in sessions if s.shift_id in locked
    }
    for s in sessions:
        for member_id in assignments.get(s.shift_id, ()):
            ledger.book(member_id, s)
    ordered = sorted(volunteers, key=lambda v: v.member_id)
    by_team: dict[str, list[Volunteer]] = {}
    for v in ordered:
        by_team.setdefault(v.team_id, []).append(v)

    unstaffable: list[Unstaffable] = []
    for s in sessions:
        if s.shift_id in assignments:
            staff = len(assignments[s.shift_id])
            reason = locked_reason(s.min_staff, staff)
        else:

            def rank(v: Volunteer, s: Session = s) -> tuple:
                m = v.member_id
                return (
                    ledger.sessions_on(m, s.date) > 0,
                    ledger.load[m] - prior[m] >= share[m],
                    v.team_id != s.team_id,
                    ledger.load[m],
                    m,
                )

            blockers: Counter[str] = Counter()
            keyed = sorted((v for v in by_team.get(s.team_id, ()) if ledger.blocker(v, s) is None), key=rank)
            # Own-team members free today and under their share outrank everyone else, so the
            # whole ward is only ranked when the team cannot fill the session by itself.
            if sum(1 for v in keyed if rank(v)[:2] == (False, False)) < s.min_staff:
                eligible = []
                for v in ordered:
                    why = ledger.blocker(v, s)
                    if why is None:
                        eligible.append(v)
                    else:
                        blockers[why] += 1
                keyed = sorted(eligible, key=rank)
            chosen = [v.member_id for v in keyed[: s.min_staff]]
            for member_id in chosen:
                ledger.book(member_id, s)
            assignments[s.shift_id] = tuple(sorted(chosen))
            staff = len(chosen)
            reason = shortage_reason(s.min_staff, staff, blockers, rules.max_per_week)
        if staff < s.min_staff:
            unstaffable.append(Unstaffable(s.shift_id, s.date, s.period, s.min_staff, staff, reason))
    return Plan(tuple(sessions), {s.shift_id: assignments[s.shift_id] for s in sessions}, tuple(unstaffable))
