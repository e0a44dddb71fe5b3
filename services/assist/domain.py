"""Desk rules, pure: check-in windows, check-outs, sessions of an assist, assist and dossier rules."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.assist import (
    Action,
    AgeBand,
    AssistCompletedData,
    DossierReceivedData,
    Field_,
    Outcome,
    Reason,
    Venue,
    VneidLevel,
)

WARD_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
DESK_VENUE = "service_center"
NO_SESSION_VENUES = frozenset({"household_visit"})  # a home visit never belongs to a session

ErrorKind = Literal["invalid", "conflict", "not_found"]


class AssistError(Exception):
    """A request that breaks a desk rule: a short code, the field at fault and why."""

    def __init__(self, code: str, message: str, *, field: str | None = None,
                 kind: ErrorKind = "invalid") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.kind = kind


@dataclass(frozen=True)
class Rules:
    """The configurable limits of the desk rules."""

    checkin_early: timedelta = timedelta(minutes=30)
    max_future: timedelta = timedelta(minutes=5)
    max_assist: timedelta = timedelta(hours=4)
    default_assist: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Session:
    """A session (shift) as the roster told us; times are None until it was scheduled."""

    ward_id: str
    shift_id: str
    starts_at: datetime | None
    ends_at: datetime | None
    location: str | None = None
    cancelled: bool = False
    cancel_reason: str | None = None
    assigned: frozenset[str] = field(default_factory=frozenset)

    @property
    def scheduled(self) -> bool:
        return self.starts_at is not None and self.ends_at is not None

    def open_at(self, at: datetime, rules: Rules) -> bool:
        """Whether a check-in at `at` falls in the session's window."""
        assert self.starts_at and self.ends_at
        return self.starts_at - rules.checkin_early <= at <= self.ends_at


@dataclass(frozen=True)
class CheckIn:
    checkin_id: str
    ward_id: str
    shift_id: str
    member_id: str
    at: datetime
    stand_in: bool
    checked_out_at: datetime | None = None
    checkout_auto: bool = False


@dataclass(frozen=True)
class Member:
    """What the roster says of a member: known (registered or assigned) and active or not."""

    member_id: str
    active: bool = True


def refuse_future(at: datetime, wall_now: datetime, rules: Rules, *, field: str) -> None:
    """Times come from phones and the accelerated demo; none may lie ahead of the clock."""
    if at > wall_now + rules.max_future:
        raise AssistError("in_future", f"{field} lies in the future (the clock says "
                          f"{wall_now.isoformat(timespec='seconds')})", field=field)


def _usable(session: Session | None, shift_id: str) -> Session:
    if session is None or not session.scheduled:
        raise AssistError("unknown_session", f"no session {shift_id} is scheduled in this ward",
                          field="shift_id", kind="not_found")
    if session.cancelled:
        why = f": {session.cancel_reason}" if session.cancel_reason else ""
        raise AssistError("session_cancelled", f"session {shift_id} was cancelled{why}",
                          field="shift_id", kind="conflict")
    return session


def check_members(member_ids: Iterable[str], known: dict[str, Member], *,
                  field: str = "member_id") -> None:
    """Every member must be known to the ward's roster and still active."""
    for member_id in member_ids:
        member = known.get(member_id)
        if member is None:
            raise AssistError("unknown_member", f"member {member_id} is not in this ward's roster",
                              field=field, kind="not_found")
        if not member.active:
            raise AssistError("member_deactivated", f"member {member_id} was deactivated",
                              field=field, kind="conflict")


def check_in(session: Session | None, *, shift_id: str, member: Member | None, member_id: str,
             at: datetime, existing: CheckIn | None, rules: Rules) -> bool:
    """Decide a check-in: False when it is a repeat (nothing new), else True; stand-in via
    `is_stand_in`. Raises AssistError with the reason it is refused."""
    if existing is not None:
        return False  # a second tap on the phone: the first check-in stands
    session = _usable(session, shift_id)
    check_members([member_id], {member_id: member} if member else {})
    assert session.starts_at and session.ends_at
    if at < session.starts_at - rules.checkin_early:
        opens = (session.starts_at - rules.checkin_early).astimezone(WARD_TZ)
        raise AssistError("too_early", f"check-in to {shift_id} opens at {opens:%Y-%m-%d %H:%M}",
                          field="at", kind="conflict")
    if at > session.ends_at:
        raise AssistError("session_over", f"session {shift_id} ended at "
                          f"{session.ends_at.astimezone(WARD_TZ):%Y-%m-%d %H:%M}",
                          field="at", kind="conflict")
    return True


