"""The delivery counters of a batch (processed by type, rejected by reason, the lag histogram) are
written by one statement in the batch's transaction. Real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from shared import db, stats
from shared.events.roster import ShiftAssigned, ShiftCancelled
from shared.service import SHARED_MIGRATIONS
from tests.roster_events import shift_assigned, shift_cancelled


def assigned(n: int, lag: float) -> ShiftAssigned:
    """An assignment made `lag` seconds ago."""
    event = shift_assigned(n)
    return event.model_copy(update={"time": datetime.now(UTC) - timedelta(seconds=lag)})


async def read(conn: asyncpg.Connection) -> tuple[dict, dict]:
    counts = {(r["kind"], r["label"]): r["count"] for r in await conn.fetch(stats.READ_COUNTS)}
    lag = {r["le"]: r["count"] for r in await conn.fetch(stats.READ_LAG) if r["count"]}
    return counts, lag


async def test_counts_and_lag_add_up_over_batches_and_rejections_alone_add_no_lag(
        fresh_database_url: str) -> None:
    url = fresh_database_url + "_stats"
    await db.ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        await db.migrate(conn, SHARED_MIGRATIONS)
        async with conn.transaction():
            await stats.count_events(conn, [assigned(1, 0.0), assigned(2, 7.0), shift_cancelled(3)],
                                     ["invalid"])
        async with conn.transaction():
            await stats.count_events(conn, [assigned(4, 7.5)], ["invalid", "unknown-type"])
        async with conn.transaction():
            await stats.count_events(conn, [], ["invalid"])  # nothing applied: no lag row
        async with conn.transaction():
            await stats.count_events(conn, [], [])  # nothing at all: no statement

        counts, lag = await read(conn)
        assert counts == {("processed", ShiftAssigned.TYPE): 3,
                          ("processed", ShiftCancelled.TYPE): 1,
                          ("rejected", "invalid"): 3, ("rejected", "unknown-type"): 1}
        # 0 s and the just-created cancellation under 0.05 s (or 0.1 on a slow machine); 7 s and
        # 7.5 s under 10 s.
        assert lag[10.0] == 2 and sum(lag.values()) == 4
        total = await conn.fetchval("SELECT sum FROM event_lag WHERE le = 'Infinity'")
        assert 14.5 <= total < 15.5
    finally:
        await conn.close()
