"""Pure rules of the reporting service: staffing, volunteer time, no-shows, ratios and weeks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Upper bounds (seconds) of cdt_assist_duration_seconds; +Inf is the last bucket.
DURATION_BUCKETS = (60.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, float("inf"))
SHIFT_STATUSES = ("scheduled", "staffed", "understaffed", "cancelled")


_LOCAL_OFFSET = timedelta(hours=7)  # Asia/Ho_Chi_Minh since 1975


def local_day(moment: datetime) -> date:
    """The ward's calendar day (Asia/Ho_Chi_Minh) of a moment."""
    return local_time(moment).date()


def local_time(moment: datetime) -> datetime:
    """The ward's wall-clock time (naive, Asia/Ho_Chi_Minh) of an aware moment. Naive local
    times compare without asking each side for its offset (a decoded time carries a tzinfo of
    its own); `aware_local` makes one aware again."""
    if moment.utcoffset() == _LOCAL_OFFSET:  # what our producers send: no conversion
        return moment.replace(tzinfo=None)
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None)


def aware_local(local: datetime) -> datetime:
    return local.replace(tzinfo=LOCAL_TZ)


def day_end(day: date) -> datetime:
    """The moment a local day ends (the next local midnight)."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), LOCAL_TZ)


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def duration_bucket(seconds: float) -> float:
    """The histogram bucket (upper bound) of an assist's duration."""
    return next(le for le in DURATION_BUCKETS if seconds <= le)


def not_online_reason(outcome: str, reason: str | None) -> str | None:
    """Why an assist did not end online: its reason, or 'referred_to_counter'; None when it did."""
    if outcome == "submitted_online":
        return None
    return reason or outcome


def vneid_blocked(outcome: str, reason: str | None, vneid_level: str | None) -> bool:
    """An assist that did not end online because the citizen had no level-2 VNeID account."""
    if outcome == "submitted_online":
        return False
    return reason == "no_vneid_level2" or vneid_level in ("none", "level1")


@dataclass(frozen=True)
class Session:
    """What the roster said about a session (shift)."""

    scheduled: bool
    cancelled: bool
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    min_staff: int = 2
    day: date | None = None


@dataclass(frozen=True)
class CheckIn:
    member_id: str
    checked_in_at: datetime | None
    checked_out_at: datetime | None


@dataclass(frozen=True)
class SessionState:
    """A session's derived state at a given 'now'."""

    status: str  # unknown | pending | staffed | understaffed | cancelled
    on_time: int
    seconds: int
    ended: bool
    decide_at: datetime | None
    members: dict[str, tuple[int, bool]] = field(default_factory=dict)  # member -> (seconds, on time)

    def counts(self) -> dict[str, int]:
        """This session's contribution to a ward's cdt_shifts_total and hours."""
        scheduled = self.status in ("pending", "staffed", "understaffed")
        return {"scheduled": int(scheduled), "staffed": int(self.status == "staffed"),
                "understaffed": int(self.status == "understaffed"),
                "cancelled": int(self.status == "cancelled"), "seconds": self.seconds}


def decide_staffing(*, min_staff: int, starts_at: datetime, on_time: int, now: datetime | None,
                    grace: timedelta) -> str:
    """staffed when min_staff assigned members checked in within the grace; understaffed once the
    grace has passed without it; pending before."""
    if on_time >= min_staff:
        return "staffed"
    if now is not None and now > starts_at + grace:
        return "understaffed"
    return "pending"


def capped_seconds(check: CheckIn, starts_at: datetime, ends_at: datetime, ended: bool) -> int:
    """Time from check-in to check-out within the session; an open check-in counts until the
    session's end once it is over, and nothing before."""
    if check.checked_in_at is None:
        return 0
    out = check.checked_out_at
    if out is None:
        if not ended:
            return 0
        out = ends_at
    begin, end = max(check.checked_in_at, starts_at), min(out, ends_at)
    return max(0, int((end - begin).total_seconds()))


def evaluate_session(session: Session, assigned: Iterable[str], checkins: Iterable[CheckIn],
                     *, now: datetime | None, grace: timedelta) -> SessionState:
    """The session's status, on-time count, volunteer seconds per member and next decision time."""
    if not session.scheduled or session.starts_at is None or session.ends_at is None:
        return SessionState("unknown", 0, 0, False, None)
    if session.cancelled:
        return SessionState("cancelled", 0, 0, False, None)
    assigned = set(assigned)
    deadline = session.starts_at + grace
    ended = now is not None and now >= session.ends_at
    members: dict[str, tuple[int, bool]] = {}
    for check in checkins:
        seconds, on_time = members.get(check.member_id, (0, False))
        seconds += capped_seconds(check, session.starts_at, session.ends_at, ended)
        on_time = on_time or (check.member_id in assigned and check.checked_in_at is not None
                              and check.checked_in_at <= deadline)
        members[check.member_id] = (seconds, on_time)
    on_time_count = sum(1 for _, on_time in members.values() if on_time)
    status = decide_staffing(min_staff=session.min_staff, starts_at=session.starts_at,
                             on_time=on_time_count, now=now, grace=grace)
    if status == "pending":
        decide_at: datetime | None = deadline + timedelta(microseconds=1)
    elif not ended:
        decide_at = session.ends_at
    else:
        decide_at = None
    return SessionState(status, on_time_count, sum(s for s, _ in members.values()), ended,
                        decide_at, members)


def no_shows(assignments: Iterable[tuple[str, str]], checked_in: Iterable[tuple[str, str]],
             over_sessions: Iterable[str]) -> dict[str, int]:
    """Per member: sessions that are over, they were assigned to (and not unassigned), and
    they never checked in to. Pairs are (shift_id, member_id); cancelled sessions are left out
    by the caller."""
    over = set(over_sessions)
    present = set(checked_in)
    missed: dict[str, int] = {}
    for shift_id, member_id in assignments:
        if shift_id in over and (shift_id, member_id) not in present:
            missed[member_id] = missed.get(member_id, 0) + 1
    return missed


def hours(seconds: int) -> float:
    return seconds / 3600


def sum_counts(rows: Iterable[Mapping[str, int]], keys: Iterable[str]) -> dict[str, int]:
    keys = list(keys)
    totals = dict.fromkeys(keys, 0)
    for row in rows:
        for key in keys:
            totals[key] += int(row[key])
    return totals
