"""The pipelined outbox relay on the real PostgreSQL: nothing skipped, nothing lost, one relay.

The producer is a fake broker that acks each send a moment later (or fails it on request), so
that the tests can say which rows reached the log and in what order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from aiokafka.errors import KafkaTimeoutError

from shared import db, outbox
from shared.events.roster import ShiftAssigned, ShiftAssignedData
from shared.service import SHARED_MIGRATIONS

TOPIC = "cdt.roster.events"
LOCK_HOLDER = """
SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND objsubid = 1 AND (classid::bigint << 32 | objid::bigint) = $1
"""


class FakeBroker:
    """A producer whose acks come 1 ms after a send. As in Kafka, what is sent for one key in a
    burst is one record batch, acked or failed as a whole: a batch holding an event of `fail`
    fails (once per event). `log` is what the broker keeps: the event ids acked, in order."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = set(fail or ())
        self.log: list[str] = []
        self.sends = 0
        self._open: dict[bytes, list[tuple[str, asyncio.Future[None]]]] = {}

    async def send(self, topic: str, value: bytes, *, key: bytes,
                   headers: list[tuple[str, bytes]]) -> asyncio.Future[None]:
        self.sends += 1
        loop = asyncio.get_running_loop()
        if key not in self._open:
            self._open[key] = []
            loop.call_later(0.001, self._settle, key)
        ack: asyncio.Future[None] = loop.create_future()
        self._open[key].append((dict(headers)["ce_id"].decode(), ack))
        return ack

    def _settle(self, key: bytes) -> None:
        batch = self._open.pop(key)
        failed = any(event_id in self.fail for event_id, _ in batch)
        for event_id, ack in batch:
            self.fail.discard(event_id)
            if not failed:
                self.log.append(event_id)
            if not ack.done():  # an ack the relay stopped waiting for is cancelled
                ack.set_exception(KafkaTimeoutError()) if failed else ack.set_result(None)


def _events(start: int, count: int, ward: str = "ban-thach") -> list[ShiftAssigned]:
    return [ShiftAssigned.create(ShiftAssignedData(ward_id=ward, shift_id=f"ca-sáng-{seq}",
                                                   member_id=f"thành-viên-{seq}"),
                                 service="roster") for seq in range(start, start + count)]


async def _add(pool: asyncpg.Pool, events: list[ShiftAssigned]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, TOPIC, events)


