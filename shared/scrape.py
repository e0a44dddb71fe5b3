"""The /metrics answer: refreshed in the background after commits and scrapes, served from cached bytes."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

# Level 1: the text is repetitive (9 MB of the country's wards compress to under 1 MB) and a
# higher level costs three times the CPU for a body 15% smaller.
GZIP_LEVEL = 1
GZIP_WBITS = 31  # zlib's gzip container
COMPRESS_BLOCK = 256 * 1024  # text handed to zlib at a time (which releases the GIL meanwhile)


@dataclass(frozen=True)
class MetricsBody:
    """One rendering of /metrics, compressed once (not per scrape) and kept only compressed:
    the country's 9 MB of text is under 1 MB of gzip. The rare client that does not accept
    gzip gets it decompressed."""

    gzipped: bytes

    def text(self) -> bytes:
        return zlib.decompress(self.gzipped, GZIP_WBITS)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110: `gzip;q=0` refuses it)."""
    wildcard = None
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding.strip() in ("gzip", "x-gzip"):
            return q > 0
        if coding.strip() == "*":
            wildcard = q > 0
    return bool(wildcard)


class MetricsEncoder:
    """The registry's text followed by pre-rendered parts, compressed (to be run off the loop)
    without ever joining the whole text."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._last: tuple[bytes, list[Sequence[bytes]]] | None = None

    def encode(self, parts: list[Sequence[bytes]]) -> MetricsBody | None:
        """A new body, or None when neither the registry's text nor any part has changed
        (parts are compared by identity: a part returns the same object while unchanged)."""
        head = generate_latest(self.registry)
        if self._last is not None:
            last_head, last_parts = self._last
            if head == last_head and len(parts) == len(last_parts) and all(
                    new is old for new, old in zip(parts, last_parts, strict=True)):
                return None
        self._last = (head, parts)
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS)
        out = [compressor.compress(head)]
        pending: list[bytes] = []
        size = 0
        for part in parts:
            for chunk in part:
                pending.append(chunk)
                size += len(chunk)
                if size >= COMPRESS_BLOCK:
                    out.append(compressor.compress(b"".join(pending)))
                    pending, size = [], 0
        out.append(compressor.compress(b"".join(pending)))
        out.append(compressor.flush())
        return MetricsBody(b"".join(out))


class MetricsRefresher:
    """Keeps a rendering of /metrics fresh without making any scrape wait for one.

    A refresh starts when a consumer batch has committed (`changed`) and when a scrape finds the
    rendering older than `max_age` (data changed elsewhere: another replica, a background job).
    Refreshes run one at a time, at most every `min_interval` seconds and never more often than
    `cost_factor` times their own duration, so that a costly one (the country's 3,321 wards)
    cannot take more than 1/cost_factor of the time. Commits trigger refreshes only while
    someone scrapes (a scrape in the last `idle_after` seconds): an unscraped service applying a
    backlog spends nothing on /metrics. Only the very first scrape waits for a rendering.
    """

    def __init__(self, render: Callable[[], Awaitable[MetricsBody | None]], *,
                 min_interval: float = 0.25, max_age: float = 1.0, cost_factor: float = 4.0,
                 idle_after: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._render = render
        self.min_interval = min_interval
        self.max_age = max_age
        self.cost_factor = cost_factor
        self.idle_after = idle_after
        self._clock = clock
        self.body: MetricsBody | None = None
        self.rendered_at = float("-inf")  # when the data of `body` was read
        self._scraped_at = float("-inf")
        self._wanted = asyncio.Event()
        self._first: asyncio.Future[MetricsBody] | None = None
        self._task: asyncio.Task | None = None

    def changed(self) -> None:
        """Data behind /metrics has changed (a batch committed): refresh soon, if scraped."""
        if self._clock() - self._scraped_at < self.idle_after:
            self._want()

    async def current(self) -> MetricsBody:
        """The latest rendering; a refresh is started in the background when it is old."""
        self._scraped_at = now = self._clock()
        if self.body is not None:
            if now - self.rendered_at >= self.max_age:
                self._want()
            return self.body
        if self._first is None or self._first.done():
            self._first = asyncio.get_running_loop().create_future()
        self._want()
        return await asyncio.shield(self._first)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _want(self) -> None:
        self._wanted.set()
        if self._task is None:
            # A context of its own: the first call may come from a consumer's handler, whose
            # context holds its whole batch, and this task (and the timers asyncpg arms in it)
            # lives as long as the process.
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="metrics-refresh", context=contextvars.Context())

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()  # a change during this refresh asks for the next one
            began = self._clock()
            try:
                body = await self._render()
            except Exception as exc:  # noqa: BLE001 - keep serving the last rendering
                log.warning("/metrics refresh failed: %s: %s", type(exc).__name__, exc)
                if self._first is not None and not self._first.done():
                    self._first.set_exception(exc)
                    self._first.exception()  # retrieved here too: no warning if nobody waits
            else:
                if body is not None:
                    self.body = body
                self.rendered_at = began
                if self._first is not None and not self._first.done() and self.body is not None:
                    self._first.set_result(self.body)
            cost = self._clock() - began
            await asyncio.sleep(max(self.min_interval, self.cost_factor * cost) - cost)
