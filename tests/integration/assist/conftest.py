"""The assist service as one real process per test module, with tokens and the broker's topics."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.assist.domain import WARD_TZ
from shared import auth, db
from shared.embedded import EmbeddedKafka, _free_port
from shared.events import Event, roster
from shared.events.roster import (
    MemberRegistered,
    MemberRegisteredData,
    ShiftAssigned,
    ShiftAssignedData,
    ShiftCancelled,
    ShiftCancelledData,
    ShiftScheduled,
    ShiftScheduledData,
    TeamRegistered,
    TeamRegisteredData,
)
from tests.conftest import ROOT, TOKEN_SECRET, ServiceProcess


@dataclass
class Assist:
    """A running assist service and what a test needs around it."""

    process: ServiceProcess
    bootstrap: str
    auth_url: str
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.process.url

    async def token(self, ward_id: str, role: str = "desk") -> str:
        if (ward_id, role) not in self.tokens:
            conn = await asyncpg.connect(self.auth_url)
            try:
                self.tokens[ward_id, role] = await auth.create_token(
                    conn, TOKEN_SECRET, ward_id=ward_id, role=role)  # type: ignore[arg-type]
            finally:
                await conn.close()
        return self.tokens[ward_id, role]

    async def client(self, ward_id: str, role: str = "desk", *,
                     path_ward: str | None = None) -> httpx.AsyncClient:
        """A client for /wards/{path_ward or ward_id}/... with a token of `ward_id`'s `role`."""
        token = await self.token(ward_id, role)
        return httpx.AsyncClient(base_url=f"{self.url}/wards/{path_ward or ward_id}", timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})


def start_assist(kafka: EmbeddedKafka, database_url: str, tmp: Path,
                 **extra_env: str) -> Assist:
    """An assist process on a database of its own, ready; stopped if it cannot start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    server = f"{database_url}_{uuid.uuid4().hex[:6]}"
    env.update({
        "CDT_KAFKA_BOOTSTRAP": kafka.bootstrap, "CDT_DATABASE_URL": server,
        "CDT_TOKEN_SECRET": TOKEN_SECRET, "CDT_STATE_DIR": str(tmp / "state"),
        "CDT_KAFKA_PARTITIONS": "3", "CDT_KAFKA_SESSION_TIMEOUT_MS": "3000",
        "CDT_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
        "CDT_ASSIST_CLOSE_INTERVAL_SECONDS": "1", **extra_env,
    })
    for attempt in range(3):
        port = _free_port()
        process = ServiceProcess("assist", port, {**env, "CDT_ASSIST_PORT": str(port)},
                                 tmp / f"assist-{attempt}.log")
        try:
            process.start(timeout=40)
            return Assist(process, kafka.bootstrap, db.service_database_url(server, "auth"))
        except TimeoutError:
            # The embedded broker (Tansu) sometimes never completes a consumer group's re-join
            # after an earlier member of the group left; a new process joins afresh.
            process.stop()
        except BaseException:
            process.stop()
            raise
    raise TimeoutError(f"assist not ready after 3 starts; see {tmp}")


class AssistProcesses:
    """One assist process at a time in the session: processes of the same consumer group
    would share the topics' partitions, so another configuration replaces the running one."""

    def __init__(self, kafka: EmbeddedKafka, database_url: str,
                 tmp_path_factory: pytest.TempPathFactory) -> None:
        self._args = (kafka, database_url)
        self._tmp = tmp_path_factory
        self._running: tuple[dict[str, str], Assist] | None = None

    def get(self, **extra_env: str) -> Assist:
        if self._running and self._running[0] == extra_env:
            return self._running[1]
        self.stop()
        assist = start_assist(*self._args, self._tmp.mktemp("assist"), **extra_env)
        self._running = (extra_env, assist)
        return assist

    def stop(self) -> None:
        if self._running:
            self._running[1].process.stop()
            self._running = None


@pytest.fixture(scope="session")
def assist_processes(kafka: EmbeddedKafka, database_url: str,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssistProcesses]:
    processes = AssistProcesses(kafka, database_url, tmp_path_factory)
    try:
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope="module")
def assist_service(assist_processes: AssistProcesses) -> Assist:
    """The assist service (wall clock), shared by the modules that need no other settings (a
    start takes seconds); each test works in a ward of its own."""
    return assist_processes.get()


def new_ward(prefix: str = "w") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def publish(bootstrap: str, topic: str, events: Sequence[Event]) -> None:
    await publish_raw(bootstrap, topic, [e.to_kafka() for e in events])


