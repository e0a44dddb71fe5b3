"""/readyz reads the database on a connection of its own: a replica whose pool is busy applying a
backlog is still ready, and a database that is gone still makes it unready."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from services.reporting.app import SPEC
from shared import db
from shared.service import Runtime


def _runtime(url: str) -> Runtime:
    settings = SimpleNamespace(metrics_refresh_seconds=1.0)
    runtime = Runtime(settings=settings, spec=SPEC, broker=None,  # type: ignore[arg-type]
                      registry=CollectorRegistry(), clock=None)  # type: ignore[arg-type]
    runtime.database_url = url
    return runtime


async def test_readiness_does_not_wait_for_a_busy_pool(fresh_database_url: str) -> None:
    url = db.service_database_url(fresh_database_url, "reporting")
    await db.prepare_database(url, SPEC.migrations)
    pool = await db.create_pool(url, max_size=2)
    held = [await pool.acquire(), await pool.acquire()]  # every connection busy with batches
    runtime = _runtime(url)
    runtime.pool = pool
    try:
        began = time.monotonic()
        assert await runtime.pending_migrations(within=2.0) == []
        assert time.monotonic() - began < 2.0
        # Reused, not reopened, on the next probe.
        first = runtime._health_conn
        assert await runtime.pending_migrations() == [] and runtime._health_conn is first
        # A migration the database lacks is reported by name.
        missing = db.Migration(version=99_999, name="99999_future.sql", sql="SELECT 1")
        runtime.spec = SimpleNamespace(migrations=[*SPEC.migrations, missing])  # type: ignore
        assert await runtime.pending_migrations() == ["99999_future.sql"]
    finally:
        for conn in held:
            await pool.release(conn)
        await pool.close()
        await runtime.close_health_connection()


async def test_readiness_reconnects_and_fails_when_the_database_is_gone(
        fresh_database_url: str) -> None:
    url = db.service_database_url(fresh_database_url, "reporting")
    await db.prepare_database(url, SPEC.migrations)
    runtime = _runtime(url)
    assert await runtime.pending_migrations() == []
    # The probe's connection is cut (as by a database restart): a new one is made.
    admin = await asyncpg.connect(db.with_database(url, "postgres"))
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1", url.rsplit("/", 1)[1].split("?")[0])
        await asyncio.sleep(0.2)
        assert await runtime.pending_migrations() == []
        # The database gone: the probe fails (and /readyz says "unreachable").
        await runtime.close_health_connection()
        await admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1].split("?")[0]}" WITH (FORCE)')
    finally:
        await admin.close()
    with pytest.raises((asyncpg.PostgresError, OSError)):
        await runtime.pending_migrations()
    assert runtime._health_conn is None
