"""Transactional outbox: events written with the state change, relayed to Kafka after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from shared import failpoints
from shared.db import TRANSIENT_DB_ERRORS
from shared.events import Event

log = logging.getLogger(__name__)

CHANNEL = "cdt_outbox"
_RELAY_LOCK = 0x0CD7_0002  # one active relay per database keeps each key's events in order

INSERT = """
INSERT INTO outbox (topic, key, value, headers, event_id, event_type)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bytea[], $5::text[], $6::text[])
"""
TRY_LOCK = "SELECT pg_try_advisory_lock($1)"  # held by the relay's session, not a transaction
UNLOCK = "SELECT pg_advisory_unlock($1)"
# No row locks: the relay lock makes this the only relay of the database. $2: ids sent and not
# marked yet, left out (never `id > last`: sequence values commit out of order).
CLAIM = """
SELECT id, topic, key, value, headers FROM outbox
WHERE sent_at IS NULL AND id <> ALL($2::bigint[]) ORDER BY id LIMIT $1
"""
MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
PURGE = "DELETE FROM outbox WHERE sent_at < now() - $1::interval"
REPUBLISH = "UPDATE outbox SET sent_at = NULL WHERE sent_at >= $1"
UNSENT = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"


async def add(conn: asyncpg.Connection, topic: str, events: Sequence[Event]) -> None:
    """Put events in the outbox, in the caller's transaction; the relay is woken at commit."""
    if not events:
        return
    encoded = [e.to_kafka() for e in events]
    await conn.execute(
        INSERT,
        [topic] * len(events),
        [key for key, _, _ in encoded],
        [value for _, value, _ in encoded],
        [pack_headers(headers) for _, _, headers in encoded],
        [e.id for e in events],
        [e.type for e in events],
    )
    await conn.execute(f"NOTIFY {CHANNEL}")


def pack_headers(headers: Sequence[tuple[str, bytes]]) -> bytes:
    """Headers as the outbox keeps them: names and values joined by NUL bytes, in order."""
    packed = b"\0".join(part for name, value in headers for part in (name.encode(), value))
    if packed.count(b"\0") != max(2 * len(headers) - 1, 0):
        raise ValueError("a header name or value holds a NUL byte")
    return packed


def unpack_headers(packed: bytes) -> list[tuple[str, bytes]]:
    """The producer's headers from the outbox's: one split, no per-row JSON decoding."""
    parts = packed.split(b"\0")  # no header: b"" splits into [b""], paired with nothing
    return list(zip(map(bytes.decode, parts[::2]), parts[1::2], strict=False))


async def republish(conn: asyncpg.Connection, since: datetime) -> int:
    """Mark events sent since `since` as unsent, so the relay publishes them again."""
    result = await conn.execute(REPUBLISH, since)
    await conn.execute(f"NOTIFY {CHANNEL}")
    return int(result.split()[-1])


async def unsent_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(UNSENT))


