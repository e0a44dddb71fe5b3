"""The reliability suite in miniature, for `make test` (well under a minute): one ward's first
two weeks through the three services as real processes, reporting killed (kill -9) mid-stream
and restarted, and a burst of malformed intake records among the valid ones. Every figure of
the ward's report and /metrics must equal the truth of what the driver got accepted: nothing
lost, nothing counted twice, every bad record dead-lettered. The full suite is
`make reliability` (tests/reliability/)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.roster.reference import CAMPAIGN_START
from shared.auth import create_token
from shared.embedded import EmbeddedKafka
from shared.events import intake
from tests.conftest import TOKEN_SECRET
from tests.reliability import truth as T
from tests.reliability.driver import LoadDriver

pytestmark = pytest.mark.integration

DAYS = 8


def _bad_records(ward: str, count: int) -> list[tuple[bytes, bytes, list]]:
    """Malformed, invalid and unreadable records, each tagged to be found among dead letters."""
    good = [("ce_specversion", b"1.0"), ("ce_source", f"/wards/{ward}/dossier-system".encode()),
            ("ce_type", b"vn.cdt.intake.dossier.received.v1"),
            ("ce_time", b"2025-08-12T08:00:00+07:00"), ("ce_wardid", ward.encode()),
            ("content-type", b"application/json")]
    data = {"ward_id": ward, "dossier_id": "BAD", "procedure_code": "1.001193",
            "field": "civil_status", "channel": "online",
            "received_at": "2025-08-12T08:00:00+07:00"}
    values = [b"{not json", b"[" * 20000, json.dumps({**data, "channel": "fax"}).encode(),
              json.dumps({**data, "dossier_id": "BAD-\u0000"}).encode(),
              json.dumps({**data, "field": ["x"] * 5}).encode(), b"\xff\xfe"]
    records = []
    for n in range(count):
        headers = [*good, ("ce_id", str(uuid.uuid4()).encode()), ("x-smoke-id", str(n).encode())]
        if n % 7 == 3:  # a header that is not UTF-8
            headers = [(k, b"\xff\xfe" if k == "ce_time" else v) for k, v in headers]
        if n % 7 == 5:  # a NUL in the event id (the inbox could not store it)
            headers = [(k, b"id-\x00-" + v if k == "ce_id" else v) for k, v in headers]
        records.append((ward.encode(), values[n % len(values)], headers))
    return records


async def _dead_letters(bootstrap: str, tags: set[str], timeout: float = 30) -> set[str]:
    consumer = AIOKafkaConsumer(intake.TOPIC + ".dlt", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    found: set[str] = set()
    try:
        deadline = time.monotonic() + timeout
        while not tags <= found and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    headers = dict(r.headers)
                    tag = headers.get("x-smoke-id", b"").decode()
                    if tag:
                        found.add(f"{headers.get('ce_source', b'').decode()}#{tag}")
    finally:
        await consumer.stop()
    return found


async def test_reporting_killed_mid_stream_and_a_malformed_burst_lose_nothing(
        start_service, auth_conn, kafka: EmbeddedKafka) -> None:
    env = {"CDT_CLOCK": "watermark", "CDT_ASSIST_CLOSE_INTERVAL_SECONDS": "1"}
    services = {name: start_service(name, wait=False, **env)
                for name in ("roster", "assist", "reporting")}
    for service in services.values():
        await asyncio.to_thread(service.wait_ready, 60)
    ward = f"smoke-{uuid.uuid4().hex[:6]}"
    token = await create_token(auth_conn, TOKEN_SECRET, ward_id="*", role="operator")
    driver = LoadDriver({n: s.url for n, s in services.items()}, token, kafka.bootstrap, [ward],
                        seed=7, concurrency=16)
    try:
        await driver.prepare(CAMPAIGN_START, CAMPAIGN_START + timedelta(days=13))
        wd = driver.wards[0]
        await driver.play(3)
        services["reporting"].kill()  # kill -9 mid-stream
        services["reporting"].start(wait=False)
        bad = _bad_records(ward, 42)
        await asyncio.gather(driver.play(DAYS - 3), driver.intake.send(bad))
        await driver.close_campaign()
        await asyncio.to_thread(services["reporting"].wait_ready, 60)
        want = T.expected(wd.truth)
        diffs: dict = {}
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                     timeout=20) as client:
            while time.monotonic() < deadline:
                report = (await client.get(f"{services['reporting'].url}/wards/{ward}/report"))
                metrics = (await client.get(f"{services['reporting'].url}/metrics")).text
                got = T.from_report(report.json()) | T.from_metrics(T.parse_metrics(metrics),
                                                                    ward)
                diffs = T.compare(want, got)
                if not diffs:
                    break
                await asyncio.sleep(1)
        lost = sum(max(0, (want.get(k) or 0) - (got.get(k) or 0)) for k in (
            "report.online.dossiers", "report.assists.total", "report.volunteers.member_sessions"))
        double = sum(max(0, (got.get(k) or 0) - (want.get(k) or 0)) for k in (
            "report.online.dossiers", "report.assists.total", "report.volunteers.member_sessions"))
        assert lost == 0 and double == 0, diffs
        assert not diffs, diffs
        assert want["report.online.dossiers"] > 500 and want["report.assists.total"] > 80
        source = f"/wards/{ward}/dossier-system"
        tags = {f"{source}#{n}" for n in range(len(bad))}
        dead = await _dead_letters(kafka.bootstrap, tags)
        assert tags <= dead, f"{len(tags - dead)} malformed records were not dead-lettered"
        assert all(s.proc is not None and s.proc.poll() is None for s in services.values())
    finally:
        await driver.close()
