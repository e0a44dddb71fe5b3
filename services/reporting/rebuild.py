"""Rebuild: empty the read models and the inbox in one transaction, then re-read both topics from
their beginning with a group-less consumer, saving its positions with every batch applied.

The service's own consumer group is left alone and goes on applying new events meanwhile: the read
models are order-independent and every event is applied once (the inbox, or the fact's own key for
dossiers and assists: `inbox.apply_once`), so the two readers never double-count. Every event
applied before the truncation has an offset below the high watermark seen after it, which the
rebuild reads up to. The state (targets, positions) lives in rp_rebuild, so a rebuild survives a
restart and resumes where it stopped; one replica at a time runs it (advisory lock). Alerts stay
quiet while it runs, and emitted ones are never re-emitted (rp_alerts is kept): the start takes
sessions.ALERTS_GATE, so no alert transaction can read the models it empties; it ends only once
every partition of every consumed topic is read to its target, and sweeps the sessions still
understaffed in the transaction that marks it done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.reporting import sessions
from shared import inbox, stats
from shared.db import TRANSIENT_DB_ERRORS
from shared.events import Event, EventCodec, RejectedMessageError, UnknownEvent
from shared.messaging import TRANSIENT_ERRORS, kafka_options
from shared.service import Consumes

log = logging.getLogger(__name__)

_REBUILD_LOCK = 0x0CD7_0103
READ_MODELS = (
    "rp_teams", "rp_members", "rp_shifts", "rp_assignments", "rp_checkins", "rp_member_sessions",
    "rp_dossiers", "rp_dossier_links", "rp_assists", "rp_dossier_days", "rp_dossier_totals", "rp_assist_days",
    "rp_assist_totals", "rp_assist_reasons", "rp_assist_durations", "rp_ward_shift_totals",
    "rp_wards", "rp_ward_days",
)
START = """
INSERT INTO rp_rebuild (id, generation, state, started_at) VALUES (1, 1, 'running', now())
ON CONFLICT (id) DO UPDATE SET generation = rp_rebuild.generation + 1, state = 'running',
    started_at = now(), finished_at = NULL, starts = '{}', targets = '{}', positions = '{}',
    applied = 0
RETURNING generation
"""
READ = "SELECT * FROM rp_rebuild WHERE id = 1"
SAVE = """
UPDATE rp_rebuild SET starts = $2, targets = $3, positions = $4, applied = applied + $5
WHERE id = 1 AND generation = $1
"""
FINISH = """
UPDATE rp_rebuild SET state = 'done', finished_at = now() WHERE id = 1 AND generation = $1
"""

class SupersededError(Exception):
    """A newer rebuild was requested: this one stops and its last batch is rolled back."""


class TopicUnknownError(Exception):
    """A consumed topic has no partitions in the reader's metadata yet: tried again later, never
    read without it (a replay of one topic alone would make the sessions look understaffed)."""


async def start(conn: asyncpg.Connection) -> int:
    """Empty the read models and the inbox, and record a rebuild to run; returns its generation.

    The alerts gate first (the transactions that decide alerts take it before they read, so they
    either end before the truncation or see 'running'), then the inbox (every consumer batch
    claims it before touching the read models, so the truncation never waits in a lock cycle).
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", sessions.ALERTS_GATE)
        generation = await conn.fetchval(START)
        await conn.execute(f"TRUNCATE inbox, {', '.join(READ_MODELS)}")
    return int(generation)


