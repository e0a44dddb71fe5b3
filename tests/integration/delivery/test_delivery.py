"""Nothing lost, nothing applied twice: the outbox, inbox and consumer as real processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared.auth import create_token
from shared.db import with_database
from shared.embedded import EmbeddedKafka, EmbeddedPostgres, _free_port
from shared.events.roster import ShiftAssigned, ShiftAssignedData
from shared.messaging import ensure_topics
from tests.conftest import TOKEN_SECRET

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration


def test_an_event_in_a_rolled_back_transaction_is_never_published(make_probe) -> None:
    probe = make_probe()
    probe.start()
    probe.emit(0, 5, rollback=True)
    probe.emit(5, 5)
    state = probe.wait_applied(5)
    time.sleep(1.5)
    state = probe.state()
    assert state["produced"] == 5
    assert state["applied"] == 5


def test_ten_thousand_events_are_applied_exactly_once_in_order_per_key(make_probe) -> None:
    probe = make_probe()
    probe.start()
    for start in range(0, 10_000, 1000):
        probe.emit(start, 1000, wards=7)
    state = probe.wait_applied(10_000, timeout=120)
    assert state["applied"] == 10_000
    assert state["applied_twice"] == 0
    assert state["order_violations"] == 0
    metrics = probe.http.get("/metrics").text
    assert ('cdt_events_processed_total{service="probe",type="vn.cdt.roster.shift.assigned.v1"}'
            ' 10000.0') in metrics


def test_a_relay_killed_between_publish_and_mark_sent_redelivers_and_applies_once(
        make_probe) -> None:
    probe = make_probe()
    probe.start(CDT_FAILPOINTS="relay_after_publish")
    probe.emit(0, 50)
    assert probe.exited(timeout=30) == 137, "the relay should have died after publishing"
    probe.start()  # rows were never marked sent: the relay publishes them again
    state = probe.wait_applied(50)
    assert state["applied"] == 50
    assert state["applied_twice"] == 0


def test_a_consumer_killed_between_database_commit_and_offset_commit_applies_once(
        make_probe) -> None:
    probe = make_probe()
    probe.start(CDT_FAILPOINTS="consumer_after_commit")
    probe.emit(0, 40)
    assert probe.exited(timeout=30) == 137, "the consumer should have died after its commit"
    probe.start()  # the batch comes again from the last committed offset
    state = probe.wait_applied(40)
    assert state["applied"] == 40
    assert state["applied_twice"] == 0


async def _produce_raw(bootstrap: str, topic: str, records: list[tuple[bytes, list]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=False)
    await producer.start()
    try:
        for value, headers in records:
            await producer.send_and_wait(topic, value, key=b"ward-0", headers=headers)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def _event(seq: int, ward: str = "ward-0") -> tuple[bytes, list]:
    event = ShiftAssigned.create(ShiftAssignedData(ward_id=ward, shift_id=f"s-{seq}",
                                                   member_id=str(seq)), service="probe")
    _, value, headers = event.to_kafka()
    return value, headers


async def test_bad_messages_go_to_the_dead_letter_topic_and_the_batch_goes_on(
        make_probe, kafka: EmbeddedKafka, probe_env) -> None:
    topic = probe_env["PROBE_TOPIC"]
    probe = make_probe()
    probe.start()
    good_headers = _event(0)[1]
    malformed = (b"{not json", good_headers)
    invalid = (json.dumps({"ward_id": "ward-0", "shift_id": "s"}).encode(),
               [h for h in _event(0)[1] if h[0] != "ce_id"] + [("ce_id", b"invalid-1")])
    poison_value, poison_headers = _event(0)
    poison = (poison_value.replace(b'"0"', b'"poison"'), poison_headers)
    records = [_event(1), malformed, _event(2), invalid, _event(3), poison, _event(4)]
    await _produce_raw(kafka.bootstrap, topic, records)
    state = await asyncio.to_thread(probe.wait_applied, 4)
    assert state["applied"] == 4
    dead = await _read_all(kafka.bootstrap, f"{topic}.dlt", 3)
    assert len(dead) == 3
    reasons = sorted(dict(r.headers)["x-dlt-reason"].decode() for r in dead)
    assert reasons == ["invalid", "not_json", "rule_broken"]
    for record in dead:
        headers = dict(record.headers)
        assert headers["x-dlt-consumer"] == b"cdt-probe"
        assert headers["x-dlt-topic"].decode() == topic
        assert {"x-dlt-error", "x-dlt-at", "x-dlt-partition", "x-dlt-offset"} <= set(headers)
        assert record.key == b"ward-0"
        original = next(r for r in records if r[0] == record.value)
        assert [h for h in record.headers if not h[0].startswith("x-dlt-")] == original[1]
    metrics = probe.http.get("/metrics").text
    assert 'cdt_events_rejected_total{reason="not_json",service="probe"} 1.0' in metrics


async def test_a_database_stopped_for_20_seconds_delays_but_loses_nothing(
        make_probe, kafka: EmbeddedKafka, probe_env, state_dir: Path) -> None:
    topic = probe_env["PROBE_TOPIC"]
    with EmbeddedPostgres(state_dir / "pg", fast=True) as postgres:
        probe = make_probe(CDT_DATABASE_URL=with_database(postgres.url, "cdt"))
        probe.start()
        await _produce_raw(kafka.bootstrap, topic, [_event(i) for i in range(100)])
        await asyncio.to_thread(probe.wait_applied, 100)
        postgres.stop()
        stream = asyncio.create_task(
            _produce_raw(kafka.bootstrap, topic, [_event(i) for i in range(100, 300)]))
        await asyncio.sleep(20)
        await stream
        assert probe.proc is not None and probe.proc.poll() is None, "the consumer crashed"
        postgres.start()
        state = await asyncio.to_thread(probe.wait_applied, 300, 90)
        assert state["applied"] == 300
        assert state["applied_twice"] == 0


async def test_after_a_broker_lost_its_data_republish_restores_what_was_not_applied(
        make_probe, probe_env, auth_conn, tmp_path: Path) -> None:
    broker = EmbeddedKafka(port=_free_port())
    broker.start()
    try:
        probe = make_probe(CDT_KAFKA_BOOTSTRAP=broker.bootstrap, PROBE_PAUSE_AFTER_APPLY="0.5",
                           CDT_BATCH_SIZE="50")
        probe.start()
        since = datetime.now(UTC)
        probe.emit(0, 1000)
        deadline = time.monotonic() + 30
        while probe.state()["unsent"] > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        partial = probe.state()
        assert partial["unsent"] == 0 and partial["applied"] < 1000, partial
        broker.kill()  # the embedded broker keeps nothing: topics and offsets are gone
        broker.start()
        await asyncio.sleep(1)
        token = await create_token(auth_conn, TOKEN_SECRET, ward_id="*", role="operator")
        result = subprocess.run(
            [sys.executable, "-m", "cdt", "outbox", "republish", "--since", since.isoformat(),
             "--service", "probe"],
            env={**probe.env, "CDT_PROBE_URL": f"http://127.0.0.1:{probe.port}",
                 "CDT_TOKEN": token}, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "1000" in result.stdout
        state = await asyncio.to_thread(probe.wait_applied, 1000, 120)
        assert state["applied"] == 1000
        assert state["applied_twice"] == 0
    finally:
        broker.stop()


async def test_topics_are_created_with_the_configured_partitions(kafka: EmbeddedKafka) -> None:
    topic = f"partitions-{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka.bootstrap, [topic], partitions=5)
    await ensure_topics(kafka.bootstrap, [topic], partitions=5)  # a second call changes nothing
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert len(description["partitions"]) == 5
