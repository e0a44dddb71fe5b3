"""`inbox.apply_once` rebuilds a batch from its keyed events and the inbox's fresh ones: in
order, each claimed event once, even when the same object comes twice."""

from shared.events.roster import (
    ShiftAssigned,
    ShiftAssignedData,
    ShiftCancelled,
    ShiftCancelledData,
)
from shared.inbox import _with_fresh


def assigned(n: int) -> ShiftAssigned:
    data = ShiftAssignedData(ward_id="ban-thach", shift_id=f"ca-{n}", member_id="m-1")
    return ShiftAssigned.create(data, service="roster", event_id=f"a-{n}")


def cancelled(n: int) -> ShiftCancelled:
    data = ShiftCancelledData(ward_id="ban-thach", shift_id=f"ca-{n}", reason="holiday")
    return ShiftCancelled.create(data, service="roster", event_id=f"c-{n}")


def test_keyed_events_stay_and_each_claimed_event_is_kept_once_in_order() -> None:
    a1, a2, a3, c1 = assigned(1), assigned(2), assigned(3), cancelled(1)
    # a1 claimed (its second copy is not), a2 applied before (not claimed), a3 claimed
    batch = [a1, c1, a1, a2, c1, a3]
    assert _with_fresh(batch, [a1, a3], (ShiftCancelled,)) == [a1, c1, c1, a3]
    assert _with_fresh(batch, [], (ShiftCancelled,)) == [c1, c1]
