"""Transactional outbox: events written with the state change, relayed to Kafka after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

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
SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::jsonb[], $5::text[], $6::text[])
"""
CLAIM = """
SELECT id, topic, key, value, headers FROM outbox
WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
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
        [json.dumps([[n, v.decode()] for n, v in headers]) for _, _, headers in encoded],
        [e.id for e in events],
        [e.type for e in events],
    )
    await conn.execute(f"NOTIFY {CHANNEL}")


async def republish(conn: asyncpg.Connection, since: datetime) -> int:
    """Mark events sent since `since` as unsent, so the relay publishes them again."""
    result = await conn.execute(REPUBLISH, since)
    await conn.execute(f"NOTIFY {CHANNEL}")
    return int(result.split()[-1])


async def unsent_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(UNSENT))


class OutboxRelay:
    """Publishes committed outbox rows in order and marks them sent after the broker's acks."""

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

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows were sent."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0  # another replica is relaying this database
            rows = await conn.fetch(CLAIM, self._batch_size)
            if not rows:
                return 0
            # Send the whole batch, then await every ack: one round of waiting per batch.
            futures = [
                await self._producer.send(
                    r["topic"],
                    r["value"],
                    key=r["key"],
                    headers=[(n, v.encode()) for n, v in json.loads(r["headers"])],
                )
                for r in rows
            ]
            await asyncio.gather(*futures)
            failpoints.hit("relay_after_publish")
            await conn.execute(MARK_SENT, [r["id"] for r in rows])
        self.published += len(rows)
        return len(rows)

    async def purge(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(PURGE, self._retention)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled: woken by NOTIFY, polling as a fallback, backing off on errors."""
        listener: asyncpg.Connection | None = None
        backoff = 0.1
        purged_at = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    if listener is None or listener.is_closed():
                        listener = await self._pool.acquire()
                        await listener.add_listener(CHANNEL, self._notified)
                    self._wake.clear()
                    sent = await self.relay_once()
                    backoff = 0.1
                    if loop.time() - purged_at > 3600:
                        await self.purge()
                        purged_at = loop.time()
                    if sent == self._batch_size:
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval)
                except asyncio.CancelledError:
                    raise
                except (*TRANSIENT_DB_ERRORS, Exception) as exc:  # broker or database away
                    log.warning("outbox relay: %s; retrying in %.1fs", type(exc).__name__, backoff)
                    if listener is not None:
                        await self._release(listener)
                        listener = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    if self._on_error is not None:
                        with contextlib.suppress(Exception):
                            await self._on_error()
        finally:
            if listener is not None:
                await self._release(listener)

    async def _release(self, listener: asyncpg.Connection) -> None:
        with contextlib.suppress(Exception):
            await listener.remove_listener(CHANNEL, self._notified)
        with contextlib.suppress(Exception):
            await self._pool.release(listener, timeout=1)
