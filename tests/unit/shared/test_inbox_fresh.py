"""`inbox.apply_once` rebuilds a batch from its keyed events and the inbox's fresh ones: in
order, each claimed event once, even when the same object comes twice."""

from shared.events.roster import ShiftCancelled
from shared.inbox import _with_fresh
from tests.roster_events import shift_assigned, shift_cancelled


def test_keyed_events_stay_and_each_claimed_event_is_kept_once_in_order() -> None:
    a1, a2, a3, c1 = shift_assigned(1), shift_assigned(2), shift_assigned(3), shift_cancelled(1)
    # a1 claimed (its second copy is not), a2 applied before (not claimed), a3 claimed
    batch = [a1, c1, a1, a2, c1, a3]
    assert _with_fresh(batch, [a1, a3], (ShiftCancelled,)) == [a1, c1, c1, a3]
    assert _with_fresh(batch, [], (ShiftCancelled,)) == [c1, c1]
