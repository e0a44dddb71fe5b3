"""Test infrastructure: a real broker and PostgreSQL for the session, and running services."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.db import with_database
from shared.embedded import EmbeddedKafka, EmbeddedPostgres, _free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def _outside_pytest_tmp() -> Path:
    """A directory the embedded PostgreSQL (another user) can reach: pytest's own tree is
    0700 and a concurrent pytest run resets it."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="cdt-test-"))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """CDT_TEST_DATABASE_URL's server when set (CI: 127.0.0.1:5432), else an embedded one."""
    import shutil

    configured = os.environ.get("CDT_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    directory = _outside_pytest_tmp()
    with EmbeddedPostgres(directory / "pg", fast=True) as server:
        yield server.url
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka() -> Iterator[EmbeddedKafka]:
    """A broker of our own on a free port, so a running `cdt up` is never touched."""
    with EmbeddedKafka(port=_free_port()) as broker:
        yield broker


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A server URL naming a database prefix unique to this test session; dropped at the end."""
    prefix = f"cdt_test_{os.getpid()}_{secrets.token_hex(3)}"
    yield with_database(pg_server_url, prefix)

    async def drop() -> None:
        admin = with_database(pg_server_url, "postgres")
        conn = await asyncpg.connect(admin)
        try:
            names = [r["datname"] for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%")]
        finally:
            await conn.close()
        for name in names:
            # One connection per drop: a forced drop can break the connection that asked for it
            # when a killed service's backend is still exiting.
            for _ in range(3):
                try:
                    conn = await asyncpg.connect(admin)
                    try:
                        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    finally:
                        await conn.close()
                    break
                except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                    await asyncio.sleep(0.5)

    asyncio.run(drop())


@pytest.fixture
def fresh_database_url(database_url: str) -> str:
    """A database prefix for one test (each service gets {prefix}_{service})."""
    return f"{database_url}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state directory outside pytest's tmp tree: the embedded PostgreSQL runs as another user
    and must traverse its parents, and a concurrent pytest run resets pytest's tree to 0700."""
    import shutil

    path = _outside_pytest_tmp()
    yield path
    shutil.rmtree(path, ignore_errors=True)


TOKEN_SECRET = "test-secret-" + "x" * 40


@dataclass
class ServiceProcess:
    """A service as a real process (`python -m cdt serve NAME`), as operators run it."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True, timeout: float = 60) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen([sys.executable, "-m", "cdt", "serve", self.name],
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=ROOT)
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def service_env(kafka: EmbeddedKafka, fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for service processes of one test: our broker, a fresh database prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    env.update({
        "CDT_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "CDT_DATABASE_URL": fresh_database_url,
        "CDT_TOKEN_SECRET": TOKEN_SECRET,
        "CDT_STATE_DIR": str(tmp_path / "state"),
        "CDT_KAFKA_PARTITIONS": "3",
        "CDT_KAFKA_SESSION_TIMEOUT_MS": "3000",
        "CDT_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    })
    return env


@pytest.fixture
def start_service(service_env: dict[str, str], tmp_path: Path) -> Iterator:
    """Start services as processes on free ports; all are stopped at the end of the test."""
    started: list[ServiceProcess] = []

    def _start(name: str, *, wait: bool = True, **extra_env: str) -> ServiceProcess:
        port = _free_port()
        env = {**service_env, f"CDT_{name.upper()}_PORT": str(port), **extra_env}
        service = ServiceProcess(name, port, env, tmp_path / f"{name}-{len(started)}.log")
        started.append(service)
        service.start(wait=wait)
        return service

    yield _start
    for service in started:
        service.stop()


@pytest.fixture
async def auth_conn(service_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the token database of this test's services (created if missing)."""
    from shared import auth, db

    url = db.service_database_url(service_env["CDT_DATABASE_URL"], "auth")
    await db.prepare_database(url, auth.MIGRATIONS)
    conn = await asyncpg.connect(url)
    yield conn
    await conn.close()
