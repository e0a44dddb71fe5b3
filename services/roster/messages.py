"""The roster's outgoing events, built from its records: one small function per event type."""

from collections.abc import Iterable

from services.roster.domain import Session
from services.roster.importer import MemberRow, TeamRow
from shared.events import roster
from shared.events.envelope import Event

SERVICE = roster.SERVICE


def team_registered(ward_id: str, team: TeamRow) -> Event:
    return roster.TeamRegistered.create(roster.TeamRegisteredData(
        ward_id=ward_id, team_id=team.team_id, name=team.name, hamlet=team.hamlet,
        leader_member_id=team.leader_member_id), service=SERVICE)


def member_registered(ward_id: str, member: MemberRow) -> Event:
    return roster.MemberRegistered.create(roster.MemberRegisteredData(
        ward_id=ward_id, member_id=member.member_id, team_id=member.team_id,
        display_name=member.name, occupation=member.occupation, is_leader=member.is_leader),
        service=SERVICE)


def member_deactivated(ward_id: str, member_id: str, reason: str) -> Event:
    return roster.MemberDeactivated.create(roster.MemberDeactivatedData(
        ward_id=ward_id, member_id=member_id, reason=reason), service=SERVICE)


def shift_scheduled(ward_id: str, session: Session) -> Event:
    return roster.ShiftScheduled.create(roster.ShiftScheduledData(
        ward_id=ward_id, shift_id=session.shift_id, team_id=session.team_id,
        location=session.location, date=session.date, period=session.period,
        starts_at=session.starts_at, ends_at=session.ends_at, min_staff=session.min_staff),
        service=SERVICE)


def shift_cancelled(ward_id: str, shift_id: str, reason: str) -> Event:
    return roster.ShiftCancelled.create(roster.ShiftCancelledData(
        ward_id=ward_id, shift_id=shift_id, reason=reason), service=SERVICE)


def shifts_assigned(ward_id: str, pairs: Iterable[tuple[str, str]]) -> list[Event]:
    return [roster.ShiftAssigned.create(roster.ShiftAssignedData(
        ward_id=ward_id, shift_id=shift_id, member_id=member_id), service=SERVICE)
        for shift_id, member_id in pairs]


def shifts_unassigned(ward_id: str, pairs: Iterable[tuple[str, str]], reason: str) -> list[Event]:
    return [roster.ShiftUnassigned.create(roster.ShiftUnassignedData(
        ward_id=ward_id, shift_id=shift_id, member_id=member_id, reason=reason), service=SERVICE)
        for shift_id, member_id in pairs]
