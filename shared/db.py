"""PostgreSQL: per-service databases, the connection pool and numbered SQL migrations."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3,})_[\w-]+\.sql$")
_MIGRATION_LOCK = 0x0CD7_0001  # advisory lock key: one migration runner at a time per database

# Errors that mean "try again later": the server is unreachable, restarting or full.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


def database_name(url: str) -> str:
    """The database a URL names (`postgres` when it names none)."""
    return urlsplit(url).path.lstrip("/") or "postgres"


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def service_database_url(server_url: str, service: str, override: str | None = None) -> str:
    """A service's own database: `{database}_{service}` on the server, unless overridden."""
    if override:
        return override
    base = database_name(server_url)
    return with_database(server_url, f"{base}_{service}")


async def ensure_database(url: str) -> None:
    """Create the database a URL names when it is missing."""
    name = database_name(url)
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        log.info("created database %s", name)
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        pass  # created meanwhile by a sibling process
    finally:
        await admin.close()


CONNECT_TIMEOUT = 10.0


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool on an existing database."""
    # A connection attempt gives up after 10 s (asyncpg's default is 60): one made while the
    # network drops packets would otherwise wait out TCP's SYN retries after the network is back.
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size,
                                     command_timeout=60, timeout=CONNECT_TIMEOUT)
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path) -> list[Migration]:
    """The numbered SQL files of a directory, in order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path.name, path.read_text("utf-8")))
    return found


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


async def migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply the migrations not yet applied, each in its transaction; returns their names."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(_CREATE_TABLE)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version, migration.name,
                )
            applied.append(migration.name)
            log.info("applied migration %s", migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


async def pending_migrations(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Names of the migrations not applied yet (for /readyz)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = set()
    if exists:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m.name for m in migrations if m.version not in done]


async def prepare_database(url: str, migrations: list[Migration]) -> list[str]:
    """Create the database if missing and bring its schema up to date."""
    await ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn, migrations)
    finally:
        await conn.close()
