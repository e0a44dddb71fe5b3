"""What every benchmark needs: service processes, filling topics, polling progress, RSS samples."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared import auth, db
from shared.embedded import _free_port
from shared.messaging import ensure_topics
from tests.conftest import ROOT, TOKEN_SECRET, ServiceProcess

ARTIFACTS = ROOT / "tests" / "artifacts" / "bench"
PARTITIONS = 4


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Infra:
    """One benchmark's broker and a database prefix of its own on the session's server."""

    bootstrap: str
    database_url: str  # a prefix: each service uses {prefix}_{service}
    state_dir: Path
    log_dir: Path

    def service_db(self, service: str) -> str:
        return db.service_database_url(self.database_url, service)


def fresh_prefix(server_url: str, label: str) -> str:
    return db.with_database(server_url, f"cdt_bench_{label}_{uuid.uuid4().hex[:6]}")


class Services:
    """Real service processes (`python -m cdt serve NAME`), stopped by PID at the end."""

    def __init__(self, infra: Infra) -> None:
        self.infra = infra
        self.started: list[ServiceProcess] = []

    def env(self, name: str, port: int, database_url: str | None = None,
            **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
        env.update({
            "CDT_KAFKA_BOOTSTRAP": self.infra.bootstrap,
            "CDT_DATABASE_URL": database_url or self.infra.database_url,
            "CDT_TOKEN_SECRET": TOKEN_SECRET,
            "CDT_STATE_DIR": str(self.infra.state_dir),
            "CDT_KAFKA_PARTITIONS": str(PARTITIONS),
            "CDT_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "CDT_LOG_LEVEL": "WARNING",
            f"CDT_{name.upper()}_PORT": str(port),
            "PYTHONPATH": str(ROOT),
            **extra,
        })
        return env

    def start(self, name: str, *, wait: bool = True, database_url: str | None = None,
              **extra: str) -> ServiceProcess:
        port = _free_port()
        log = self.infra.log_dir / f"{name}-{len(self.started)}.log"
        service = ServiceProcess(name, port, self.env(name, port, database_url, **extra), log)
        self.started.append(service)
        service.start(wait=wait, timeout=90)
        return service

    def stop_all(self) -> None:
        for service in self.started:
            service.stop()
        self.started.clear()


async def operator_token(infra: Infra, ward_id: str = "*", role: str = "operator",
                         database_url: str | None = None) -> str:
    """A token for every ward, in the token database of the services on `database_url`."""
    url = db.service_database_url(database_url or infra.database_url, "auth")
    await db.prepare_database(url, auth.MIGRATIONS)
    conn = await asyncpg.connect(url)
    try:
        return await auth.create_token(conn, TOKEN_SECRET, ward_id=ward_id, role=role)  # type: ignore[arg-type]
    finally:
        await conn.close()


Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]


async def fill(bootstrap: str, records: Iterable[Record], *, topics: Sequence[str],
               partitions: int = PARTITIONS) -> dict[str, int]:
    """Produce records (acks from the broker, batched), returns how many per topic."""
    await ensure_topics(bootstrap, list(topics), partitions=partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                                max_batch_size=1 << 20, enable_idempotence=False)
    await producer.start()
    counts: dict[str, int] = {}
    try:
        futures = []
        for topic, key, value, headers in records:
            futures.append(await producer.send(topic, value, key=key, headers=headers))
            counts[topic] = counts.get(topic, 0) + 1
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return counts


async def _reset_group(bootstrap: str, group: str, topics: Sequence[str]) -> None:
    # The embedded broker refuses commits from a consumer outside the group: join it.
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                session_timeout_ms=6000, heartbeat_interval_ms=600)
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment() and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=200, max_records=1)
        await consumer.commit({tp: 0 for tp in consumer.assignment()})
    finally:
        await consumer.stop()


async def reset_groups(bootstrap: str, service: str, topics: Sequence[str]) -> list[str]:
    """Commit offset 0 on every partition for the consumer groups of a stopped service
    (`cdt-<service>`, or one group per topic family `cdt-<service>.<family>`), so that a new
    run reads the topics from their beginning again; returns the groups reset."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="cdt-bench")
    await admin.start()
    try:
        groups = [g for g, _ in await admin.list_consumer_groups()]
    finally:
        await admin.close()
    prefix = f"cdt-{service}"
    reset = []
    for group in sorted(groups):
        if group == prefix:
            mine = list(topics)
        elif group.startswith(prefix + "."):
            family = group[len(prefix) + 1:]
            mine = [t for t in topics if t.split(".")[1] == family]
        else:
            continue
        if mine:
            await asyncio.wait_for(_reset_group(bootstrap, group, mine), 120)
            reset.append(group)
    return reset


