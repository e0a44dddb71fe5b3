"""Kafka: the broker factory, topics, the CloudEvents codec and the batch consumption discipline."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.security import parse_security
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import CollectorRegistry

from shared import failpoints, inbox, stats
from shared.config import CommonSettings, ConfigError
from shared.db import TRANSIENT_DB_ERRORS
from shared.events import Event, EventCodec, RejectedMessageError, UnknownEvent, dead_letter_topic

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (*TRANSIENT_DB_ERRORS, KafkaError)


def group_id(service: str) -> str:
    return f"cdt-{service}"


def kafka_security(settings: CommonSettings) -> BaseSecurity | None:
    """TLS and SASL of every Kafka client, from the CDT_KAFKA_SECURITY_PROTOCOL settings."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        try:
            context = ssl.create_default_context(
                cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"CDT_KAFKA_SSL_CAFILE: not PEM certificates ({exc})") from None
        if settings.kafka_ssl_certfile:
            try:
                context.load_cert_chain(str(settings.kafka_ssl_certfile),
                                        str(settings.kafka_ssl_keyfile))
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError("CDT_KAFKA_SSL_CERTFILE / CDT_KAFKA_SSL_KEYFILE: not a PEM "
                                  f"certificate and its key ({exc})") from None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    user = settings.kafka_sasl_username or ""
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256,
            "SCRAM-SHA-512": SASLScram512}[settings.kafka_sasl_mechanism]
    return sasl(user, password, ssl_context=context, use_ssl=context is not None)


def kafka_options(settings: CommonSettings) -> dict[str, Any]:
    """The aiokafka keyword arguments (bootstrap, TLS, SASL) of a producer, consumer or admin."""
    return {"bootstrap_servers": settings.kafka_bootstrap, **security_options(settings)}


def security_options(settings: CommonSettings) -> dict[str, Any]:
    """The aiokafka keyword arguments of TLS and SASL alone (the CA file is read each call)."""
    return parse_security(kafka_security(settings))


def create_broker(settings: CommonSettings, *, service: str,
                  registry: CollectorRegistry) -> KafkaBroker:
    """The FastStream broker every service uses: acks from all replicas, transport metrics."""
    assert settings.kafka_bootstrap, "the bootstrap servers are resolved before the broker"
    return KafkaBroker(
        settings.kafka_bootstrap,
        security=kafka_security(settings),
        client_id=f"cdt-{service}",
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name=f"cdt-{service}")],
        graceful_timeout=15.0,
    )


def create_producer(settings: CommonSettings, *, service: str) -> AIOKafkaProducer:
    """The raw producer of the outbox relay and the dead-letter path: batches, acks from all."""
    return AIOKafkaProducer(
        **kafka_options(settings),
        client_id=f"cdt-{service}-relay",
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


async def ensure_topics(bootstrap: str, topics: Sequence[str], *, partitions: int,
                        replication_factor: int = 1, **options: Any) -> None:
    """Create the topics that are missing (and their dead-letter topics are the caller's).

    `options` are more aiokafka client arguments: TLS and SASL (`kafka_options`)."""
    options = {"bootstrap_servers": bootstrap, **options}
    admin = AIOKafkaAdminClient(**options, client_id="cdt-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=replication_factor)
                     for t in missing]
                )
            except TopicAlreadyExistsError:
                pass  # a sibling service created it meanwhile
    finally:
        await admin.close()


