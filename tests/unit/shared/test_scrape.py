"""/metrics is refreshed after commits and scrapes at a bounded rate; only the first scrape waits."""

from __future__ import annotations

import asyncio
import contextvars
import gzip
import time
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from shared.http import health_router
from shared.scrape import MetricsBody, MetricsEncoder, MetricsRefresher, accepts_gzip


@pytest.mark.parametrize(("header", "gzip_ok"), [
    ("gzip", True),
    ("gzip, deflate, br, zstd", True),  # httpx
    ("application/x-gzip;q=1, gzip", True),
    ("deflate, gzip;q=0.5", True),
    ("identity", False),
    ("", False),
    ("gzip;q=0", False),
    ("gzip; q=0.000, *", False),
    ("*", True),
    ("x-gzip", True),
])
def test_gzip_is_sent_only_when_the_client_accepts_it(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


def test_the_body_is_the_registry_text_then_the_parts_and_its_gzip_is_the_same_text() -> None:
    registry = CollectorRegistry()
    processed = Counter("cdt_events_processed", "Events applied", registry=registry)
    encoder = MetricsEncoder(registry)
    part = [b"# HELP cdt_x Ward\n", b'cdt_x{ward="b\xe1\xba\xbfn-ngh\xc3\xa9"} 1.0\n']
    body = encoder.encode([part])
    assert body is not None
    assert body.text().startswith(b"# HELP cdt_events_processed_total Events applied\n")
    assert body.text().endswith(b"".join(part))
    assert gzip.decompress(body.gzipped) == body.text()
    assert encoder.encode([part]) is None  # nothing changed: no joining, no compressing
    processed.inc()
    changed = encoder.encode([part])
    assert changed is not None and b"cdt_events_processed_total 1.0" in changed.text()
    assert encoder.encode([list(part)]) is not None  # a new part object: a new body
    big = [f'cdt_x{{ward="x-{i}"}} {i}.0\n'.encode() for i in range(100_000)]  # many blocks
    body = encoder.encode([part, big])
    assert body is not None and gzip.decompress(body.gzipped).endswith(b"".join(big))


class SlowRender:
    """A render that takes `seconds` and counts its calls; each body names its call."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.calls: list[float] = []
        self.fail: Exception | None = None

    async def __call__(self) -> MetricsBody:
        self.calls.append(time.monotonic())
        await asyncio.sleep(self.seconds)
        if self.fail is not None:
            raise self.fail
        return MetricsBody(gzip.compress(f"render {len(self.calls)}\n".encode()))


async def test_only_the_first_scrape_waits_and_later_ones_get_the_last_body_at_once() -> None:
    render = SlowRender(0.2)
    refresher = MetricsRefresher(render, min_interval=0.01, max_age=0.0, cost_factor=1)
    try:
        began = time.monotonic()
        assert (await refresher.current()).text() == b"render 1\n"
        assert time.monotonic() - began >= 0.2
        began = time.monotonic()
        assert (await refresher.current()).text() == b"render 1\n"  # starts the next refresh
        await asyncio.sleep(0.05)
        assert (await refresher.current()).text() == b"render 1\n"  # while it runs
        assert time.monotonic() - began < 0.1
        await asyncio.sleep(0.3)
        assert (await refresher.current()).text() == b"render 2\n"
    finally:
        await refresher.close()


async def test_a_commit_refreshes_soon_but_only_while_someone_scrapes() -> None:
    render = SlowRender()
    refresher = MetricsRefresher(render, min_interval=0.05, max_age=60, idle_after=60)
    try:
        refresher.changed()
        await asyncio.sleep(0.1)
        assert render.calls == []  # nobody scrapes: a backlog costs nothing
        await refresher.current()
        committed = time.monotonic()
        refresher.changed()
        await asyncio.sleep(0.2)
        assert len(render.calls) == 2 and render.calls[1] - committed < 0.15
        assert (await refresher.current()).text() == b"render 2\n"
    finally:
        await refresher.close()


async def test_refreshes_are_throttled_by_the_interval_and_by_their_own_cost() -> None:
    cheap = SlowRender()
    refresher = MetricsRefresher(cheap, min_interval=0.1, max_age=60, cost_factor=4)
    try:
        await refresher.current()
        began = time.monotonic()
        for _ in range(50):  # commits every 10 ms for half a second
            refresher.changed()
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - began
        gaps = [b - a for a, b in zip(cheap.calls, cheap.calls[1:], strict=False)]
        assert 3 <= len(cheap.calls) <= elapsed / 0.1 + 2 and min(gaps) >= 0.095, gaps
    finally:
        await refresher.close()
    costly = SlowRender(0.05)  # 4 x 50 ms: at most one refresh every 200 ms
    refresher = MetricsRefresher(costly, min_interval=0.01, max_age=60, cost_factor=4)
    try:
        await refresher.current()
        began = time.monotonic()
        for _ in range(60):
            refresher.changed()
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - began
        gaps = [b - a for a, b in zip(costly.calls, costly.calls[1:], strict=False)]
        assert 2 <= len(costly.calls) <= elapsed / 0.2 + 2 and min(gaps) >= 0.195, gaps
    finally:
        await refresher.close()


async def test_a_failed_refresh_fails_the_first_scrape_then_keeps_the_last_body() -> None:
    render = SlowRender()
    render.fail = ConnectionRefusedError("database down")
    refresher = MetricsRefresher(render, min_interval=0.01, max_age=0.0)
    try:
        with pytest.raises(ConnectionRefusedError):
            await refresher.current()
        render.fail = None
        await asyncio.sleep(0.02)
        assert (await refresher.current()).text() == b"render 2\n"
        render.fail = ConnectionRefusedError("database down again")
        await asyncio.sleep(0.05)
        assert (await refresher.current()).text() == b"render 2\n"  # asks for a refresh
        await asyncio.sleep(0.05)
        assert len(render.calls) == 3  # which failed
        assert (await refresher.current()).text() == b"render 2\n"
    finally:
        await refresher.close()


async def test_the_refresh_task_keeps_nothing_of_the_handler_that_started_it() -> None:
    batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("batch", default=None)
    seen: list = []

    async def render() -> MetricsBody:
        seen.append(batch.get())
        return MetricsBody(gzip.compress(b"x\n"))

    refresher = MetricsRefresher(render, min_interval=0.01, max_age=60)
    try:
        batch.set(["a consumer's batch of 1,000 events"])
        await refresher.current()  # as if the first call came from a consumer's handler
        assert seen == [None]
    finally:
        await refresher.close()


async def test_the_route_sends_gzip_to_clients_that_accept_it_and_text_to_the_others() -> None:
    text = b'# HELP cdt_x Ward\n# TYPE cdt_x gauge\ncdt_x{ward="t\xc3\xa2n-\xc4\x91\xe1\xbb\x8bnh"} 1.0\n'

    async def render() -> MetricsBody:
        return MetricsBody(gzip.compress(text))

    app = FastAPI()
    app.include_router(health_router(None))  # type: ignore[arg-type] - no AsyncAPI route used
    app.state.runtime = SimpleNamespace(metrics=MetricsRefresher(render))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cdt") as http:
            zipped = await http.get("/metrics", headers={"Accept-Encoding": "gzip"})
            assert zipped.headers["content-encoding"] == "gzip"
            assert zipped.content == text  # httpx decodes it, as Prometheus does
            plain = await http.get("/metrics", headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in plain.headers
            assert plain.content == text
            assert plain.headers["content-type"].startswith("text/plain")
    finally:
        await app.state.runtime.metrics.close()
