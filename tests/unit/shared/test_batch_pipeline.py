"""The consumer's pipeline: batch N's transaction runs while N+1 is fetched, and each batch
commits its own records' offsets, in order; a batch handed back takes the next one with it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.messaging import BatchConsumer


class FakeConsumer(AIOKafkaConsumer):
    """Records commits and seeks; nothing connects."""

    def __init__(self, fail_commit: bool = False) -> None:  # noqa: D107 - no super(): no client
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.fail_commit = fail_commit

    async def commit(self, offsets=None) -> None:  # type: ignore[override]
        from aiokafka.errors import CommitFailedError
        if self.fail_commit:
            raise CommitFailedError("rebalanced")
        self.commits.append(dict(offsets))

    def seek(self, partition, offset) -> None:  # type: ignore[override]
        self.seeks.append((partition, offset))

    def __del__(self) -> None:  # AIOKafkaConsumer's warns about an unclosed client
        pass


def message(consumer: FakeConsumer, *records: tuple[int, int]) -> SimpleNamespace:
    """A batch of (partition, offset) records of topic t."""
    raw = tuple(SimpleNamespace(topic="t", partition=p, offset=o) for p, o in records)
    return SimpleNamespace(raw_message=raw, consumer=consumer, rejections=[], origin={})


class Recording(BatchConsumer):
    """The transaction replaced: it records the batch, waits for a gate, or fails on ask."""

    def __init__(self, **kwargs) -> None:
        super().__init__(service="test", pool=None, dead_letters=None,  # type: ignore[arg-type]
                         apply=None, **kwargs)  # type: ignore[arg-type]
        self.applied: list[list[str]] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.bugs: set[str] = set()

    async def _transaction(self, events, prepared, rejected_reasons) -> None:
        name = events[0]
        if name in self.gates:
            await self.gates[name].wait()
        if name in self.bugs:
            raise RuntimeError("a bug")
        self.applied.append(events)


def tp(partition: int) -> TopicPartition:
    return TopicPartition("t", partition)


async def test_the_next_batch_is_taken_while_the_previous_transaction_runs() -> None:
    consumer = FakeConsumer()
    committed: list[int] = []
    batches = Recording(on_committed=lambda: committed.append(len(consumer.commits)))
    batches.gates["a"] = asyncio.Event()
    await asyncio.wait_for(batches.consume(["a"], message(consumer, (0, 5), (1, 7), (0, 6))), 1)
    assert batches.applied == [] and consumer.commits == []  # handed back before its commit
    second = asyncio.create_task(batches.consume(["b"], message(consumer, (0, 7), (2, 3))))
    await asyncio.sleep(0.05)
    assert not second.done(), "the next batch waits for the previous transaction"
    batches.gates["a"].set()
    await asyncio.wait_for(second, 1)
    await batches.drain()
    assert batches.applied == [["a"], ["b"]]
    # Each batch commits past its own last record per partition, not the consumer's position.
    assert consumer.commits == [{tp(0): 7, tp(1): 8}, {tp(0): 8, tp(2): 4}]
    assert committed == [1, 2]


async def test_a_failed_batch_is_rewound_and_the_batch_fetched_meanwhile_with_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio, "sleep", _no_sleep)
    consumer = FakeConsumer()
    batches = Recording()
    batches.bugs.add("a")
    await batches.consume(["a"], message(consumer, (0, 10), (1, 20), (0, 11)))
    # Fetched before the rewind: partition 0 continues past "a", partition 2 is new.
    await batches.consume(["b"], message(consumer, (0, 12), (2, 30)))
    assert batches.applied == [] and consumer.commits == []
    # "a" rewound its partitions to its first records; "b" adds only partition 2 (rewinding
    # partition 0 to 12 would skip "a"'s records).
    assert consumer.seeks == [(tp(0), 10), (tp(1), 20), (tp(2), 30)]
    batches.bugs.clear()
    await batches.consume(["a"], message(consumer, (0, 10), (1, 20), (0, 11)))
    await batches.drain()
    assert batches.applied == [["a"]]
    assert consumer.commits == [{tp(0): 12, tp(1): 21}]


async def test_a_refused_offset_commit_is_logged_and_consumption_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    consumer = FakeConsumer(fail_commit=True)
    batches = Recording()
    await batches.consume(["a"], message(consumer, (0, 1)))
    await batches.consume(["b"], message(consumer, (0, 2)))
    await batches.drain()
    assert batches.applied == [["a"], ["b"]]
    assert "offsets not committed (CommitFailedError)" in caplog.text


async def test_while_draining_a_batch_is_applied_before_its_handler_returns() -> None:
    consumer = FakeConsumer()
    batches = Recording()
    batches.gates["a"] = asyncio.Event()
    await batches.consume(["a"], message(consumer, (0, 1)))
    drained = asyncio.create_task(batches.drain())
    await asyncio.sleep(0.05)
    assert not drained.done(), "drain waits for the batch in flight"
    batches.gates["a"].set()
    await asyncio.wait_for(drained, 1)
    assert consumer.commits == [{tp(0): 2}]
    await batches.consume(["b"], message(consumer, (0, 2)))
    assert batches.applied == [["a"], ["b"]] and consumer.commits[-1] == {tp(0): 3}


_real_sleep = asyncio.sleep


async def _no_sleep(delay: float, *args) -> None:
    await _real_sleep(0)
