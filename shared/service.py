"""The composition every service shares: its database, broker, subscribers, relay and HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Union

import asyncpg
from fastapi import APIRouter, FastAPI
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry
from pydantic import Discriminator, Tag

from shared import auth, db
from shared.config import ServiceSettings
from shared.events import Event, EventCodec, UnknownEvent, dead_letter_topic
from shared.http import (
    MAX_BODY_BYTES,
    admin_router,
    health_router,
    install_error_handlers,
)
from shared.messaging import (
    BatchConsumer,
    CloudEventsCodec,
    DeadLetters,
    create_broker,
    create_producer,
    ensure_topics,
    group_id,
    parse_batch_tolerantly,
    security_options,
)
from shared.metrics import DeliveryCollector, read_delivery_stats
from shared.outbox import OutboxRelay
from shared.scrape import MetricsBody, MetricsEncoder, MetricsRefresher

log = logging.getLogger(__name__)

SHARED_MIGRATIONS = db.load_migrations(Path(__file__).parent / "migrations")

Clock = Callable[[], datetime]

# A consumer's fetch buffers. While a backlog lasts every response is as large as allowed, and a
# consumer holds about five times that: the response being read (buffer, bytes, parsed record
# sets) next to the prefetched one. The embedded broker (Tansu) ignores the per-partition figure,
# caps a response at 5 MB and passes fetch_max_bytes by up to one stored batch. Measured on one
# topic's backlog: 8 MB gave 5.9 MB responses and a 30 MB traced peak, 1 MB gives 2 MB and 10 MB.
# 1 MB (2,000-2,500 records) still keeps more than a batch of 1,000 prefetched.
FETCH_MAX_BYTES = 1024 * 1024  # per fetch request
MAX_PARTITION_FETCH_BYTES = 1024 * 1024  # per partition in it (aiokafka's default)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Consumes:
    """A topic a service reads, its event types and how a batch of them is applied: `apply`, or
    `prepare` and `write`."""

    topic: str
    event_types: tuple[type[Event], ...]
    apply: Callable[[Runtime, asyncpg.Connection, list[Event]], Awaitable[None]] | None = None
    # Or the apply in two steps, `write(runtime, conn, prepare(events))`: `prepare` builds a
    # batch's rows from its events alone (pure, no database), so the consumer runs it before
    # the previous batch has committed, and the transaction only writes the rows.
    prepare: Callable[[list[Event]], Any] | None = None
    write: Callable[[Runtime, asyncpg.Connection, Any], Awaitable[Any]] | None = None
    # Event types kept once by their own fact's key (`inbox.apply_once`), not the inbox: `write`
    # inserts such a fact only when its key is new and returns the events it applied.
    keyed: tuple[type[Event], ...] = ()

    def steps(self, runtime: Runtime) -> tuple[Callable[[list[Event]], Any],
                                               Callable[[asyncpg.Connection, Any], Awaitable[Any]]]:
        """`prepare` and `write` bound to the runtime: the events themselves and `apply` when
        the apply is not split."""
        if self.prepare is None or self.write is None:
            apply = self.apply
            assert apply is not None, f"{self.topic}: neither apply nor prepare and write"
            return list, lambda conn, events: apply(runtime, conn, events)
        write = self.write
        return self.prepare, lambda conn, rows: write(runtime, conn, rows)


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service: its name, schema, topics, HTTP routes and background work."""

    name: str
    title: str
    description: str
    migrations_dir: Path
    topic: str | None
    produces: tuple[type[Event], ...]
    consumes: tuple[Consumes, ...] = ()
    routers: tuple[APIRouter, ...] = ()
    background: tuple[Callable[[Runtime], Awaitable[None]], ...] = ()
    metrics: tuple[Callable[[Runtime], Any], ...] = ()  # extra collectors built from the runtime

    @property
    def migrations(self) -> list[db.Migration]:
        return SHARED_MIGRATIONS + db.load_migrations(self.migrations_dir)


