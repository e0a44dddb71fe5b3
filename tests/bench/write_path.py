"""What reporting's transaction costs, in-process and per event: the province simulation decoded
up front, each topic's 1,000-event batches prepared up front (`prepare`), then applied one
transaction each on one connection (`inbox.apply_once` + `write`, the consumer's path without
Kafka), timing the process's CPU, its PostgreSQL backend's CPU (from /proc) and the wall time.

    .venv/bin/python -m tests.bench.write_path [--events 150000] [--url postgresql://...]

Compares two versions of the statements on the same machine within minutes (run it on each);
the database it makes is dropped at the end. Needs the backend on this machine (/proc)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import asyncpg

from cdt.demo import national
from services.reporting.app import SPEC
from shared import db, inbox
from shared.events import TOPICS, Event, EventCodec
from tests.bench.conftest import CAMPAIGN


def backend_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) a local process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def province(events: int) -> dict[str, list[Event]]:
    wards = national.ward_profiles(national.PROVINCE_WARDS)
    records = itertools.islice(national.province_records(wards, *CAMPAIGN), events)
    codecs = {topic: EventCodec(TOPICS[topic]) for topic in TOPICS}
    decoded: dict[str, list[Event]] = {c.topic: [] for c in SPEC.consumes}
    for topic, _, value, headers in records:
        decoded[topic].append(codecs[topic].decode(headers, value))
    return decoded


async def measure(server: str, events: int, size: int) -> None:
    decoded = province(events)
    url = db.with_database(server, f"cdt_bench_write_{uuid.uuid4().hex[:6]}")
    await db.prepare_database(url, SPEC.migrations)
    runtime = SimpleNamespace(clock=lambda: datetime.now(UTC), settings=SimpleNamespace(
        clock="watermark", reporting_staffed_grace_minutes=15))
    try:
        conn = await asyncpg.connect(url)
        try:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            for consumes in SPEC.consumes:
                stream = decoded[consumes.topic]
                prepare, write = consumes.steps(runtime)  # type: ignore[arg-type]
                batches = [stream[i:i + size] for i in range(0, len(stream), size)]
                prepared = [prepare(b) for b in batches]
                cpu, wall, backend = time.process_time(), time.perf_counter(), backend_cpu(pid)
                for batch, rows in zip(batches, prepared, strict=True):
                    async with conn.transaction():
                        await inbox.apply_once(conn, batch, prepare=prepare, write=write,
                                               prepared=rows, keyed=consumes.keyed)
                n = max(len(stream), 1)
                print(f"{consumes.topic}: {len(stream):,} events; per event: process "
                      f"{(time.process_time() - cpu) / n * 1e6:.1f} us, PostgreSQL "
                      f"{(backend_cpu(pid) - backend) / n * 1e6:.1f} us, wall "
                      f"{(time.perf_counter() - wall) / n * 1e6:.1f} us")
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(db.with_database(server, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db.database_name(url)}" WITH (FORCE)')
        finally:
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get(
        "CDT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(measure(args.url, args.events, args.size))


if __name__ == "__main__":
    main()
