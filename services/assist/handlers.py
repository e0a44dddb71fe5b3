"""Consumed topics: the roster's sessions and members, and the dossiers the province received."""

from __future__ import annotations

import asyncpg

from services.assist import commands, domain, store
from shared.events import Event
from shared.events.intake import IntakeDossierReceived
from shared.events.roster import (
    MemberDeactivated,
    MemberRegistered,
    ShiftAssigned,
    ShiftCancelled,
    ShiftScheduled,
    ShiftUnassigned,
)
from shared.messaging import RuleViolationError
from shared.service import Runtime


def _same_ward(event: Event) -> None:
    ward_id = getattr(event.data, "ward_id", event.wardid)
    if ward_id != event.wardid:
        # Never the values: x-dlt-error carries no input (CONTRACT.md, dead letters).
        raise RuleViolationError(event, "ward_mismatch", "ce_wardid differs from data.ward_id")


async def apply_roster(runtime: Runtime, conn: asyncpg.Connection, events: list[Event]) -> None:
    """Sessions, assignments and members; each table is independent, so any order converges."""
    for event in events:
        _same_ward(event)
        match event:
            case ShiftScheduled(data=d):
                await store.schedule_shift(conn, ward_id=d.ward_id, shift_id=d.shift_id,
                                           location=d.location, starts_at=d.starts_at,
                                           ends_at=d.ends_at, min_staff=d.min_staff)
            case ShiftCancelled(data=d):
                await store.cancel_shift(conn, ward_id=d.ward_id, shift_id=d.shift_id,
                                         reason=d.reason)
            case ShiftAssigned(data=d) | ShiftUnassigned(data=d):
                await store.assign(conn, ward_id=d.ward_id, shift_id=d.shift_id,
                                   member_id=d.member_id, assigned=isinstance(event, ShiftAssigned))
            case MemberRegistered(data=d):
                await store.record_member(conn, ward_id=d.ward_id, member_id=d.member_id,
                                          display_name=d.display_name, active=True)
            case MemberDeactivated(data=d):
                await store.record_member(conn, ward_id=d.ward_id, member_id=d.member_id,
                                          display_name=None, active=False)


async def apply_intake(runtime: Runtime, conn: asyncpg.Connection, events: list[Event]) -> None:
    """Validate each dossier (a broken rule is dead-lettered), drop duplicates, publish once."""
    now = runtime.clock()
    rules = commands.rules_of(runtime.settings)  # type: ignore[arg-type]
    for event in events:
        assert isinstance(event, IntakeDossierReceived)
        _same_ward(event)
        problem = domain.check_dossier(event.data, ward_id=event.wardid, wall_now=now, rules=rules)
        if problem:
            raise RuleViolationError(event, *problem)
    await commands.accept_dossiers(conn, [e.data for e in events], via="topic", now=now)
