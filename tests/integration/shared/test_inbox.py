"""The inbox applies an event once per ce_source + ce_id, and inboxes made before its digest key
carry over: what they had claimed stays claimed."""

from datetime import UTC, datetime

import asyncpg

from shared import db, inbox
from shared.events.roster import ShiftAssigned, ShiftAssignedData
from shared.service import SHARED_MIGRATIONS


def _event(event_id: str, source: str = "/wards/ban-thach/roster") -> ShiftAssigned:
    data = ShiftAssignedData(ward_id="ban-thach", shift_id="ca-sáng-1", member_id="m-1")
    event = ShiftAssigned.create(data, service="roster", event_id=event_id)
    return event.model_copy(update={"source": source})


async def test_an_inbox_of_text_keys_migrates_and_keeps_what_it_had_claimed(
        fresh_database_url: str) -> None:
    url = fresh_database_url + "_inbox"
    await db.ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        first = [m for m in SHARED_MIGRATIONS if m.version == 1]
        await db.migrate(conn, first)
        claimed_at = datetime(2025, 9, 8, 1, 0, tzinfo=UTC)
        old = [_event("e-1"), _event("Nguyễn-ê-2"), _event("e-1", "/wards/bản-thạch/assist")]
        await conn.executemany("INSERT INTO inbox (source, id, received_at) VALUES ($1, $2, $3)",
                               [(e.source, e.id, claimed_at) for e in old])

        up_to_inbox_key = [m for m in SHARED_MIGRATIONS if m.version <= 2]
        assert await db.migrate(conn, up_to_inbox_key) == ["002_inbox_key.sql"]
        assert await db.migrate(conn, up_to_inbox_key) == []  # re-running is a no-op
        kept = await conn.fetch("SELECT received_at FROM inbox")
        assert [r["received_at"] for r in kept] == [claimed_at] * 3

        new = [_event("e-3"), _event("e-2"), _event("e-1", "/wards/ban-thach/assist")]
        async with conn.transaction():
            fresh = await inbox.claim(conn, [*old, new[0], new[0], *new[1:], old[0]])
        assert fresh == new  # in order, a repeat within the batch kept once
        async with conn.transaction():
            assert await inbox.claim(conn, [*new, *old]) == []
    finally:
        await conn.close()


def test_the_inbox_key_is_128_bits_and_tells_source_from_id() -> None:
    assert len(inbox.key("/wards/a/roster", "1")) == 16
    assert inbox.key("/wards/a/roster", "12") != inbox.key("/wards/a/roster1", "2")
    assert inbox.key("/wards/a/roster", "1") == inbox.key("/wards/a/roster", "1")
