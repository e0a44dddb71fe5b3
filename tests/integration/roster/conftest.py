"""One roster service process for all roster integration tests, tokens for it, its events read back.

Each test module uses wards of its own, so that they share the process (and its 7 s start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from shared import auth, db
from shared.embedded import _free_port
from shared.events import roster
from tests.conftest import ROOT, TOKEN_SECRET, ServiceProcess


@dataclass(frozen=True)
class Published:
    """A record read back from cdt.roster.events."""

    type: str
    key: bytes
    data: dict
    headers: dict[str, bytes]


@pytest.fixture(scope="package")
def roster_env(kafka, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    env.update(
        {
            "CDT_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "CDT_DATABASE_URL": f"{database_url}_{uuid.uuid4().hex[:6]}",
            "CDT_TOKEN_SECRET": TOKEN_SECRET,
            "CDT_STATE_DIR": str(tmp_path_factory.mktemp("state")),
            "CDT_KAFKA_PARTITIONS": "3",
            "CDT_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "CDT_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


@pytest.fixture(scope="package")
def roster_service(
    roster_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """One roster process for the package: starting one takes about 7 s."""
    port = _free_port()
    env = {**roster_env, "CDT_ROSTER_PORT": str(port)}
    service = ServiceProcess("roster", port, env, tmp_path_factory.mktemp("logs") / "roster.log")
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="package")
def make_token(roster_env: dict[str, str]):
    """`await make_token(ward, role)`: a token the module's service accepts."""

    async def make(ward_id: str, role: auth.Role) -> str:
        url = db.service_database_url(roster_env["CDT_DATABASE_URL"], "auth")
        await db.prepare_database(url, auth.MIGRATIONS)
        conn = await asyncpg.connect(url)
        try:
            return await auth.create_token(conn, TOKEN_SECRET, ward_id=ward_id, role=role)
        finally:
            await conn.close()

    return make


def http(service: ServiceProcess, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=service.url, headers=headers, timeout=120)


async def read_events(
    bootstrap: str,
    ward_id: str,
    since: datetime,
    *,
    at_least: int = 0,
    settle: float = 1.5,
    timeout: float = 45,
) -> list[Published]:
    """The ward's roster events published since `since`: read until `at_least` have come and
    nothing more arrived for `settle` seconds (topics are shared by the whole test session)."""
    consumer = AIOKafkaConsumer(
        roster.TOPIC,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Published] = []
    began = quiet = time.monotonic()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    headers = dict(record.headers)
                    if headers.get("ce_wardid") != ward_id.encode():
                        continue
                    if datetime.fromisoformat(headers["ce_time"].decode()) < since:
                        continue
                    found.append(
                        Published(headers["ce_type"].decode(), record.key, json.loads(record.value), headers)
                    )
                    quiet = time.monotonic()
            now = time.monotonic()
            if len(found) >= at_least and now - quiet >= settle and now - began >= settle:
                return found
            if now - began > timeout:
                return found
    finally:
        await consumer.stop()


def of_type(events: list[Published], name: str) -> list[Published]:
    return [e for e in events if e.type == f"vn.cdt.roster.{name}.v1"]


def cli(service: ServiceProcess, token: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m cdt roster ARGS` against the service, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    env.update(
        {
            "CDT_ROSTER_URL": service.url,
            "CDT_TOKEN": token,
            "PYTHONPATH": str(ROOT),
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "cdt", "roster", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def roster_csv(rows: list[tuple[str, ...]]) -> bytes:
    """A roster file with the contract's headers, as Excel saves "CSV UTF-8"."""
    header = "team,hamlet,member,occupation,is_leader,phone,unavailable"
    lines = [header, *(",".join(row) for row in rows)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def path_of(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path