@dataclass
class Progress:
    """Samples of (monotonic time, count) of a counter polled until it reaches a target."""

    samples: list[tuple[float, int]] = field(default_factory=list)

    def rate(self, target: int) -> float:
        """Events per second from the first sample that saw progress to the one that saw all."""
        started = next(((t, n) for t, n in self.samples if n > 0), None)
        done = next(((t, n) for t, n in self.samples if n >= target), None)
        if started is None or done is None or done[0] <= started[0]:
            return float("nan")
        return (done[1] - started[1]) / (done[0] - started[0])

    def seconds(self, target: int) -> float:
        started = next((t for t, n in self.samples if n > 0), None)
        done = next((t for t, n in self.samples if n >= target), None)
        return (done - started) if started is not None and done is not None else float("nan")


async def poll_until(count: Callable[[], Awaitable[int]], target: int, *, limit: float,
                     every: float = 0.05, progress: Progress | None = None,
                     on_sample: Callable[[float, int], None] | None = None) -> Progress:
    """Poll a counter until it reaches `target` or `limit` seconds pass (raises TimeoutError)."""
    progress = progress or Progress()
    deadline = time.monotonic() + limit
    while True:
        n = await count()
        now = time.monotonic()
        progress.samples.append((now, n))
        if on_sample:
            on_sample(now, n)
        if n >= target:
            return progress
        if now > deadline:
            raise TimeoutError(f"reached {n} of {target} in {limit:.0f} s")
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


PROCESSED = "SELECT coalesce(sum(count), 0)::bigint FROM event_counts WHERE kind = 'processed'"