def is_stand_in(session: Session, member_id: str) -> bool:
    """Checked in without being assigned: allowed, and recorded as standing in."""
    return member_id not in session.assigned


def check_out(checkin: CheckIn, session: Session | None, at: datetime) -> datetime | None:
    """The check-out time to record, or None when already checked out (a repeat).

    A check-out after the session's end is recorded at its end: hours count the session.
    """
    if checkin.checked_out_at is not None:
        return None
    if at < checkin.at:
        raise AssistError("before_check_in", "a check-out cannot precede its check-in at "
                          f"{checkin.at.isoformat(timespec='minutes')}", field="at")
    if session is not None and session.ends_at is not None and at > session.ends_at:
        return max(session.ends_at, checkin.at)
    return at


def close_missing_checkout(checkin: CheckIn, *, session_end: datetime,
                           now: datetime | None) -> datetime | None:
    """When a session is over and a member never checked out, close at the session's end."""
    if checkin.checked_out_at is not None or now is None or now < session_end:
        return None
    return max(session_end, checkin.at)


def choose_session(sessions: Sequence[Session], *, at: datetime, member_ids: Collection[str],
                   checked_in: Collection[str], rules: Rules) -> Session | None:
    """The members' current session at `at`: open then, preferring one they checked in to,
    then one they are assigned to, then the desk, then the nearest start."""
    members = set(member_ids)
    candidates = [s for s in sessions if s.scheduled and not s.cancelled and s.open_at(at, rules)]
    if not candidates:
        return None

    def rank(s: Session) -> tuple[bool, bool, bool, float]:
        assert s.starts_at
        return (s.shift_id not in checked_in, not (members & s.assigned),
                s.location not in (None, DESK_VENUE), abs((s.starts_at - at).total_seconds()))

    return min(candidates, key=rank)