async def publish_raw(bootstrap: str, topic: str,
                      records: Sequence[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False,
                                linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key, headers=headers)
                   for key, value, headers in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Record:
    headers: dict[str, str]
    value: Any
    raw: bytes

    @property
    def type(self) -> str:
        return self.headers.get("ce_type", "")


async def read_topic(bootstrap: str, topic: str, ward_id: str, *,
                     until: Callable[[list[Record]], bool], timeout: float = 30,
                     settle: float = 1.5) -> list[Record]:
    """The topic's records keyed by `ward_id`, read from the start until `until` holds, then a
    little longer so that a duplicate would be seen too."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[Record] = []
    deadline = time.monotonic() + timeout
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for r in records:
                    if r.key != ward_id.encode():
                        continue
                    headers = {k: v.decode("utf-8", "replace") for k, v in r.headers}
                    try:
                        value = json.loads(r.value)
                    except ValueError:
                        value = None
                    found.append(Record(headers, value, r.value))
            if settled_at is None and until(found):
                settled_at = time.monotonic()
            if settled_at is not None and time.monotonic() - settled_at >= settle:
                return found
    finally:
        await consumer.stop()
    raise AssertionError(f"{topic}: condition not met in {timeout}s; got {len(found)} records")


def of_type(records: list[Record], suffix: str) -> list[Record]:
    return [r for r in records if r.type.endswith(suffix)]


async def wait_for(check: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached in {timeout}s")


@dataclass(frozen=True)
class Day:
    """A planned day of one ward: three sessions (the evening one cancelled) and six members."""

    ward_id: str
    date: date
    members: tuple[str, ...]
    morning: str
    afternoon: str
    evening: str

    def at(self, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.date, dtime(hour, minute), WARD_TZ)


MEMBER_NAMES = ("Nguyễn Thị Hoa", "Lê Văn Bình", "Trần Văn An", "Phạm Thị Lan", "Võ Minh Đức",
                "Huỳnh Thị Mai")


async def plan_day(assist: Assist, ward_id: str, day: date) -> Day:
    """Publish a day's roster as the roster service would, some assignments before their
    session's schedule, and wait until the assist service knows it."""
    members = tuple(f"doan-trai-{i}" for i in range(len(MEMBER_NAMES)))
    plan = Day(ward_id, day, members, f"{ward_id}-{day:%Y%m%d}-morning",
               f"{ward_id}-{day:%Y%m%d}-afternoon", f"{ward_id}-{day:%Y%m%d}-evening")
    events: list[Event] = [TeamRegistered.create(TeamRegisteredData(
        ward_id=ward_id, team_id="doan-trai", name="Tổ Đoan Trai", hamlet="Đoan Trai"),
        service="roster")]
    events += [MemberRegistered.create(MemberRegisteredData(
        ward_id=ward_id, member_id=m, team_id="doan-trai", display_name=name,
        occupation="teacher", is_leader=i == 0), service="roster")
        for i, (m, name) in enumerate(zip(members, MEMBER_NAMES, strict=True))]
    # Assigned before scheduled: the order the roster's events may take across a re-plan.
    events += [ShiftAssigned.create(ShiftAssignedData(ward_id=ward_id, shift_id=plan.afternoon,
                                                      member_id=m), service="roster")
               for m in members[2:4]]
    times = {plan.morning: ("morning", (7, 30), (11, 30)),
             plan.afternoon: ("afternoon", (13, 30), (17, 0)),
             plan.evening: ("evening", (18, 0), (20, 0))}
    for shift_id, (period, start, end) in times.items():
        events.append(ShiftScheduled.create(ShiftScheduledData(
            ward_id=ward_id, shift_id=shift_id, team_id="doan-trai", location="service_center",
            date=day, period=period, starts_at=plan.at(*start), ends_at=plan.at(*end)),
            service="roster"))
    events += [ShiftAssigned.create(ShiftAssignedData(ward_id=ward_id, shift_id=plan.morning,
                                                      member_id=m), service="roster")
               for m in members[:2]]
    events.append(ShiftCancelled.create(ShiftCancelledData(
        ward_id=ward_id, shift_id=plan.evening, reason="mất điện / power cut"), service="roster"))
    await publish(assist.bootstrap, roster.TOPIC, events)
    async with await assist.client(ward_id, "viewer") as http:
        async def known() -> bool:
            sessions = (await http.get("/sessions", params={"date": day.isoformat()})).json()
            by_id = {s["shift_id"]: s for s in sessions.get("sessions", [])}
            return (len(by_id) == 3 and by_id[plan.evening]["cancelled"]
                    and len(by_id[plan.afternoon]["assigned"]) == 2
                    and len(by_id[plan.morning]["assigned"]) == 2)

        await wait_for(known)
    return plan
