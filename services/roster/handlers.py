"""Applies the assist service's check-ins, so that a re-plan never touches a checked-in shift."""

import asyncpg

from services.roster import shift_store
from shared.events.assist import DeskCheckedIn
from shared.events.envelope import Event
from shared.service import Runtime


async def apply_assist_events(runtime: Runtime, conn: asyncpg.Connection, events: list[Event]) -> None:
    """Record each check-in (in the batch's transaction; the inbox has dropped repeats)."""
    checkins = []
    for event in events:
        match event:
            case DeskCheckedIn(data=data):
                checkins.append((data.ward_id, data.checkin_id, data.shift_id, data.member_id, data.at))
            case _:
                pass  # other assist events do not concern the roster
    await shift_store.record_checkins(conn, checkins=checkins)