def tool_parser(doc: str) -> argparse.ArgumentParser:
    """The command line of a measuring tool: its PostgreSQL server and batch size."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get(
        "CDT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--size", type=int, default=1000, help="events a batch")
    return parser


@contextlib.asynccontextmanager
async def scratch_database(server: str, label: str,
                           migrations: Sequence[db.Migration]) -> AsyncIterator[str]:
    """A fresh database on `server` with `migrations` applied, dropped at the end."""
    url = db.with_database(server, f"cdt_bench_{label}_{uuid.uuid4().hex[:6]}")
    await db.prepare_database(url, migrations)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(db.with_database(server, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db.database_name(url)}" WITH (FORCE)')
        finally:
            await admin.close()


async def wait_for_table(conn: asyncpg.Connection, table: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no table {table} after {limit:.0f} s")
        await asyncio.sleep(0.1)


async def wait_for_database(url: str, limit: float = 60) -> asyncpg.Connection:
    deadline = time.monotonic() + limit
    while True:
        try:
            return await asyncpg.connect(url)
        except (asyncpg.InvalidCatalogNameError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


class RssSampler:
    """Samples RSS and CPU time of processes (by PID) every `every` seconds, with the number of
    events processed so far (set by the benchmark in `events`)."""

    def __init__(self, every: float = 0.25) -> None:
        self.every = every
        # name -> (monotonic time, RSS MB, events processed, CPU seconds user+system)
        self.samples: dict[str, list[tuple[float, float, int, float]]] = {}
        self._procs: dict[str, psutil.Process] = {}
        self._task: asyncio.Task | None = None
        self.events = 0
        self.marks: dict[str, dict[str, int]] = {}  # label -> name -> index of a sample

    def mark(self, label: str) -> None:
        """Take a sample now and remember it under `label` (for `summary(growth=...)`)."""
        self.sample()
        self.marks[label] = {name: len(s) - 1 for name, s in self.samples.items() if s}

    def watch(self, name: str, pid: int) -> None:
        self._procs[name] = psutil.Process(pid)
        self.samples.setdefault(name, [])

    def sample(self) -> None:
        now = time.monotonic()
        for name, proc in list(self._procs.items()):
            try:
                with proc.oneshot():
                    cpu = proc.cpu_times()
                    self.samples[name].append((now, proc.memory_info().rss / 2**20, self.events,
                                               cpu.user + cpu.system))
            except psutil.Error:
                self._procs.pop(name)

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        self.sample()

    def summary(self, growth: tuple[str, str] | None = None) -> dict[str, dict[str, Any]]:
        """Per process: peak MB, MB at half and at the end of the events processed, growth, and
        CPU seconds spent from the first event processed to the last.

        Growth is what the events processed leave behind, read at a steady load: from half-way
        to the end of the events when the whole run is at one load (a backlog applied at full
        speed); a benchmark whose load changes on the way names two marks taken during a phase
        of steady load instead (`growth=(start, end)`). RSS at every mark is in `marks`."""
        result = {}
        for name, samples in self.samples.items():
            if not samples:
                continue
            peak = max(mb for _, mb, _, _ in samples)
            total = max(n for _, _, n, _ in samples)
            if total > 0:
                # RSS once half / all of the events were processed (first sample at or past it).
                half = next(mb for _, mb, n, _ in samples if n >= total / 2)
                end = next(mb for _, mb, n, _ in samples if n >= total)
                begun = next(i for i, (_, _, n, _) in enumerate(samples) if n > 0)
                done = next(i for i, (_, _, n, _) in enumerate(samples) if n >= total)
                cpu = samples[done][3] - samples[max(begun - 1, 0)][3]
                cpu_events = total - (samples[max(begun - 1, 0)][2])
            else:
                half = samples[len(samples) // 2][1]
                end = samples[-1][1]
                cpu, cpu_events = samples[-1][3] - samples[0][3], 0
            before, after, over = half, end, "half-way and end of the events"
            if growth is not None:
                early, late = (self.marks[label][name] for label in growth)
                before, after, over = samples[early][1], samples[late][1], " and ".join(growth)
            step = max(1, len(samples) // 120)
            result[name] = {"peak_mb": peak, "half_mb": half, "end_mb": end,
                            "growth_from_mb": before, "growth_to_mb": after,
                            "growth_mb": after - before, "growth_over": over,
                            "marks": {label: samples[at[name]][1]
                                      for label, at in self.marks.items() if name in at},
                            "events": total, "samples": len(samples),
                            "first_mb": samples[0][1],
                            "median_mb": statistics.median(mb for _, mb, _, _ in samples),
                            "cpu_seconds": cpu,
                            "cpu_us_per_event": cpu / cpu_events * 1e6 if cpu_events else None,
                            "series": [(round(t - samples[0][0], 2), round(mb, 1), n)
                                       for t, mb, n, _ in samples[::step]]}
        return result


class DatabaseCpu:
    """CPU seconds spent by the PostgreSQL backends serving one database (same machine)."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    async def sample(self, conn: asyncpg.Connection) -> None:
        pids = [r[0] for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")]
        for pid in pids:
            try:
                cpu = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            self.first.setdefault(pid, cpu.user + cpu.system)
            self.last[pid] = cpu.user + cpu.system

    @property
    def seconds(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "cpu": model,
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": sys.version.split()[0], "load": [round(x, 2) for x in load]}


async def postgres_settings(url: str) -> str:
    """The server's version and the durability settings that change write throughput."""
    async with connected(url) as conn:
        names = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        values = [str(await conn.fetchval(f"SHOW {n}")) for n in names]
    return ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True))