class OutboxRelay:
    """Publishes committed outbox rows in order and marks them sent after the broker's acks.

    One relay per database is active: it holds a session advisory lock on a connection kept for
    it (the one that listens and claims), so the lock dies with that connection and another
    replica takes over. Batches are pipelined: the next batch is claimed while this one's acks
    are awaited, and a batch is marked sent (its own transaction, on another connection) while
    the next one is sent. A batch goes to the producer only after every ack of the one before,
    so each key's events are first delivered in order even when a batch fails.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=7),
        on_error: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention = retention
        self._on_error = on_error  # e.g. re-create topics a restarted broker has lost
        self._wake = asyncio.Event()
        self.published = 0

    async def run(self) -> None:
        """Relay until cancelled: woken by NOTIFY, polling as a fallback, backing off on errors.

        Without the relay lock (another replica has it) it only listens, and tries to take the
        lock at each wake-up. On an error it gives its connection back, lock and all."""
        conn: asyncpg.Connection | None = None
        locked = False
        backoff = 0.1
        purged_at = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    if conn is not None and conn.is_closed():  # terminated: its lock is gone
                        await self._release(conn, locked=False)
                        conn = None
                    if conn is None:
                        conn, locked = await self._connect(), False
                    self._wake.clear()
                    locked = locked or await conn.fetchval(TRY_LOCK, _RELAY_LOCK)
                    if locked:
                        await self._relay(conn)
                    backoff = 0.1
                    if loop.time() - purged_at > 3600:
                        await self.purge()
                        purged_at = loop.time()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval)
                except asyncio.CancelledError:
                    raise
                except (*TRANSIENT_DB_ERRORS, Exception) as exc:  # broker or database away
                    log.warning("outbox relay: %s; retrying in %.1fs", type(exc).__name__, backoff)
                    if conn is not None:
                        await self._release(conn, locked)
                        conn = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    if self._on_error is not None:
                        with contextlib.suppress(Exception):
                            await self._on_error()
        finally:
            if conn is not None:
                await self._release(conn, locked)

    async def purge(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(PURGE, self._retention)

    async def _relay(self, conn: asyncpg.Connection) -> None:
        """Relay batches until one comes back short, on `conn`, which holds the relay lock.

        On a failure the steps in flight end and the error is raised: rows sent and not marked
        are sent again from `sent_at IS NULL` the next time (at least once)."""
        rows = await conn.fetch(CLAIM, self._batch_size, [])
        ahead: asyncio.Task[list[asyncpg.Record]] | None = None
        marking: asyncio.Task[None] | None = None
        marking_ids: list[int] = []
        acks: list[asyncio.Future[object]] = []
        async with _Marker(self._pool) as marker:
            try:
                while rows:
                    ids = [r["id"] for r in rows]
                    if marking is not None and marking.done():
                        marking.result()  # raises if the mark failed
                        marking, marking_ids = None, []
                    if len(rows) == self._batch_size:
                        # Read ahead, without the rows not marked yet: claimed while this
                        # batch is sent and acked, sent only after its acks.
                        ahead = asyncio.create_task(
                            conn.fetch(CLAIM, self._batch_size, ids + marking_ids))
                    await asyncio.sleep(0)  # the claim and the mark reach the database first
                    if conn.is_closed():
                        raise asyncpg.ConnectionDoesNotExistError("the relay lock was lost")
                    acks = []
                    for r in rows:
                        acks.append(await self._producer.send(
                            r["topic"], r["value"], key=r["key"],
                            headers=unpack_headers(r["headers"])))
                    await asyncio.gather(*acks)
                    failpoints.hit("relay_after_publish")
                    if marking is not None:
                        await marking  # one mark at a time: it had a whole batch's time
                    marking, marking_ids = asyncio.create_task(marker.mark(ids)), ids
                    self.published += len(rows)
                    rows, ahead = (await ahead if ahead is not None else []), None
                if marking is not None:
                    await marking
            except BaseException as exc:
                await _end(exc, acks, ahead, marking)
                raise

    async def _connect(self) -> asyncpg.Connection:
        """A pool connection kept for the relay: it listens, holds the lock and claims."""
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(CHANNEL, self._notified)
            # A generic plan checks each row against the claim's 2,000 ids one by one (~14 ms
            # of the server's CPU); a custom plan hashes them. The pool resets it on release.
            await conn.execute("SET plan_cache_mode = force_custom_plan")
        except BaseException:
            await self._release(conn, locked=False)
            raise
        return conn

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _release(self, conn: asyncpg.Connection, locked: bool) -> None:
        """Give the relay's connection back to the pool. Its reset releases the lock too, and a
        connection that cannot be reset is closed: the lock dies with it."""
        if locked:
            with contextlib.suppress(Exception):
                await conn.fetchval(UNLOCK, _RELAY_LOCK, timeout=1)
        with contextlib.suppress(Exception):
            await conn.remove_listener(CHANNEL, self._notified)
        with contextlib.suppress(Exception):
            await self._pool.release(conn, timeout=1)


async def _end(exc: BaseException, acks: list[asyncio.Future[object]],
               ahead: asyncio.Task[Any] | None, marking: asyncio.Task[None] | None) -> None:
    """End a failed relay's steps: the claim read ahead is dropped; a mark under way finishes
    (its batch was acked: fewer rows sent twice) and the acks are awaited, unless the relay is
    being stopped: then nothing is awaited that could hold the stop up."""
    stopping = isinstance(exc, asyncio.CancelledError)
    steps = [s for s in (ahead, marking) if s is not None]
    for step in steps:
        if step is ahead or stopping:
            step.cancel()
    if stopping:
        for ack in acks:  # the producer still settles them; nobody waits
            ack.add_done_callback(lambda f: f.cancelled() or f.exception())
        acks = []
    await asyncio.gather(*acks, *steps, return_exceptions=True)


class _Marker:
    """Marks batches sent, each in one statement (its own transaction), on a connection kept
    while the relay runs through a backlog."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> _Marker:
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(self._conn, timeout=1)

    async def mark(self, ids: list[int]) -> None:
        if self._conn is None:
            self._conn = await self._pool.acquire()
        await self._conn.execute(MARK_SENT, ids)
