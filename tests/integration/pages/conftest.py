"""The pages' end-to-end set-up: a broker of their own, assist and reporting as real processes,
one ward with a session that started ten minutes ago, tokens, headless Chromium and axe-core."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.assist.domain import WARD_TZ
from shared import auth, db
from shared.embedded import EmbeddedKafka, _free_port
from shared.events import Event, roster
from shared.events.roster import (
    MemberRegistered,
    MemberRegisteredData,
    ShiftAssigned,
    ShiftAssignedData,
    ShiftScheduled,
    ShiftScheduledData,
    TeamRegistered,
    TeamRegisteredData,
)
from tests.conftest import ARTIFACTS, ROOT, TOKEN_SECRET, ServiceProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE_VERSION = "4.10.3"
SHOTS = ARTIFACTS / "pages"
# Names with diacritics and with HTML's special characters: both must come out as written.
MEMBERS = {"ban-thach-hoa": "Nguyễn Thị Hoa", "ban-thach-binh": "Lê Văn Bình",
           "ban-thach-an": "Trần <An> & \"Bé\""}
TEAM = ("doan-trai", "Tổ Đoan Trai", "Đoan Trai")


@pytest.fixture(scope="package")
def kafka() -> Iterator[EmbeddedKafka]:
    """A broker of these tests' own: other packages' service processes stay in the same
    consumer groups on the session's broker and would take this ward's partitions."""
    with EmbeddedKafka(port=_free_port()) as broker:
        yield broker


@dataclass
class Ward:
    """The running services, the ward, its session, and tokens by (ward, role)."""

    assist: ServiceProcess
    reporting: ServiceProcess
    bootstrap: str
    auth_url: str
    ward_id: str
    shift_id: str
    starts_at: datetime
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    async def token(self, ward_id: str, role: str) -> str:
        if (ward_id, role) not in self.tokens:
            conn = await asyncpg.connect(self.auth_url)
            try:
                self.tokens[ward_id, role] = await auth.create_token(
                    conn, TOKEN_SECRET, ward_id=ward_id, role=role)  # type: ignore[arg-type]
            finally:
                await conn.close()
        return self.tokens[ward_id, role]


def _start(name: str, env: dict[str, str], logs: Path) -> ServiceProcess:
    port = _free_port()
    service = ServiceProcess(name, port, {**env, f"CDT_{name.upper()}_PORT": str(port)},
                             logs / f"{name}.log")
    service.start(wait=False)
    return service


async def publish(bootstrap: str, events: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False,
                                linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(roster.TOPIC, value, key=key, headers=headers)
                   for key, value, headers in (e.to_kafka() for e in events)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def roster_events(ward_id: str, shift_id: str, starts_at: datetime) -> list[Event]:
    """A team of three and one session at the service center, two of them assigned."""
    team_id, name, hamlet = TEAM
    events: list[Event] = [TeamRegistered.create(TeamRegisteredData(
        ward_id=ward_id, team_id=team_id, name=name, hamlet=hamlet), service="roster")]
    events += [MemberRegistered.create(MemberRegisteredData(
        ward_id=ward_id, member_id=m, team_id=team_id, display_name=n, occupation="teacher",
        is_leader=i == 0), service="roster") for i, (m, n) in enumerate(MEMBERS.items())]
    local = starts_at.astimezone(WARD_TZ)
    events.append(ShiftScheduled.create(ShiftScheduledData(
        ward_id=ward_id, shift_id=shift_id, team_id=team_id, location="service_center",
        date=local.date(), period="morning" if local.hour < 12 else "afternoon",
        starts_at=starts_at, ends_at=starts_at + timedelta(hours=3), min_staff=2),
        service="roster"))
    events += [ShiftAssigned.create(ShiftAssignedData(ward_id=ward_id, shift_id=shift_id,
                                                      member_id=m), service="roster")
               for m in list(MEMBERS)[:2]]
    return events


async def wait_until(check, timeout: float = 30, what: str = "") -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.25)
    raise AssertionError(f"not reached in {timeout:.0f}s: {what}")


@pytest.fixture(scope="package")
async def ward(kafka: EmbeddedKafka, database_url: str,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ward]:
    """Assist and reporting as real processes (`python -m cdt serve`), started together, and a
    ward whose session began ten minutes ago by the wall clock, known to both."""
    server = f"{database_url}_{uuid.uuid4().hex[:6]}"
    logs = tmp_path_factory.mktemp("pages")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    env.update({"CDT_KAFKA_BOOTSTRAP": kafka.bootstrap, "CDT_DATABASE_URL": server,
                "CDT_TOKEN_SECRET": TOKEN_SECRET, "CDT_STATE_DIR": str(logs / "state"),
                "CDT_KAFKA_PARTITIONS": "3", "CDT_KAFKA_SESSION_TIMEOUT_MS": "3000",
                "CDT_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
                "CDT_REPORTING_TICK_SECONDS": "0.5"})
    # The auth database first, so that the two processes do not both create it.
    auth_url = db.service_database_url(server, "auth")
    await db.prepare_database(auth_url, auth.MIGRATIONS)
    services = [_start(name, env, logs) for name in ("assist", "reporting")]
    try:
        for service in services:
            await asyncio.to_thread(service.wait_ready, 90)
        ward_id = f"ban-thach-{uuid.uuid4().hex[:6]}"
        now = datetime.now(WARD_TZ).replace(second=0, microsecond=0)
        # Ten minutes ago, but today: the desk page shows the ward's today's sessions.
        starts_at = max(now - timedelta(minutes=10), now.replace(hour=0, minute=0))
        shift_id = f"{ward_id}-{starts_at:%Y%m%d}-desk"
        found = Ward(*services, kafka.bootstrap, auth_url, ward_id, shift_id, starts_at)
        await publish(kafka.bootstrap, roster_events(ward_id, shift_id, starts_at))
        viewer = {"Authorization": f"Bearer {await found.token(ward_id, 'viewer')}"}
        async with httpx.AsyncClient(timeout=10, headers=viewer) as http:
            async def assist_knows() -> bool:
                answer = await http.get(f"{found.assist.url}/wards/{ward_id}/sessions")
                sessions = answer.json().get("sessions", [])
                return bool(sessions) and len(sessions[0]["assigned"]) == 2

            async def reporting_knows() -> bool:
                answer = await http.get(f"{found.reporting.url}/wards/{ward_id}/report")
                return answer.status_code == 200 and len(answer.json()["teams"]) == 1

            await wait_until(assist_knows, 40, "the assist service knows the session")
            await wait_until(reporting_knows, 40, "the reporting service knows the team")
        yield found
    finally:
        for service in services:
            service.stop()


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[object]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    playwright_api = pytest.importorskip("playwright.async_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is not installed: `make system-deps` (apt-get install chromium)")
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe.min.js from the npm registry's axe-core package, cached under tests/artifacts/node."""
    cache = ARTIFACTS / "node" / f"axe-core-{AXE_VERSION}"
    script = cache / "package" / "axe.min.js"
    if script.exists():
        return script
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: no axe-core (install Node.js and npm)")
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", f"axe-core@{AXE_VERSION}", "--silent",
                    "--pack-destination", str(cache)], check=True, timeout=180,
                   capture_output=True)
    with tarfile.open(cache / f"axe-core-{AXE_VERSION}.tgz") as archive:
        archive.extract("package/axe.min.js", cache, filter="data")
    return script


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