def progress(row: Any) -> dict[str, Any]:
    """What `cdt reporting rebuild` shows: events to read, read, and whether it is done."""
    if row is None:
        return {"state": "never", "generation": 0}
    starts, targets, positions = (json.loads(row[c]) for c in ("starts", "targets", "positions"))
    total = sum(targets[k] - starts.get(k, 0) for k in targets) if targets else None
    done = sum(min(positions.get(k, starts.get(k, 0)), targets.get(k, 1 << 62)) - starts.get(k, 0)
               for k in starts)
    return {"state": row["state"], "generation": row["generation"],
            "started_at": row["started_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
            "total": total, "read": done, "applied": row["applied"]}


class Rebuilder:
    """Re-reads the consumed topics from their beginning into the read models."""

    def __init__(self, runtime: Any, consumes: Sequence[Consumes]) -> None:
        self.runtime = runtime
        self.steps = {c.topic: (c.steps(runtime), c.keyed) for c in consumes}
        self.codecs = {c.topic: EventCodec(c.event_types) for c in consumes}
        self.wake = asyncio.Event()

    async def run_forever(self) -> None:
        """Background job: run a pending rebuild (after a request, or one a restart interrupted)."""
        while True:
            try:
                await self.run_pending()
            except asyncio.CancelledError:
                raise
            except (*TRANSIENT_ERRORS, Exception) as exc:  # noqa: BLE001 - tried again later
                log.warning("rebuild: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 2.0)
            self.wake.clear()

    async def run_pending(self) -> None:
        pool = self.runtime.pool
        async with pool.acquire() as guard:
            row = await guard.fetchrow(READ)
            if row is None or row["state"] != "running":
                return
            if not await guard.fetchval("SELECT pg_try_advisory_lock($1)", _REBUILD_LOCK):
                return  # another replica runs it
            try:
                await self._run(row)
            finally:
                await guard.execute("SELECT pg_advisory_unlock($1)", _REBUILD_LOCK)

    async def _run(self, row: Any) -> None:
        generation = row["generation"]
        starts, targets, positions = (json.loads(row[c]) for c in ("starts", "targets", "positions"))
        settings = self.runtime.settings
        consumer = AIOKafkaConsumer(**kafka_options(settings), group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    client_id="cdt-reporting-rebuild",
                                    max_partition_fetch_bytes=4 * 1024 * 1024)
        await consumer.start()
        try:
            await consumer.topics()
            unknown = [t for t in self.steps if not consumer.partitions_for_topic(t)]
            if unknown:
                raise TopicUnknownError(f"no partitions known for {', '.join(unknown)} yet")
            tps = [TopicPartition(t, p) for t in self.steps
                   for p in sorted(consumer.partitions_for_topic(t))]
            consumer.assign(tps)
            if not starts:
                first = await consumer.beginning_offsets(tps)
                starts = {f"{tp.topic}:{tp.partition}": first[tp] for tp in tps}
            for tp in tps:
                consumer.seek(tp, positions.get(f"{tp.topic}:{tp.partition}",
                                                starts[f"{tp.topic}:{tp.partition}"]))
            log.info("rebuild %d: reading %s", generation, ", ".join(self.steps))
            while True:
                batch = await consumer.getmany(timeout_ms=300,
                                               max_records=settings.batch_size)
                for tp in tps:
                    key = f"{tp.topic}:{tp.partition}"
                    # The fetch's high watermark: end_offsets() under-reports on some brokers.
                    if key not in targets and consumer.highwater(tp) is not None:
                        targets[key] = consumer.highwater(tp)
                events: dict[str, list[Event]] = {t: [] for t in self.steps}
                count = 0
                for tp, records in batch.items():
                    for record in records:
                        count += 1
                        event = self._decode(tp.topic, record)
                        if event is not None:
                            events[tp.topic].append(event)
                    positions[f"{tp.topic}:{tp.partition}"] = await consumer.position(tp)
                await self._apply(generation, events, starts, targets, positions, count)
                if len(targets) == len(tps) and all(
                        positions.get(k, starts[k]) >= targets[k] for k in targets):
                    break
            await self._finish(generation)
        finally:
            await consumer.stop()

    def _decode(self, topic: str, record: Any) -> Event | None:
        try:
            event = self.codecs[topic].decode(record.headers, record.value)
        except RejectedMessageError:
            return None  # dead-lettered when it first arrived
        return None if isinstance(event, UnknownEvent) else event

    async def _apply(self, generation: int, events: dict[str, list[Event]], starts: dict,
                     targets: dict, positions: dict, count: int) -> None:
        backoff = 0.2
        while True:
            try:
                async with self.runtime.pool.acquire() as conn, conn.transaction():
                    applied: list[Event] = []
                    for topic, ((prepare, write), keyed) in self.steps.items():
                        applied += await inbox.apply_once(conn, events[topic], prepare=prepare,
                                                          write=write, keyed=keyed)
                    await stats.count_events(conn, applied, [])
                    saved = await conn.execute(SAVE, generation, json.dumps(starts),
                                               json.dumps(targets), json.dumps(positions), count)
                    if saved.endswith(" 0"):
                        raise SupersededError(f"rebuild {generation} was superseded")
                return
            except TRANSIENT_DB_ERRORS as exc:
                log.warning("rebuild: %s; retrying in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _finish(self, generation: int) -> None:
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await conn.execute(FINISH, generation)
            await sessions.sweep_understaffed(self.runtime, conn)
        log.info("rebuild %d: done", generation)
