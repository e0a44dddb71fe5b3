"""1. Reporting ingest: a pre-filled province (>= 500,000 mixed events, 100 wards) to committed
read models, one process against the raw pipeline in one process, then two of each.

Each raw run is repeated after the service's run and the two are averaged, so that a change of
load on a shared machine during the benchmark shows in the baseline too."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from shared import db
from tests.bench import raw
from tests.bench.conftest import INGEST_TOPICS, Province
from tests.bench.harness import (
    PROCESSED,
    ROOT,
    DatabaseCpu,
    Progress,
    RssSampler,
    connected,
    poll_until,
    reset_groups,
    wait_for_database,
    wait_for_table,
)


@dataclass
class Run:
    """One run: events/s, seconds, and CPU spent per event by the processes and PostgreSQL."""

    rate: float
    seconds: float
    process_us: float  # CPU of the consuming processes per event (all of them)
    database_us: float  # CPU of the PostgreSQL backends serving them, per event
    memory: dict

    def as_dict(self) -> dict:
        return {"rate": self.rate, "seconds": self.seconds, "process_us": self.process_us,
                "database_us": self.database_us}


def limit(events: int) -> float:
    """Seconds a run may take before the benchmark fails (slower than 2,000 events/s)."""
    return max(120.0, events / 2000)


async def measure(conn: asyncpg.Connection, query: str, total: int,
                  sampler: RssSampler) -> tuple[Progress, DatabaseCpu]:
    """Poll `query` (events applied) every 50 ms until `total`; sample the database's CPU."""
    database = DatabaseCpu()
    polls = 0

    async def count() -> int:
        nonlocal polls
        n = int(await conn.fetchval(query))
        if polls % 20 == 0 or n >= total or (n > 0 and not database.first):
            await database.sample(conn)
        polls += 1
        return n

    def seen(_: float, n: int) -> None:
        sampler.events = n

    with sampler:
        progress = await poll_until(count, total, limit=limit(total), on_sample=seen)
        await asyncio.sleep(0.5)  # one more RSS sample after the end
    return progress, database


def result(progress: Progress, database: DatabaseCpu, sampler: RssSampler, total: int) -> Run:
    memory = sampler.summary()
    cpu = sum(m["cpu_seconds"] for m in memory.values())
    return Run(progress.rate(total), progress.seconds(total), cpu / total * 1e6,
               database.seconds / total * 1e6, memory)


async def run_baseline(province: Province, processes: int, label: str) -> Run:
    """The raw pipeline in `processes` processes sharing a consumer group, until all applied."""
    url = province.infra.database_url + f"_raw{processes}_{label}"
    await db.ensure_database(url)
    await raw.prepare(url)
    group = f"bench-raw-{uuid.uuid4().hex[:6]}"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.bench.raw", "ingest", "--bootstrap",
                               province.infra.bootstrap, "--db", url, "--group", group,
                               "--worker", f"w{i}", *INGEST_TOPICS], cwd=ROOT)
             for i in range(processes)]
    sampler = RssSampler()
    for i, p in enumerate(procs):
        sampler.watch(f"raw-{i}", p.pid)
    try:
        async with connected(url) as conn:
            progress, database = await measure(conn, raw.APPLIED, province.total, sampler)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return result(progress, database, sampler, province.total)


async def run_service(province: Province, services: Callable, replicas: int,
                      prefix: str) -> Run:
    """`replicas` reporting processes on a fresh database, until every event is applied."""
    running = services(province.infra)
    # The replay clock: with the wall clock, replaying 2025 decides every past session as soon
    # as it is scheduled (before its check-ins arrive) and alerts each as understaffed.
    procs = [running.start("reporting", wait=False, database_url=prefix, CDT_CLOCK="watermark")
             for _ in range(replicas)]
    sampler = RssSampler()
    for i, p in enumerate(procs):
        sampler.watch(f"reporting-{i}", p.proc.pid)
    url = db.service_database_url(prefix, "reporting")
    conn = await wait_for_database(url, limit=90)
    try:
        await wait_for_table(conn, "event_counts", limit=90)
        progress, database = await measure(conn, PROCESSED, province.total, sampler)
        province.db_bytes = int(await conn.fetchval(
            "SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()
    running.stop_all()
    return result(progress, database, sampler, province.total)


async def compare(province: Province, processes: int,
                  service: Callable[[], Awaitable[Run]]) -> tuple[dict, dict]:
    before = await run_baseline(province, processes, "before")
    run = await service()
    after = await run_baseline(province, processes, "after")
    baseline = (before.rate + after.rate) / 2
    figures = {"service": run.rate, "baseline": baseline, "service_seconds": run.seconds,
               "baseline_before": before.rate, "baseline_after": after.rate,
               "baseline_seconds": (before.seconds + after.seconds) / 2,
               "service_cpu_us": run.process_us, "service_db_us": run.database_us,
               "baseline_cpu_us": (before.process_us + after.process_us) / 2,
               "baseline_db_us": (before.database_us + after.database_us) / 2}
    print(f"\ningest, {processes} process(es): service {run.rate:,.0f}/s, raw {baseline:,.0f}/s "
          f"(before {before.rate:,.0f}, after {after.rate:,.0f}), ratio {run.rate / baseline:.0%}; "
          f"CPU/event service {run.process_us:.0f} us + PostgreSQL {run.database_us:.0f} us, raw "
          f"{figures['baseline_cpu_us']:.0f} us + {figures['baseline_db_us']:.0f} us", flush=True)
    return figures, run.memory


async def test_reporting_ingest(province: Province, services, results: dict) -> None:
    n = province.total
    figures: dict = {"events": n, "by_type": province.volume.by_type,
                     "wards": province.volume.wards, "days": province.volume.days,
                     "generate_seconds": province.generate_seconds}
    prefix1 = province.infra.database_url + "_one"

    async def one() -> Run:
        run = await run_service(province, services, 1, prefix1)
        province.ingested_prefix = prefix1
        figures["db_bytes"] = province.db_bytes
        return run

    figures["one"], results["memory"]["ingest, 1 replica"] = await compare(province, 1, one)

    async def two() -> Run:
        reset = await reset_groups(province.infra.bootstrap, "reporting", INGEST_TOPICS)
        assert reset, "no consumer group of reporting to reset"
        return await run_service(province, services, 2, province.infra.database_url + "_two")

    figures["two"], results["memory"]["ingest, 2 replicas"] = await compare(province, 2, two)
    results["ingest"] = figures
