"""A consumer whose apply is split in `prepare` (rows from events, no database) and `write`: the
next batch's rows are built while the previous batch's transaction is still open, and rows built
from events the inbox already held are rebuilt from the fresh ones; `keyed` events skip the inbox
and are kept once by their fact's key. Real PostgreSQL (the inbox and the delivery counters); the
broker's consumer is a fake that records offset commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from shared import db, inbox
from shared.events.roster import ShiftAssigned, ShiftCancelled
from shared.messaging import BatchConsumer
from shared.service import SHARED_MIGRATIONS
from tests.roster_events import shift_assigned, shift_cancelled


class FakeConsumer(AIOKafkaConsumer):
    """Records offset commits and seeks; nothing connects."""

    def __init__(self) -> None:  # noqa: D107 - no super(): no client
        self.commits: list[dict] = []
        self.seeks: list[tuple] = []

    async def commit(self, offsets=None) -> None:  # type: ignore[override]
        self.commits.append(dict(offsets))

    def seek(self, partition, offset) -> None:  # type: ignore[override]
        self.seeks.append((partition, offset))

    def __del__(self) -> None:
        pass


def message(consumer: FakeConsumer, first: int, events: list) -> SimpleNamespace:
    raw = tuple(SimpleNamespace(topic="t", partition=0, offset=first + i)
                for i in range(len(events)))
    return SimpleNamespace(raw_message=raw, consumer=consumer, rejections=[], origin={})


class Rows:
    """What `prepare` builds and `write` writes: the batch's shift ids, into a table."""

    def __init__(self) -> None:
        self.prepared: list[list[str]] = []  # each call's shift ids, in call order
        self.written: list[list[str]] = []
        self.gate: asyncio.Event | None = None  # the first write waits for it
        self.fail_prepare_on: str | None = None

    def prepare(self, events: list) -> list[str]:
        ids = [e.data.shift_id for e in events]
        self.prepared.append(ids)
        if self.fail_prepare_on in ids:
            raise RuntimeError("a bug in building rows")
        return ids

    async def write(self, conn: asyncpg.Connection, ids: list[str]) -> None:
        if self.gate is not None and not self.written:
            await self.gate.wait()
        await conn.execute("INSERT INTO applied (shift_id) SELECT unnest($1::text[])", ids)
        self.written.append(ids)

    async def apply(self, conn: asyncpg.Connection, events: list) -> None:
        raise AssertionError("with prepare and write, apply is not called")


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    url = fresh_database_url + "_prepare"
    await db.prepare_database(url, SHARED_MIGRATIONS)
    pool = await db.create_pool(url, max_size=4)
    await pool.execute("CREATE TABLE applied (shift_id text)")
    await pool.execute("CREATE TABLE cancelled (shift_id text PRIMARY KEY)")
    yield pool
    await pool.close()


def consumer_of(pool: asyncpg.Pool, rows: Rows) -> BatchConsumer:
    return BatchConsumer(service="test", pool=pool, dead_letters=None,  # type: ignore[arg-type]
                         apply=rows.apply, prepare=rows.prepare, write=rows.write)


async def applied(pool: asyncpg.Pool) -> list[str]:
    return [r[0] for r in await pool.fetch("SELECT shift_id FROM applied ORDER BY shift_id")]


async def test_the_next_batch_is_prepared_while_the_previous_transaction_is_open(
        pool: asyncpg.Pool) -> None:
    rows, consumer = Rows(), FakeConsumer()
    rows.gate = asyncio.Event()
    batches = consumer_of(pool, rows)
    first, second = [shift_assigned(1), shift_assigned(2)], [shift_assigned(3)]
    await batches.consume(first, message(consumer, 0, first))  # type: ignore[arg-type]
    waiting = asyncio.create_task(batches.consume(second, message(consumer, 2, second)))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert rows.prepared == [["ca-1", "ca-2"], ["ca-3"]], "built before the first one commits"
    assert rows.written == [] and consumer.commits == [] and not waiting.done()
    rows.gate.set()
    await asyncio.wait_for(waiting, 5)
    await batches.drain()
    # The rows built ahead are the ones written: no second build when every event is fresh.
    assert rows.written == [["ca-1", "ca-2"], ["ca-3"]] and len(rows.prepared) == 2
    assert await applied(pool) == ["ca-1", "ca-2", "ca-3"]
    assert [list(c.values()) for c in consumer.commits] == [[2], [3]]