class CloudEventsCodec:
    """Broker-level decoder: CloudEvents binary mode records into event models.

    A record that cannot be accepted is kept aside on the message (`rejections`) for the
    dead-letter path, so that one bad record never fails its batch.
    """

    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec

    def _decode_records(self, msg: StreamMessage[Any],
                        records: Sequence[ConsumerRecord]) -> list[Event]:
        events: list[Event] = []
        rejections: list[tuple[ConsumerRecord, RejectedMessageError]] = []
        origin: dict[int, ConsumerRecord] = {}
        for record in records:
            try:
                event = self._codec.decode(record.headers, record.value)
            except RejectedMessageError as exc:
                rejections.append((record, exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a record we cannot read is that record's
                # fault: an error escaping the decoder would drop the whole batch unapplied.
                rejections.append((record, RejectedMessageError(
                    "invalid", f"unreadable record ({type(exc).__name__})")))
                continue
            origin[id(event)] = record
            events.append(event)
        msg.rejections = rejections  # type: ignore[attr-defined]
        msg.origin = origin  # type: ignore[attr-defined]
        return events

    async def decode(self, msg: StreamMessage[Any]) -> Any:
        return self._decode_records(msg, [msg.raw_message])

    async def decode_batch(self, msg: StreamMessage[Any]) -> list[Any]:
        return self._decode_records(msg, list(msg.raw_message))

    async def encode(self, msg: Any, serializer: Any = None) -> tuple[bytes, str | None]:
        if isinstance(msg, Event):
            return msg.to_kafka()[1], "application/json"
        raise TypeError("publish events through the outbox")

    async def encode_batch(self, msgs: Sequence[Any], serializer: Any = None) -> list[Any]:
        return [await self.encode(m) for m in msgs]


def _utf8_headers_only(record: ConsumerRecord) -> ConsumerRecord:
    headers = []
    for name, value in record.headers:
        try:
            (value or b"").decode()
        except UnicodeDecodeError:
            continue
        headers.append((name, value))
    return dataclasses.replace(record, headers=headers) if len(headers) < len(
        record.headers) else record


async def parse_batch_tolerantly(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's batch parser decodes every header of every record into dicts that nothing
    here reads (the codec reads the records themselves), and one header that is not UTF-8 fails
    the whole batch, which is then neither applied nor dead-lettered (and a later commit skips
    it). So it parses only the first record, without such headers, and the message then carries
    the whole batch: the codec reads every record as it came, and dead-letters a record whose
    CloudEvents headers are not UTF-8."""
    if not isinstance(records, tuple) or not records:
        return await original(records)
    first, last = records[0], records[-1]
    message = await original((_utf8_headers_only(first),))
    message.raw_message = records
    message.body = [r.value or b"" for r in records]
    message.message_id = f"{first.offset}-{last.offset}-{first.timestamp}"
    return message


class DeadLetters:
    """Sends a record unchanged to `{topic}.dlt` with the reason headers of CONTRACT.md."""

    def __init__(self, producer: AIOKafkaProducer, *, consumer: str) -> None:
        self._producer = producer
        self._consumer = consumer

    async def send(self, items: Sequence[tuple[ConsumerRecord, RejectedMessageError]]) -> None:
        futures = []
        for record, exc in items:
            headers = list(record.headers) + [
                ("x-dlt-consumer", self._consumer.encode()),
                ("x-dlt-reason", exc.reason.encode()),
                ("x-dlt-error", exc.error[:500].encode()),
                ("x-dlt-at", datetime.now(UTC).isoformat().encode()),
                ("x-dlt-topic", record.topic.encode()),
                ("x-dlt-partition", str(record.partition).encode()),
                ("x-dlt-offset", str(record.offset).encode()),
            ]
            futures.append(await self._producer.send(
                dead_letter_topic(record.topic), record.value, key=record.key, headers=headers))
        await asyncio.gather(*futures)
        for record, exc in items:
            log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition,
                        record.offset, exc.reason)


ApplyBatch = Callable[[asyncpg.Connection, list[Event]], Awaitable[None]]


class RuleViolationError(Exception):
    """An event that breaks a rule of the consumer: dead-lettered, the batch goes on."""

    def __init__(self, event: Event, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.event = event
        self.rejection = RejectedMessageError(reason, error)


class BatchConsumer:
    """One transaction and one offset commit per batch, after the database commit.

    Permanent failures go to the dead-letter topic and the batch goes on; transient ones
    (database or broker away) are retried with capped exponential back-off, committing nothing.
    """

    def __init__(self, *, service: str, pool: asyncpg.Pool, dead_letters: DeadLetters,
                 apply: ApplyBatch, max_backoff: float = 10.0) -> None:
        self._service = service
        self._pool = pool
        self._dead_letters = dead_letters
        self._apply = apply
        self._max_backoff = max_backoff

    async def consume(self, events: list[Event], message: StreamMessage[Any]) -> None:
        rejections = list(getattr(message, "rejections", []))
        origin: dict[int, ConsumerRecord] = getattr(message, "origin", {})
        known = [e for e in events if not isinstance(e, UnknownEvent)]
        reasons = [exc.reason for _, exc in rejections]
        backoff = 0.2
        while True:
            try:
                if rejections:
                    await self._dead_letters.send(rejections)
                    rejections = []
                await self._apply_once(known, reasons)
                break
            except RuleViolationError as violation:
                known = [e for e in known if e is not violation.event]
                rejections = [(origin[id(violation.event)], violation.rejection)]
                reasons.append(violation.rejection.reason)
            except TRANSIENT_ERRORS as exc:
                log.warning("%s: %s; retrying the batch in %.1fs", self._service,
                            type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            except Exception:
                # A bug, not the message's fault: hand the batch back rather than lose it.
                log.exception("%s: batch failed; it will be redelivered", self._service)
                await asyncio.sleep(backoff)
                await message.nack()
                return
        failpoints.hit("consumer_after_commit")
        await message.ack()

    async def _apply_once(self, events: list[Event], rejected_reasons: list[str]) -> None:
        # In a context of its own: asyncpg arms 300 s timers (idle pool connections, cached
        # statements) that keep the context they were armed in, and FastStream's context holds
        # the whole batch, so every batch would otherwise stay in memory for minutes.
        await asyncio.create_task(self._transaction(events, rejected_reasons),
                                  context=contextvars.Context())

    async def _transaction(self, events: list[Event], rejected_reasons: list[str]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            fresh = await inbox.claim(conn, events)
            if fresh:
                await self._apply(conn, fresh)
            await stats.count_events(conn, fresh, rejected_reasons)