async def _ids_in_order(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        return [r["event_id"] for r in await conn.fetch("SELECT event_id FROM outbox ORDER BY id")]


async def _until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _all_sent(pool: asyncpg.Pool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with pool.acquire() as conn:
            if await outbox.unsent_count(conn) == 0:
                return
        assert time.monotonic() < deadline, "rows left unsent"
        await asyncio.sleep(0.05)


def _first_delivery(log: list[str]) -> list[str]:
    return list(dict.fromkeys(log))


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    url = fresh_database_url + "_relay"
    await db.prepare_database(url, SHARED_MIGRATIONS)
    pool = await db.create_pool(url, max_size=6)
    yield pool
    await pool.close()


@contextlib.asynccontextmanager
async def running(relay: outbox.OutboxRelay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_lower_id_committed_after_higher_ones_is_relayed_not_skipped(pool) -> None:
    broker = FakeBroker()
    relay = outbox.OutboxRelay(pool, broker, batch_size=10, poll_interval=0.1)  # type: ignore[arg-type]
    late = _events(0, 1)
    async with pool.acquire() as slow, running(relay):
        async with slow.transaction():
            await outbox.add(slow, TOPIC, late)  # takes the lowest id, commits last
            for start in range(1, 101, 20):
                await _add(pool, _events(start, 20))
            await _until(lambda: len(broker.log) == 100)
        await _all_sent(pool)
    assert broker.log[-1] == late[0].id
    assert sorted(broker.log) == sorted(await _ids_in_order(pool))


async def test_a_mark_that_fails_after_the_acks_sends_the_batch_again_and_loses_nothing(
        pool) -> None:
    async with pool.acquire() as conn:  # marking row 25 sent fails until the trigger is dropped
        await conn.execute("""
            CREATE FUNCTION fail_mark() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'mark failed'; END $$;
            CREATE TRIGGER fail_mark BEFORE UPDATE ON outbox FOR EACH ROW
              WHEN (NEW.id = 25 AND NEW.sent_at IS NOT NULL) EXECUTE FUNCTION fail_mark();""")
    await _add(pool, _events(0, 60))
    broker = FakeBroker()
    relay = outbox.OutboxRelay(pool, broker, batch_size=10, poll_interval=0.1)  # type: ignore[arg-type]
    async with running(relay), pool.acquire() as conn:
        await _until(lambda: broker.sends > 60)
        await conn.execute("DROP TRIGGER fail_mark ON outbox")
        await _all_sent(pool)
    ids = await _ids_in_order(pool)
    assert _first_delivery(broker.log) == ids  # every row, first delivered in order
    assert broker.log.count(ids[24]) >= 2  # its batch went out again


async def test_a_failed_ack_stops_the_next_batch_and_the_order_of_first_delivery_holds(
        pool) -> None:
    events = [e for start in range(0, 96, 3) for e in _events(start, 3, ward=f"ward-{start % 4}")]
    await _add(pool, events)
    broker = FakeBroker(fail={events[33].id, events[34].id, events[71].id})
    relay = outbox.OutboxRelay(pool, broker, batch_size=10, poll_interval=0.1)  # type: ignore[arg-type]
    async with running(relay):
        await _all_sent(pool)
    assert len(broker.log) > len(events)  # failed batches went out again
    for ward in {e.wardid for e in events}:
        ids = {e.id for e in events if e.wardid == ward}
        assert [i for i in _first_delivery(broker.log) if i in ids] == [
            e.id for e in events if e.id in ids]


async def test_two_relays_on_one_database_never_relay_at_once(pool) -> None:
    first, second = FakeBroker(), FakeBroker()
    relay_1 = outbox.OutboxRelay(pool, first, batch_size=10, poll_interval=0.05)  # type: ignore[arg-type]
    relay_2 = outbox.OutboxRelay(pool, second, batch_size=10, poll_interval=0.05)  # type: ignore[arg-type]
    async with contextlib.AsyncExitStack() as stack:
        stopping_1 = await stack.enter_async_context(contextlib.AsyncExitStack())
        await stopping_1.enter_async_context(running(relay_1))
        await _add(pool, _events(0, 30))
        await _until(lambda: len(first.log) == 30)
        await stack.enter_async_context(running(relay_2))
        for start in range(30, 130, 25):
            await _add(pool, _events(start, 25))
        await _all_sent(pool)
        assert second.sends == 0  # it only listens: the lock is the first relay's
        await stopping_1.aclose()  # the first relay stops: the second takes over
        await _add(pool, _events(130, 20))
        await _all_sent(pool)
    assert first.log + second.log == await _ids_in_order(pool)
    assert len(second.log) == 20


async def test_a_relay_whose_connection_is_terminated_takes_the_lock_again_and_goes_on(
        pool) -> None:
    broker = FakeBroker()
    relay = outbox.OutboxRelay(pool, broker, batch_size=10, poll_interval=0.05)  # type: ignore[arg-type]
    async with running(relay), pool.acquire() as admin:
        await _add(pool, _events(0, 1000))
        await _until(lambda: len(broker.log) >= 200)  # in the middle of the backlog
        holder = await admin.fetchval(LOCK_HOLDER, outbox._RELAY_LOCK)
        assert holder is not None
        await admin.execute("SELECT pg_terminate_backend($1)", holder)
        await _add(pool, _events(1000, 20))
        await _all_sent(pool)
        again = await admin.fetchval(LOCK_HOLDER, outbox._RELAY_LOCK)
        assert again is not None and again != holder
    assert _first_delivery(broker.log) == await _ids_in_order(pool)


async def test_a_stopped_relay_gives_the_lock_back(pool) -> None:
    relay = outbox.OutboxRelay(pool, FakeBroker(), poll_interval=0.05)  # type: ignore[arg-type]
    async with pool.acquire() as admin:
        async with running(relay):
            await _add(pool, _events(0, 5))
            await _all_sent(pool)
            assert await admin.fetchval(LOCK_HOLDER, outbox._RELAY_LOCK) is not None
        assert await admin.fetchval(LOCK_HOLDER, outbox._RELAY_LOCK) is None


async def test_an_outbox_of_json_headers_migrates_and_its_rows_keep_their_headers(
        fresh_database_url: str) -> None:
    url = fresh_database_url + "_headers"
    await db.ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        await db.migrate(conn, [m for m in SHARED_MIGRATIONS if m.version <= 2])
        events = _events(0, 3)
        await conn.executemany(  # as outbox.add wrote them before 003
            "INSERT INTO outbox (topic, key, value, headers, event_id, event_type) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [(TOPIC, key, value, json.dumps([[n, v.decode()] for n, v in headers]), e.id, e.type)
             for e in events for key, value, headers in [e.to_kafka()]])
        await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = 1")

        assert await db.migrate(conn, SHARED_MIGRATIONS) == ["003_outbox_headers.sql"]
        rows = await conn.fetch("SELECT headers, sent_at IS NULL AS unsent FROM outbox ORDER BY id")
        assert [outbox.unpack_headers(r["headers"]) for r in rows] == [
            e.to_kafka()[2] for e in events]
        assert [r["unsent"] for r in rows] == [False, True, True]
    finally:
        await conn.close()
