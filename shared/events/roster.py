"""Events of the roster service: teams, members and the rotation plan."""

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field

from .envelope import WARD_ID_PATTERN, Event, EventData

TOPIC = "cdt.roster.events"
SERVICE = "roster"

Occupation = Literal["teacher", "retiree", "youth_union", "ward_official", "other"]
Location = Literal["service_center", "cultural_house", "other"]
Period = Literal["morning", "afternoon", "evening"]
WardId = str


class _WardData(EventData):
    ward_id: WardId = Field(pattern=WARD_ID_PATTERN)


class TeamRegisteredData(_WardData):
    team_id: str
    name: str
    hamlet: str
    leader_member_id: str | None = None


class TeamRegistered(Event):
    TYPE = "vn.cdt.roster.team.registered.v1"
    type: Literal["vn.cdt.roster.team.registered.v1"] = TYPE
    data: TeamRegisteredData


class MemberRegisteredData(_WardData):
    member_id: str
    team_id: str
    display_name: str
    occupation: Occupation
    is_leader: bool


class MemberRegistered(Event):
    TYPE = "vn.cdt.roster.member.registered.v1"
    type: Literal["vn.cdt.roster.member.registered.v1"] = TYPE
    data: MemberRegisteredData


class MemberDeactivatedData(_WardData):
    member_id: str
    reason: str


class MemberDeactivated(Event):
    TYPE = "vn.cdt.roster.member.deactivated.v1"
    type: Literal["vn.cdt.roster.member.deactivated.v1"] = TYPE
    data: MemberDeactivatedData


class ShiftScheduledData(_WardData):
    shift_id: str
    team_id: str
    location: Location
    date: date
    period: Period
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    min_staff: int = Field(default=2, ge=1)


class ShiftScheduled(Event):
    TYPE = "vn.cdt.roster.shift.scheduled.v1"
    SUBJECT = "shift/{shift_id}"
    type: Literal["vn.cdt.roster.shift.scheduled.v1"] = TYPE
    data: ShiftScheduledData


class ShiftAssignedData(_WardData):
    shift_id: str
    member_id: str


class ShiftAssigned(Event):
    TYPE = "vn.cdt.roster.shift.assigned.v1"
    SUBJECT = "shift/{shift_id}"
    type: Literal["vn.cdt.roster.shift.assigned.v1"] = TYPE
    data: ShiftAssignedData


class ShiftUnassignedData(_WardData):
    shift_id: str
    member_id: str
    reason: str


class ShiftUnassigned(Event):
    TYPE = "vn.cdt.roster.shift.unassigned.v1"
    SUBJECT = "shift/{shift_id}"
    type: Literal["vn.cdt.roster.shift.unassigned.v1"] = TYPE
    data: ShiftUnassignedData


class ShiftCancelledData(_WardData):
    shift_id: str
    reason: str


class ShiftCancelled(Event):
    TYPE = "vn.cdt.roster.shift.cancelled.v1"
    SUBJECT = "shift/{shift_id}"
    type: Literal["vn.cdt.roster.shift.cancelled.v1"] = TYPE
    data: ShiftCancelledData


EVENT_TYPES: tuple[type[Event], ...] = (
    TeamRegistered,
    MemberRegistered,
    MemberDeactivated,
    ShiftScheduled,
    ShiftAssigned,
    ShiftUnassigned,
    ShiftCancelled,
)
