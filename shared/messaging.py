"""Kafka: the broker factory, topics, the CloudEvents codec and the batch consumption discipline."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
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
PrepareBatch = Callable[[list[Event]], Any]
WriteBatch = Callable[[asyncpg.Connection, Any], Awaitable[Any]]


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

    Pipelined: `consume` starts a batch's transaction and returns, so the next batch is fetched
    and decoded while PostgreSQL works on this one; the next `consume` waits for it before its
    own transaction starts, so batches are still applied one at a time and in order. Each batch
    then commits the offsets of its own records (not the consumer's position, which is already
    past the next batch). A batch that fails with a bug is handed back (its partitions rewound
    to its first records); the batch fetched meanwhile is handed back with it, never applied.

    With `prepare` and `write` (`apply` split in two: `write(conn, prepare(events))` does what
    `apply(conn, events)` does), a batch's rows are built from its events before the previous
    batch has committed, and its transaction only claims the events and writes the rows. The
    rows are built again from the fresh events when the inbox held some of them already.
    Without them, `prepare` is the identity and `write` is `apply`. Events of the `keyed` types
    skip the inbox: `write` keeps them once by their fact's own key and returns those it applied
    (`inbox.apply_once`).
    """

    def __init__(self, *, service: str, pool: asyncpg.Pool, dead_letters: DeadLetters,
                 apply: ApplyBatch, max_backoff: float = 10.0,
                 on_committed: Callable[[], None] | None = None,
                 prepare: PrepareBatch | None = None, write: WriteBatch | None = None,
                 keyed: tuple[type[Event], ...] = ()) -> None:
        assert (prepare is None) == (write is None), "prepare and write come together"
        assert not keyed or write is not None, "keyed events need a write that returns them"
        self._service = service
        self._pool = pool
        self._dead_letters = dead_letters
        self._prepare: PrepareBatch = prepare or _same_events
        self._write: WriteBatch = write or apply
        self._keyed = keyed
        self._max_backoff = max_backoff
        self._on_committed = on_committed
        self._inflight: asyncio.Task[bool] | None = None
        self._rewound: dict[TopicPartition, int] = {}  # where the last failed batch rewound to
        self._draining = False

    async def consume(self, events: list[Event], message: StreamMessage[Any]) -> None:
        known = [e for e in events if not isinstance(e, UnknownEvent)]
        prepared = self._prepared(known)  # while the previous batch is in PostgreSQL
        previous, self._inflight = self._inflight, None
        if previous is not None and not await asyncio.shield(previous):
            # Fetched before the failed batch rewound its partitions: rewind this one's too.
            self._rewind(message, keep=self._rewound)
            return
        # In a context of its own: asyncpg arms 300 s timers (idle pool connections, cached
        # statements) that keep the context they were armed in, and FastStream's context holds
        # the whole batch, so every batch would otherwise stay in memory for minutes.
        task = asyncio.create_task(self._settle(known, prepared, message),
                                   context=contextvars.Context())
        if self._draining or not isinstance(getattr(message, "consumer", None),
                                            AIOKafkaConsumer):
            # Stopping, or a test broker delivering inline: nothing is fetched meanwhile.
            await asyncio.shield(task)
        else:
            self._inflight = task

    async def drain(self) -> None:
        """Finish the batch in flight (before the broker stops its consumers)."""
        self._draining = True
        while (task := self._inflight) is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
            if self._inflight is task:
                self._inflight = None

    def _prepared(self, events: list[Event]) -> Any:
        """The batch's rows (`prepare`), or None: then the transaction builds them (and a bug
        in building them hands the batch back there)."""
        if not events:
            return None
        try:
            return self._prepare(events)
        except Exception:  # noqa: BLE001 - raised again inside the transaction, handled there
            return None

    async def _settle(self, known: list[Event], prepared: Any,
                      message: StreamMessage[Any]) -> bool:
        """Apply the batch and commit its offsets; False when it was handed back."""
        rejections = list(getattr(message, "rejections", []))
        origin: dict[int, ConsumerRecord] = getattr(message, "origin", {})
        reasons = [exc.reason for _, exc in rejections]
        backoff = 0.2
        while True:
            try:
                if rejections:
                    await self._dead_letters.send(rejections)
                    rejections = []
                await self._transaction(known, prepared, reasons)
                break
            except RuleViolationError as violation:
                known = [e for e in known if e is not violation.event]
                prepared = None
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
                self._rewound = {}
                self._rewind(message, keep={})
                return False
        failpoints.hit("consumer_after_commit")
        await self._commit(message)
        if self._on_committed is not None:
            self._on_committed()
        return True

    async def _commit(self, message: StreamMessage[Any]) -> None:
        consumer = getattr(message, "consumer", None)
        if not isinstance(consumer, AIOKafkaConsumer):
            await message.ack()  # a test broker's message
            return
        offsets = {tp: offset + 1 for tp, offset in _offsets(message, max).items()}
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # Applied and in the inbox: if these records come again (their partitions moved to
            # another replica, or this one restarts), they are skipped there.
            log.warning("%s: offsets not committed (%s); a redelivery would be skipped",
                        self._service, type(exc).__name__)

    def _rewind(self, message: StreamMessage[Any], *, keep: dict[TopicPartition, int]) -> None:
        """Seek the batch's partitions back to its first records (except those in `keep`,
        already rewound further back), so that the batch is fetched again."""
        consumer = getattr(message, "consumer", None)
        if not isinstance(consumer, AIOKafkaConsumer):
            return
        for tp, offset in _offsets(message, min).items():
            if tp in keep:
                continue
            try:
                consumer.seek(tp, offset)
            except KafkaError as exc:  # the partition was revoked: its new owner reads it
                log.warning("%s: %s[%d] not rewound (%s)", self._service, tp.topic,
                            tp.partition, type(exc).__name__)
                continue
            self._rewound[tp] = offset

    async def _transaction(self, events: list[Event], prepared: Any,
                           rejected_reasons: list[str]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            applied = await inbox.apply_once(conn, events, prepare=self._prepare,
                                             write=self._write, prepared=prepared,
                                             keyed=self._keyed)
            await stats.count_events(conn, applied, rejected_reasons)


def _same_events(events: list[Event]) -> list[Event]:
    return events


def _offsets(message: StreamMessage[Any], pick: Callable[[int, int], int]
             ) -> dict[TopicPartition, int]:
    """Per partition of the batch, the first (`min`) or last (`max`) record's offset."""
    raw = message.raw_message
    offsets: dict[tuple[str, int], int] = {}
    for record in raw if isinstance(raw, tuple | list) else (raw,):
        key, offset = (record.topic, record.partition), record.offset
        known = offsets.get(key)
        offsets[key] = offset if known is None else pick(known, offset)
    return {TopicPartition(*key): offset for key, offset in offsets.items()}