@dataclass
class Runtime:
    """Per-process resources, opened in the lifespan, reaching handlers and HTTP routes."""

    settings: ServiceSettings
    spec: ServiceSpec
    broker: KafkaBroker
    registry: CollectorRegistry
    clock: Clock
    pool: asyncpg.Pool = None  # type: ignore[assignment]
    auth_pool: asyncpg.Pool = None  # type: ignore[assignment]
    token_secret: str = ""
    relay: OutboxRelay | None = None
    consumers: dict[str, BatchConsumer] = field(default_factory=dict)
    refreshers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # collectors'
    # Text parts after the registry's (e.g. reporting's cdt_* families), each the same object
    # while unchanged.
    exposition: list[Callable[[], Awaitable[Sequence[bytes]]]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    broker_started: bool = False
    ensure_topics: Callable[[], Awaitable[None]] | None = None
    database_url: str = ""  # the service's own database (a readiness probe's connection)
    _health_conn: asyncpg.Connection | None = None
    metrics: MetricsRefresher = field(init=False)

    def __post_init__(self) -> None:
        encoder = MetricsEncoder(self.registry)

        async def render() -> MetricsBody | None:
            # Values come from the database, so every replica converges to the same text.
            for refresh in self.refreshers:
                await refresh()
            parts = [await part() for part in self.exposition]
            return await asyncio.to_thread(encoder.encode, parts)

        self.metrics = MetricsRefresher(render,
                                        min_interval=self.settings.metrics_refresh_seconds)

    @property
    def service(self) -> str:
        return self.spec.name

    @property
    def migrations(self) -> list[db.Migration]:
        return self.spec.migrations

    async def pending_migrations(self, within: float = 2.0) -> list[str]:
        """Migrations not applied yet, read on a connection of its own (for /readyz).

        Not from the pool: while a replica applies a backlog its batches hold the pool's
        connections, and a readiness probe waiting for one would call a busy replica unready.
        """
        try:
            if self._health_conn is None or self._health_conn.is_closed():
                self._health_conn = await asyncpg.connect(self.database_url, timeout=within)
            return await asyncio.wait_for(db.pending_migrations(self._health_conn, self.migrations),
                                          within)
        except BaseException:
            await self.close_health_connection()
            raise

    async def close_health_connection(self) -> None:
        conn, self._health_conn = self._health_conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


def event_union(event_types: Sequence[type[Event]]) -> Any:
    """The discriminated union of a topic's events with the UnknownEvent fallback."""
    known = {t.TYPE for t in event_types}

    def discriminate(value: Any) -> str:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        if isinstance(value, UnknownEvent) or kind not in known:
            return "unknown"
        return str(kind)

    members = [Annotated[t, Tag(t.TYPE)] for t in event_types]
    members.append(Annotated[UnknownEvent, Tag("unknown")])
    return Annotated[Union[tuple(members)], Discriminator(discriminate)]  # noqa: UP007


def _subscribe(broker: KafkaBroker, runtime: Runtime, consumes: Consumes, batch_size: int) -> None:
    family = consumes.topic.split(".")[1]
    union = event_union(consumes.event_types)

    async def handler(events, message):  # type: ignore[no-untyped-def]
        await runtime.consumers[consumes.topic].consume(events, message)

    # Real objects, not strings: FastStream builds the payload schema from these.
    handler.__annotations__ = {"events": list[union], "message": KafkaMessage, "return": None}
    handler.__name__ = f"on_{family}_event"
    handler.__doc__ = f"Applies the events of {consumes.topic} in batches, each at most once."
    broker.subscriber(
        consumes.topic,
        # One group per consumed topic: a rebalance on one topic never stalls another, and the
        # embedded broker stalls joins of groups whose members subscribe to different topics.
        group_id=f"{group_id(runtime.service)}.{family}",
        batch=True,
        max_records=batch_size,
        batch_timeout_ms=100,
        auto_offset_reset="earliest",
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
        session_timeout_ms=runtime.settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(runtime.settings.kafka_session_timeout_ms // 10, 100),
        ack_policy=AckPolicy.MANUAL,
        codec=CloudEventsCodec(EventCodec(consumes.event_types)),
        parser=parse_batch_tolerantly,
        title=f"{consumes.topic}:on_{family}_event",
    )(handler)


def build_asyncapi(broker: KafkaBroker, spec: ServiceSpec) -> AsyncAPI:
    if spec.topic and spec.produces:
        broker.publisher(spec.topic, title=f"{spec.topic}:publish",
                         description=f"Events of the {spec.name} service, keyed by ward_id, "
                         "CloudEvents binary mode", schema=event_union(spec.produces))
    return AsyncAPI(broker, title=spec.title, version="1.0.0", description=spec.description)


def create_service_app(spec: ServiceSpec, settings: ServiceSettings, *,
                       clock: Clock = utc_now) -> FastAPI:
    """The ASGI app of a service; nothing is connected until its lifespan starts."""
    registry = CollectorRegistry(auto_describe=True)
    broker = create_broker(settings, service=spec.name, registry=registry)
    runtime = Runtime(settings=settings, spec=spec, broker=broker, registry=registry,
                      clock=clock)
    for consumes in spec.consumes:
        _subscribe(broker, runtime, consumes, settings.batch_size)
    asyncapi = build_asyncapi(broker, spec)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _running(runtime):
            yield

    app = FastAPI(title=spec.title, description=spec.description, version="1.0.0",
                  lifespan=lifespan)
    app.state.runtime = runtime
    app.state.asyncapi = asyncapi
    app.state.max_body = MAX_BODY_BYTES
    install_error_handlers(app)
    app.include_router(health_router(asyncapi))
    app.include_router(admin_router())
    for router in spec.routers:
        app.include_router(router)
    return app


def _freeze_startup_objects() -> None:
    """Keep what exists after startup (modules, classes, FastAPI and FastStream's objects) out
    of the garbage collector's full passes. Every full pass walked all of them (~40 MB): applying
    a backlog, the collector took 22% of a reporting process's time, 7% after this (see
    docs/performance.md). Once per process: what is frozen is never collected if it becomes
    cyclic garbage, so a process running several apps (the tests) freezes only the first's."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


JOIN_WARNING_SECONDS = 60.0


async def _start_broker(runtime: Runtime, warn_every: float = JOIN_WARNING_SECONDS) -> None:
    """Start the subscribers: each joins its consumer group and waits for its partitions. A
    join that takes minutes (a broker that never completes the group's rebalance) is said in
    the log every `warn_every` seconds, besides /readyz answering 503."""
    start = asyncio.ensure_future(runtime.broker.start())
    waited = 0.0
    try:
        while not (await asyncio.wait({start}, timeout=warn_every))[0]:
            waited += warn_every
            log.warning("%s: consumer groups not joined after %.0f s (no partitions assigned "
                        "yet); check the broker (%s)", runtime.service, waited,
                        runtime.settings.kafka_bootstrap)
    finally:
        start.cancel()  # stopping meanwhile: no-op once it is done
    start.result()
    runtime.broker_started = True
    log.info("%s service started", runtime.service)


@asynccontextmanager
async def _running(runtime: Runtime) -> AsyncIterator[None]:
    settings, spec = runtime.settings, runtime.spec
    if not settings.database_url and not settings.own_database_url:
        raise RuntimeError("CDT_DATABASE_URL is resolved before a service starts")
    if not settings.token_secret:
        raise RuntimeError("CDT_TOKEN_SECRET is resolved before a service starts")
    runtime.token_secret = settings.token_secret.get_secret_value()
    server_url = settings.database_url or settings.own_database_url or ""
    url = db.service_database_url(server_url, spec.name, settings.own_database_url)
    auth_url = db.service_database_url(server_url, "auth", settings.auth_database_url)
    await db.prepare_database(url, spec.migrations)
    await db.prepare_database(auth_url, auth.MIGRATIONS)
    runtime.database_url = url
    runtime.pool = await db.create_pool(url, max_size=10)
    runtime.auth_pool = await db.create_pool(auth_url, max_size=4)
    topics = [t for t in [spec.topic] if t] + [c.topic for c in spec.consumes]
    topics += [dead_letter_topic(c.topic) for c in spec.consumes]

    security = security_options(settings)  # read once: recreate_topics runs after broker losses

    async def recreate_topics() -> None:
        await ensure_topics(settings.kafka_bootstrap or "", topics, **security,
                            partitions=settings.kafka_partitions,
                            replication_factor=settings.kafka_replication_factor)

    await recreate_topics()
    runtime.ensure_topics = recreate_topics
    producer = create_producer(settings, service=spec.name)
    await producer.start()
    dead_letters = DeadLetters(producer, consumer=group_id(spec.name))
    for consumes in spec.consumes:
        prepare, write = consumes.steps(runtime)
        runtime.consumers[consumes.topic] = BatchConsumer(
            service=spec.name, pool=runtime.pool, dead_letters=dead_letters,
            apply=write, prepare=prepare, write=write, keyed=consumes.keyed,
            on_committed=runtime.metrics.changed)  # /metrics shows it within a refresh
    delivery = DeliveryCollector(spec.name)
    runtime.registry.register(delivery)

    async def refresh_delivery() -> None:
        async with runtime.pool.acquire() as conn:
            delivery.snapshot = await read_delivery_stats(conn)

    runtime.refreshers.append(refresh_delivery)
    for make_collector in spec.metrics:
        make_collector(runtime)

    runtime.relay = OutboxRelay(runtime.pool, producer, batch_size=settings.batch_size,
                                retention=timedelta(hours=settings.outbox_retention_hours),
                                on_error=recreate_topics)
    tasks = [asyncio.create_task(runtime.relay.run(), name=f"{spec.name}-outbox-relay")]
    tasks += [asyncio.create_task(job(runtime), name=f"{spec.name}-{job.__name__}")
              for job in spec.background]
    # Joining consumer groups takes seconds: serve /healthz meanwhile, /readyz says when done.
    broker_start = asyncio.create_task(_start_broker(runtime), name=f"{spec.name}-broker")
    _freeze_startup_objects()
    try:
        yield
    finally:
        broker_start.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await broker_start
        for consumer in runtime.consumers.values():
            await consumer.drain()  # commit the batch in flight while its consumer is open
        await runtime.broker.stop()
        await runtime.metrics.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await producer.stop()
        await runtime.close_health_connection()
        await runtime.pool.close()
        await runtime.auth_pool.close()
