"""What the roster database holds, as plain records the stores return and the rules read."""

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class TeamRecord:
    team_id: str
    name: str
    hamlet: str
    leader_member_id: str | None
    position: int  # registration order: the default rotation order


@dataclass(frozen=True)
class MemberRecord:
    member_id: str
    team_id: str
    name: str  # the display name; `name` so that importer.diff_roster compares it
    occupation: str
    is_leader: bool
    unavailable: frozenset[date]
    active: bool
    phone: str | None = field(default=None, repr=False)  # kept only in the roster database


@dataclass(frozen=True)
class ShiftRecord:
    shift_id: str
    team_id: str
    date: date
    period: str
    starts_at: datetime
    ends_at: datetime
    location: str
    min_staff: int
    status: str  # scheduled | cancelled
    cancel_reason: str | None
    members: tuple[str, ...]  # member ids, sorted
    pinned: bool = False  # changed by hand (swap, release): a re-plan keeps it as it is
    checked_in: tuple[str, ...] = ()  # members who checked in (from desk.checked_in)
