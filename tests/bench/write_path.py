"""What reporting's consumer transaction costs per event, measured in-process.

The province simulation is decoded up front, each topic's 1,000-event batches prepared up
front (`prepare`), then applied one transaction each on one connection (`inbox.apply_once` +
`write`, the consumer's path without Kafka), timing the process's CPU, its PostgreSQL backend's
CPU (from /proc) and the wall time.

    .venv/bin/python -m tests.bench.write_path [--events 150000] [--url postgresql://...]

Compares two versions of the statements on the same machine within minutes (run it on each);
the database it makes is dropped at the end. Needs the backend on this machine (/proc)."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import asyncpg

from cdt.demo import national
from services.reporting.app import SPEC
from shared import inbox
from shared.events import TOPICS, Event, EventCodec
from tests.bench.conftest import CAMPAIGN
from tests.bench.harness import scratch_database, tool_parser


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
    runtime = SimpleNamespace(clock=lambda: datetime.now(UTC), settings=SimpleNamespace(
        clock="watermark", reporting_staffed_grace_minutes=15))
    async with scratch_database(server, "write", SPEC.migrations) as url:
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


def main() -> None:
    parser = tool_parser(__doc__ or "")
    parser.add_argument("--events", type=int, default=150_000)
    args = parser.parse_args()
    asyncio.run(measure(args.url, args.events, args.size))


if __name__ == "__main__":
    main()
