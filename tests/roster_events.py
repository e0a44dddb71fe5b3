"""Roster events for the tests of the shared delivery code: one ward, shifts numbered n."""

from __future__ import annotations

from shared.events.roster import (
    ShiftAssigned,
    ShiftAssignedData,
    ShiftCancelled,
    ShiftCancelledData,
)


def shift_assigned(n: int, event_id: str | None = None) -> ShiftAssigned:
    data = ShiftAssignedData(ward_id="ban-thach", shift_id=f"ca-{n}", member_id="m-1")
    return ShiftAssigned.create(data, service="roster", event_id=event_id or f"a-{n}")


def shift_cancelled(n: int, event_id: str | None = None) -> ShiftCancelled:
    data = ShiftCancelledData(ward_id="ban-thach", shift_id=f"ca-{n}", reason="holiday")
    return ShiftCancelled.create(data, service="roster", event_id=event_id or f"c-{n}")
