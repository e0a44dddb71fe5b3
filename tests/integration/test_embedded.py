"""Embedded Tansu broker and PostgreSQL: start, serve real clients, stop without leftovers."""

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.embedded import EmbeddedError, EmbeddedKafka, EmbeddedPostgres

pytestmark = pytest.mark.integration


@pytest.fixture
def kafka() -> Iterator[EmbeddedKafka]:
    broker = EmbeddedKafka()
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pgdata", fast=True)
    try:
        yield server
    finally:
        server.stop()


async def test_kafka_round_trip(kafka: EmbeddedKafka) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("embedded.check", 1, 1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all",
                                enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait("embedded.check", b"hello", key=b"k1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition("embedded.check", 0)])
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"k1", b"hello")


def test_kafka_stop_leaves_no_process() -> None:
    broker = EmbeddedKafka()
    with broker:
        pid = broker.pid
        assert pid is not None and psutil.pid_exists(pid)
    assert broker.pid is None
    assert not psutil.pid_exists(pid)


def test_second_kafka_takes_another_port(kafka: EmbeddedKafka) -> None:
    with EmbeddedKafka() as other:
        assert other.port != kafka.port
        assert other.bootstrap == f"127.0.0.1:{other.port}"


def test_kafka_refuses_a_busy_port(kafka: EmbeddedKafka) -> None:
    with pytest.raises(EmbeddedError, match="already in use"):
        EmbeddedKafka(port=kafka.port).start()


async def test_postgres_keeps_data_across_restarts(postgres: EmbeddedPostgres) -> None:
    postgres.start()
    conn = await asyncpg.connect(postgres.url)
    try:
        await conn.execute("CREATE TABLE roster (name text PRIMARY KEY)")
        await conn.execute("INSERT INTO roster VALUES ('Tổ công nghệ số')")
        assert await conn.fetchval("SHOW max_connections") == "200"
    finally:
        await conn.close()

    pid = postgres.pid
    postgres.stop()
    assert postgres.pid is None
    assert not psutil.pid_exists(pid)

    postgres.start()
    conn = await asyncpg.connect(postgres.url)
    try:
        assert await conn.fetchval("SELECT name FROM roster") == "Tổ công nghệ số"
    finally:
        await conn.close()


def test_postgres_recovers_after_kill(postgres: EmbeddedPostgres) -> None:
    postgres.start()
    children = psutil.Process(postgres.pid).children(recursive=True)
    postgres.kill()
    _, alive = psutil.wait_procs(children, timeout=5)  # SIGKILL lands asynchronously
    assert not alive
    assert (postgres.data_dir / "postmaster.pid").exists()  # left behind, as after a crash
    postgres.start()
    assert postgres.pid is not None


def test_postgres_refuses_a_data_dir_in_use(postgres: EmbeddedPostgres) -> None:
    postgres.start()
    with pytest.raises(EmbeddedError, match=f"pid {postgres.pid}"):
        EmbeddedPostgres(postgres.data_dir).start()