class AssistRequest(BaseModel):
    """One citizen helped, as a desk logs it; unknown fields are refused (no personal data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    assist_id: str | None = Field(default=None, pattern=UUID_PATTERN, description=(
        "A UUID chosen by the client, so that a retried request is logged once; default new"))
    member_ids: list[str] = Field(min_length=1, max_length=10, description="Who helped")
    venue: Venue = DESK_VENUE
    shift_id: str | None = Field(default=None, pattern=ID_PATTERN, description=(
        "Default at the desk: the members' current session; never for a household visit"))
    procedure_code: str | None = Field(default=None, min_length=1, max_length=64,
                                       pattern=ID_PATTERN)
    field: Field_
    actions: list[Action] = Field(default_factory=list, max_length=8)
    outcome: Outcome
    reason: Reason | None = None
    dossier_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=ID_PATTERN)
    started_at: AwareDatetime | None = Field(default=None, description=(
        "Default: ended_at minus the default duration"))
    ended_at: AwareDatetime | None = Field(default=None, description="Default: now")
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    vneid_level: VneidLevel | None = None
    citizen_age_band: AgeBand | None = None
    citizen_vulnerable: bool = False


def assist_times(request: AssistRequest, *, wall_now: datetime,
                 rules: Rules) -> tuple[datetime, datetime]:
    """(started_at, ended_at) with the defaults filled, or AssistError."""
    ended = request.ended_at or wall_now
    started = request.started_at or ended - rules.default_assist
    if ended <= started:
        raise AssistError("ended_before_start", "ended_at must be after started_at",
                          field="ended_at")
    if ended - started > rules.max_assist:
        hours = rules.max_assist.total_seconds() / 3600
        raise AssistError("too_long", f"an assist lasts at most {hours:g} hours",
                          field="ended_at")
    refuse_future(ended, wall_now, rules, field="ended_at")
    return started, ended


def check_outcome(request: AssistRequest) -> None:
    """reason exactly when not_completed; dossier_id when submitted_online, never unfinished."""
    if request.outcome == "not_completed" and request.reason is None:
        raise AssistError("reason_required", "reason is required when the outcome is "
                          "not_completed", field="reason")
    if request.outcome != "not_completed" and request.reason is not None:
        raise AssistError("reason_not_allowed", "reason is given only when the outcome is "
                          "not_completed", field="reason")
    if request.outcome == "submitted_online" and not request.dossier_id:
        raise AssistError("dossier_required", "dossier_id is required when the outcome is "
                          "submitted_online", field="dossier_id")
    if request.outcome == "not_completed" and request.dossier_id:
        raise AssistError("dossier_not_allowed", "an assist not completed has no dossier_id",
                          field="dossier_id")


def assist_session(request: AssistRequest, *, sessions: Sequence[Session], started: datetime,
                   ended: datetime, checked_in: Collection[str], rules: Rules) -> Session | None:
    """The session an assist belongs to: the given one, or at the desk the current one."""
    if request.venue in NO_SESSION_VENUES:
        if request.shift_id:
            raise AssistError("no_session_outreach", f"a {request.venue} has no session",
                              field="shift_id")
        return None
    if request.shift_id:
        session = _usable(next((s for s in sessions if s.shift_id == request.shift_id), None),
                          request.shift_id)
        assert session.starts_at and session.ends_at
        if started > session.ends_at or ended < session.starts_at - rules.checkin_early:
            raise AssistError("outside_session", f"the assist does not fall in session "
                              f"{request.shift_id}", field="started_at")
        return session
    if request.venue != DESK_VENUE:
        return None  # outreach: a session only when one is named
    session = choose_session(sessions, at=started, member_ids=request.member_ids,
                             checked_in=checked_in, rules=rules)
    if session is None:
        raise AssistError("no_current_session", "no session of this ward is open at started_at; "
                          "give shift_id, or an outreach venue", field="shift_id")
    return session


def assist_data(request: AssistRequest, *, ward_id: str, assist_id: str,
                session: Session | None, started: datetime,
                ended: datetime) -> AssistCompletedData:
    """The assist.completed data of a checked request."""
    fields = request.model_dump(exclude={"assist_id", "shift_id", "started_at", "ended_at"})
    return AssistCompletedData(**fields, ward_id=ward_id, assist_id=assist_id,
                               shift_id=session.shift_id if session else None,
                               started_at=started, ended_at=ended)


def check_dossier(dossier: DossierReceivedData, *, ward_id: str, wall_now: datetime,
                  rules: Rules) -> tuple[str, str] | None:
    """(reason code, message) for a dossier that cannot be accepted, else None."""
    if dossier.ward_id != ward_id:
        return "wrong_ward", f"the dossier is for ward {dossier.ward_id}, not {ward_id}"
    if dossier.received_at > wall_now + rules.max_future:
        return "received_in_future", "received_at lies in the future"
    if dossier.fully_online and not dossier.eligible_fully_online:
        return "fully_online_not_eligible", ("fully_online is true but the procedure is not "
                                             "eligible_fully_online")
    if dossier.fully_online and dossier.channel != "online":
        return "fully_online_not_online", "fully_online is true but the channel is not online"
    if dossier.paid_online and dossier.fee_due is False:
        return "paid_without_fee", "paid_online is true but fee_due is false"
    return None


def link_dossier(dossier: DossierReceivedData, assist_id: str | None) -> DossierReceivedData:
    """The dossier as published: assisted, with the assist's id, when its assist is known."""
    if assist_id is None:
        return dossier
    return dossier.model_copy(update={"assisted": True, "assist_id": assist_id})


def first_per_dossier(dossiers: Iterable[DossierReceivedData]) -> list[DossierReceivedData]:
    """Duplicates by dossier_id (within a ward) dropped, the first kept."""
    seen: dict[tuple[str, str], DossierReceivedData] = {}
    for dossier in dossiers:
        seen.setdefault((dossier.ward_id, dossier.dossier_id), dossier)
    return list(seen.values())


def ward_now(clock: str, wall_now: datetime, watermark: datetime | None) -> datetime | None:
    """'Now' for a ward's time-based decisions: the wall clock, or the latest time in its data
    (None when nothing was seen yet)."""
    return wall_now if clock == "wall" else watermark


def ward_day(now: datetime) -> tuple[datetime, datetime]:
    """The ward's local day around `now`, as [start, end) instants."""
    local = now.astimezone(WARD_TZ)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)
