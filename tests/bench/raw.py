"""The machine's limit, measured with no framework: aiokafka + pydantic + batched asyncpg.

`python -m tests.bench.raw ingest ...` is the raw consumer pipeline the reporting service is
compared with: consume a batch, validate every record with the same event models (`EventCodec`),
deduplicate by event id (the services' inbox key and claim, `shared/inbox.py`), aggregate in
memory, write one multi-row upsert, all in one transaction, then commit the offsets. It runs
until SIGTERM; its progress is a row per worker (no row shared between workers, so two processes
never wait on each other's locks).

`produce(...)` is raw batched produce: send a batch of records, then await their acks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections import Counter
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared import inbox
from shared.events import TOPICS, EventCodec, RejectedMessageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS bl_inbox (key uuid PRIMARY KEY,
                                     received_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bl_counts (ward_id text NOT NULL, day date NOT NULL,
                                      type text NOT NULL, events bigint NOT NULL,
                                      PRIMARY KEY (ward_id, day, type));
CREATE TABLE IF NOT EXISTS bl_progress (worker text PRIMARY KEY, applied bigint NOT NULL);
"""
# The service's inbox (shared/inbox.py): a 16-byte digest of source + id, one bytea a batch.
CLAIM = inbox.CLAIM.replace("INSERT INTO inbox", "INSERT INTO bl_inbox")
UPSERT = """
INSERT INTO bl_counts AS c SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[])
ON CONFLICT (ward_id, day, type) DO UPDATE SET events = c.events + EXCLUDED.events
"""
PROGRESS = """
INSERT INTO bl_progress AS p VALUES ($1, $2)
ON CONFLICT (worker) DO UPDATE SET applied = p.applied + EXCLUDED.applied
"""
APPLIED = "SELECT coalesce(sum(applied), 0)::bigint FROM bl_progress"


async def prepare(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


async def ingest(bootstrap: str, url: str, group: str, topics: Sequence[str], worker: str,
                 batch: int = 1000) -> None:
    codecs = {t: EventCodec(TOPICS[t]) for t in topics}
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=batch, session_timeout_ms=6000,
                                heartbeat_interval_ms=600)
    conn = await asyncpg.connect(url)
    await consumer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=batch)
            events = []
            for tp, records in batches.items():
                codec = codecs[tp.topic]
                for record in records:
                    try:
                        events.append(codec.decode(record.headers, record.value))
                    except RejectedMessageError:
                        pass  # the service dead-letters these; there are none in the data
            if not events:
                continue
            async with conn.transaction():
                digests = [inbox.key(e.source, e.id) for e in events]
                fresh = {r[0] for r in await conn.fetch(CLAIM, b"".join(digests))}
                counts: Counter[tuple[str, object, str]] = Counter()
                for e, k in zip(events, digests, strict=True):
                    if k in fresh:
                        fresh.discard(k)
                        counts[(e.wardid, e.time.date(), e.type)] += 1
                keys = sorted(counts)
                await conn.execute(UPSERT, [k[0] for k in keys], [k[1] for k in keys],
                                   [k[2] for k in keys], [counts[k] for k in keys])
                await conn.execute(PROGRESS, worker, sum(counts.values()))
            await consumer.commit()
    finally:
        await consumer.stop()
        await conn.close()


async def produce(bootstrap: str, records: Sequence[tuple[str, bytes, bytes, list]], *,
                  batch: int = 1000) -> float:
    """Seconds to send `records` in batches of `batch`, awaiting each batch's acks (acks=all,
    the relay's producer settings)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=256 * 1024, enable_idempotence=False)
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for start in range(0, len(records), batch):
            futures = [await producer.send(t, v, key=k, headers=h)
                       for t, k, v, h in records[start:start + batch]]
            await asyncio.gather(*futures)
        return loop.time() - began
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("ingest")
    run.add_argument("--bootstrap", required=True)
    run.add_argument("--db", required=True)
    run.add_argument("--group", required=True)
    run.add_argument("--worker", default=str(os.getpid()))
    run.add_argument("--batch", type=int, default=1000)
    run.add_argument("topics", nargs="+")
    args = parser.parse_args()
    asyncio.run(ingest(args.bootstrap, args.db, args.group, args.topics, args.worker,
                       args.batch))


if __name__ == "__main__":
    main()
