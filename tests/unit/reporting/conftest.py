"""Fixtures of the reporting tests that read and write the read models in PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
from reporting_harness import prepare, reset


@pytest.fixture(scope="module")
def db_url(database_url: str, request: pytest.FixtureRequest) -> str:
    """A reporting database for the test module, migrated once (named after the module)."""
    url = f"{database_url}_{request.module.__name__.removeprefix('test_reporting_')}"
    prepare(url)
    return url


@pytest.fixture
async def conn(db_url: str):
    """A connection to the module's database, its read models emptied first."""
    conn = await asyncpg.connect(db_url)
    await reset(conn)
    yield conn
    await conn.close()
