"""Benchmark fixtures: a broker per benchmark, database prefixes, the province's filled topics,
and the results that `docs/performance.md` is written from at the end of the session."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from cdt.demo import national
from shared import db
from shared.embedded import EmbeddedKafka, _free_port
from shared.events import assist, roster
from tests.bench import report
from tests.bench.harness import (
    ARTIFACTS,
    Infra,
    Services,
    fill,
    fresh_prefix,
    machine,
    postgres_settings,
)

# CDT_BENCH_SCALE=0.05 runs every benchmark on a twentieth of the data (to debug the harness).
SCALE = float(os.environ.get("CDT_BENCH_SCALE", "1"))
CAMPAIGN = (date(2025, 8, 11), date(2025, 12, 31))
INGEST_TOPICS = (roster.TOPIC, assist.TOPIC)


def scaled(n: int, least: int = 1) -> int:
    return max(least, int(n * SCALE))


@pytest.fixture(scope="session")
def results(pg_server_url: str) -> Iterator[dict]:
    """Every figure of this run; written to docs/performance.md when the session ends."""
    where = "the configured server (CDT_TEST_DATABASE_URL)" if os.environ.get(
        "CDT_TEST_DATABASE_URL") else "embedded, started by the benchmarks"
    settings = asyncio.run(postgres_settings(db.with_database(pg_server_url, "postgres")))
    data: dict = {"scale": SCALE, "started": time.time(), "memory": {}, "machine": machine(),
                  "postgres": f"{where}: {settings}"}
    yield data
    data["seconds"] = time.time() - data["started"]
    report.write(data)


@pytest.fixture(scope="session")
def country() -> list[national.WardProfile]:
    return national.ward_profiles(national.COUNTRY_WARDS)


@pytest.fixture(scope="session")
def bench_dir() -> Iterator[Path]:
    """State and logs outside pytest's private tmp tree (the embedded PostgreSQL runs as another
    user); logs are copied to tests/artifacts/bench for a failed run."""
    path = Path(tempfile.mkdtemp(prefix="cdt-bench-"))
    yield path
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for log in path.glob("**/*.log"):
        shutil.copy(log, ARTIFACTS / log.name)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def drop_databases(pg_server_url: str) -> Iterator[list[str]]:
    """Database prefixes made by the benchmarks; dropped at the end of the session."""
    prefixes: list[str] = []
    yield prefixes

    async def drop() -> None:
        conn = await asyncpg.connect(db.with_database(pg_server_url, "postgres"))
        try:
            for prefix in prefixes:
                name = db.database_name(prefix)
                rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                        name + "%")
                for row in rows:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def make_infra(pg_server_url: str, bench_dir: Path, drop_databases: list[str]) -> Iterator:
    """A broker of its own (the embedded broker keeps everything in memory: stopped when the
    benchmark ends) and a fresh database prefix, for one benchmark."""
    brokers: list[EmbeddedKafka] = []

    def make(label: str) -> tuple[Infra, EmbeddedKafka]:
        broker = EmbeddedKafka(port=_free_port())
        broker.start()
        brokers.append(broker)
        prefix = fresh_prefix(pg_server_url, label)
        drop_databases.append(prefix)
        state = bench_dir / label
        state.mkdir(exist_ok=True)
        return Infra(broker.bootstrap, prefix, state, state), broker

    yield make
    for broker in brokers:
        broker.stop()


@dataclass
class Province:
    """The broker filled with a province's events (100 wards), and what reporting made of it."""

    infra: Infra
    broker: EmbeddedKafka
    total: int
    volume: national.Volume
    generate_seconds: float
    ingested_prefix: str | None = None  # the database prefix of a reporting that applied it all
    db_bytes: int = 0


@pytest.fixture(scope="session")
async def province(make_infra, country: list[national.WardProfile]) -> AsyncIterator[Province]:
    infra, broker = make_infra("province")
    volume = national.Volume()
    began = time.monotonic()
    records = national.province_records(country[:national.PROVINCE_WARDS], *CAMPAIGN,
                                        limit=scaled(500_000, 5_000), volume=volume)
    await fill(infra.bootstrap, records, topics=INGEST_TOPICS)
    yield Province(infra, broker, volume.events, volume, time.monotonic() - began)
    broker.stop()


@pytest.fixture
def services(make_infra) -> Iterator:
    """Start services on an Infra; every process started is stopped (by PID) at the end."""
    made: list[Services] = []

    def make(infra: Infra) -> Services:
        s = Services(infra)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop_all()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (a `timeout` around `make bench`) ends the session like Ctrl-C, so that the
    fixtures still stop every broker, database server and service they started."""
    import signal

    signal.signal(signal.SIGTERM, _interrupt)
