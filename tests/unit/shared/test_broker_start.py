"""Starting the subscribers: a consumer group join that never completes is said in the log
(and stopping the service meanwhile cancels it); a completed one marks the broker started."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from shared.service import _start_broker


class Broker:
    def __init__(self, joined: asyncio.Event) -> None:
        self.joined = joined
        self.cancelled = False

    async def start(self) -> None:
        try:
            await self.joined.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def runtime(broker: Broker) -> SimpleNamespace:
    return SimpleNamespace(broker=broker, broker_started=False, service="reporting",
                           settings=SimpleNamespace(kafka_bootstrap="127.0.0.1:9092"))


async def test_a_join_that_takes_long_is_logged_until_it_completes(caplog) -> None:
    joined = asyncio.Event()
    rt = runtime(Broker(joined))
    with caplog.at_level(logging.WARNING, logger="shared.service"):
        task = asyncio.create_task(_start_broker(rt, warn_every=0.05))  # type: ignore[arg-type]
        await asyncio.sleep(0.13)
        assert not rt.broker_started
        joined.set()
        await asyncio.wait_for(task, 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith("reporting: consumer groups not joined after 0 s")
    assert "127.0.0.1:9092" in warnings[0]
    assert rt.broker_started


async def test_stopping_while_joining_cancels_the_join() -> None:
    broker = Broker(asyncio.Event())
    rt = runtime(broker)
    task = asyncio.create_task(_start_broker(rt, warn_every=10))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert broker.cancelled and not rt.broker_started