async def test_rows_are_rebuilt_from_the_fresh_events_when_some_were_applied_before(
        pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await inbox.claim(conn, [shift_assigned(2)])  # applied by an earlier delivery
    rows, consumer = Rows(), FakeConsumer()
    batches = consumer_of(pool, rows)
    # 3 redelivered within the batch too
    batch = [shift_assigned(1), shift_assigned(2), shift_assigned(3), shift_assigned(3)]
    await batches.consume(batch, message(consumer, 0, batch))  # type: ignore[arg-type]
    await batches.drain()
    assert rows.prepared == [["ca-1", "ca-2", "ca-3", "ca-3"], ["ca-1", "ca-3"]]
    assert rows.written == [["ca-1", "ca-3"]]
    assert await applied(pool) == ["ca-1", "ca-3"]
    processed = await pool.fetchval(
        "SELECT sum(count) FROM event_counts WHERE kind = 'processed'")
    assert processed == 2


async def test_a_bug_in_building_rows_hands_the_batch_back_unapplied(pool: asyncpg.Pool) -> None:
    rows, consumer = Rows(), FakeConsumer()
    rows.fail_prepare_on = "ca-2"
    batches = consumer_of(pool, rows)
    batch = [shift_assigned(1), shift_assigned(2)]
    await batches.consume(batch, message(consumer, 7, batch))  # type: ignore[arg-type]
    await batches.drain()
    # Built ahead (failed, quietly), then again in the transaction (failed: a bug): rewound.
    assert len(rows.prepared) == 2 and rows.written == []
    assert consumer.commits == [] and [o for _, o in consumer.seeks] == [7]
    assert await applied(pool) == []
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0, "the claim rolled back"


class KeyedRows(Rows):
    """Cancellations are facts keyed by their shift id (the table's primary key): `write`
    inserts the new ones and returns their events; assignments go through the inbox."""

    def prepare(self, events: list) -> list:  # type: ignore[override]
        self.prepared.append([e.data.shift_id for e in events])
        return events

    async def write(self, conn: asyncpg.Connection, events: list) -> list:  # type: ignore[override]
        assigned = [e.data.shift_id for e in events if isinstance(e, ShiftAssigned)]
        await conn.execute("INSERT INTO applied (shift_id) SELECT unnest($1::text[])", assigned)
        facts = [e for e in events if isinstance(e, ShiftCancelled)]
        new = {r[0] for r in await conn.fetch(
            "INSERT INTO cancelled SELECT unnest($1::text[]) ON CONFLICT DO NOTHING "
            "RETURNING shift_id", [e.data.shift_id for e in facts])}
        self.written.append([e.data.shift_id for e in events])
        applied = []
        for e in facts:  # the first event of each new fact
            if e.data.shift_id in new:
                new.discard(e.data.shift_id)
                applied.append(e)
        return applied


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    return {r[0].split(".")[-2]: r[1] for r in await pool.fetch(
        "SELECT label, count FROM event_counts WHERE kind = 'processed'")}


async def test_keyed_events_skip_the_inbox_and_are_counted_once_by_their_facts_key(
        pool: asyncpg.Pool) -> None:
    rows, consumer = KeyedRows(), FakeConsumer()
    batches = BatchConsumer(service="test", pool=pool, dead_letters=None,  # type: ignore[arg-type]
                            apply=rows.apply, prepare=rows.prepare, write=rows.write,
                            keyed=(ShiftCancelled,))
    first = [shift_cancelled(1), shift_assigned(2)]
    await batches.consume(first, message(consumer, 0, first))  # type: ignore[arg-type]
    await batches.drain()
    assert await counts(pool) == {"cancelled": 1, "assigned": 1}

    # Redelivered (its offsets not committed), with new events: cancellation 1 again under its
    # own id and re-sent under another, cancellation 2 twice in the batch, assignment 2 again.
    batches = BatchConsumer(service="test", pool=pool, dead_letters=None,  # type: ignore[arg-type]
                            apply=rows.apply, prepare=rows.prepare, write=rows.write,
                            keyed=(ShiftCancelled,))
    second = [shift_assigned(1), shift_cancelled(1), shift_cancelled(1, "c-1-resent"),
              shift_assigned(2), shift_cancelled(2), shift_cancelled(2)]
    await batches.consume(second, message(consumer, 2, second))  # type: ignore[arg-type]
    await batches.drain()
    # Built ahead from every event, then again without the assignment the inbox held; the
    # keyed ones all reach `write`, which keeps each fact once.
    assert rows.prepared[-2:] == [["ca-1", "ca-1", "ca-1", "ca-2", "ca-2", "ca-2"],
                                  ["ca-1", "ca-1", "ca-1", "ca-2", "ca-2"]]
    assert await counts(pool) == {"cancelled": 2, "assigned": 2}
    assert await applied(pool) == ["ca-1", "ca-2"]
    assert [r[0] for r in await pool.fetch("SELECT shift_id FROM cancelled ORDER BY 1")] == [
        "ca-1", "ca-2"]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 2, "assignments alone"
    assert [list(c.values()) for c in consumer.commits] == [[2], [8]]
