"""A rebuild emits no alert the events do not call for: none is decided from the partial read
models while it runs, and it ends only once every consumed topic has been read to its end.

Each test compares the alerts in the outbox with those of a reference run that applied the same
events once, without a rebuild: same alerts (same event ids), same figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import asyncpg
import pytest
from reporting_harness import apply_batch, apply_stream, fake_runtime, read_models, reset, tick

from services.reporting import alerts, rebuild, sessions
from services.reporting.app import SPEC
from services.reporting.report import build_report
from shared.events import roster as roster_events
from tests.integration.reporting.simulation import TZ, data_time, simulate_week

MONDAY = date(2025, 9, 22)
WARD = "tam-ky"
WEEK = simulate_week(WARD, MONDAY, seed=4, days=2, dossiers_per_day=8, assists_per_shift=2,
                     extra_day=False)
MONDAY_ASSIST = [e for e in WEEK.assist if data_time(e).astimezone(TZ).date() == MONDAY]
TUESDAY_FIRST = next(e for e in WEEK.assist if data_time(e).astimezone(TZ).date() > MONDAY)
# Tuesday, half past midnight: Monday has ended (by the wall clock, and by the data clock once
# Tuesday's first event is in); Tuesday's sessions are still to come.
NOW = datetime.combine(MONDAY + timedelta(days=1), datetime.min.time(), TZ) + timedelta(minutes=30)
APPLIES = SPEC.consumes


@pytest.fixture
async def pool(db_url: str):
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


def runtime_of(clock: str, pool: asyncpg.Pool, now: datetime = NOW) -> SimpleNamespace:
    runtime = fake_runtime(clock, now)
    runtime.pool = pool
    return runtime


async def emitted(conn: asyncpg.Connection) -> dict[str, tuple[str, dict]]:
    """event id -> (type, data), the moment of detection left out (it is when, not what)."""
    rows = await conn.fetch("SELECT event_id, event_type, value FROM outbox ORDER BY id")
    found: dict[str, tuple[str, dict]] = {}
    for r in rows:
        assert r["event_id"] not in found, f"{r['event_type']} emitted twice"
        data = json.loads(r["value"])
        data.pop("detected_at", None)
        found[r["event_id"]] = (r["event_type"], data)
    return found


def described(alerts_: dict[str, tuple[str, dict]]) -> list[str]:
    return sorted(f"{kind.split('.', 3)[-1]} {data.get('shift_id') or data['date']}"
                  for kind, data in alerts_.values())


async def reference(conn: asyncpg.Connection, runtime, stream) -> dict[str, tuple[str, dict]]:
    """The alerts of the events applied once, in order, with the clock job ticking after."""
    await reset(conn)
    await apply_stream(runtime, conn, stream, [len(WEEK.roster)])
    await tick(runtime, runtime.db_url)
    await tick(runtime, runtime.db_url)
    found = await emitted(conn)
    await reset(conn)
    return found


@pytest.mark.parametrize("clock", ["wall", "watermark"])
async def test_a_day_is_never_summarised_from_the_read_models_a_rebuild_is_refilling(
        conn, pool, db_url, monkeypatch, clock) -> None:
    """The clock job's pass and a rebuild's start race: the rebuild empties the read models and
    replays part of Monday while Tuesday's first event arrives live, just before the clock job
    summarises the days that ended. Monday's summary must wait for the whole of Monday."""
    runtime = runtime_of(clock, pool)
    runtime.db_url = db_url
    want = await reference(conn, runtime, [*WEEK.roster, *MONDAY_ASSIST, TUESDAY_FIRST])
    assert f"ward.daily_summary.v1 {MONDAY.isoformat()}" in described(want)

    # the service has applied Monday; the clock job has not summarised it yet
    await apply_stream(runtime, conn, [*WEEK.roster, *MONDAY_ASSIST], [len(WEEK.roster)])
    half = len(MONDAY_ASSIST) // 2
    original = alerts.summarize_ended_days
    raced = []

    async def rebuild_starts_first(runtime_, pool_, limit: int = 500) -> int:
        if not raced:  # once: the operator's `cdt reporting rebuild` lands right here
            raced.append(True)
            async with pool_.acquire() as other:
                await rebuild.start(other)
                await apply_batch(runtime_, other, WEEK.roster)           # the rebuild's reader
                await apply_batch(runtime_, other, MONDAY_ASSIST[:half])
                await apply_batch(runtime_, other, [TUESDAY_FIRST])       # the live consumer
        return await original(runtime_, pool_, limit)

    monkeypatch.setattr(alerts, "summarize_ended_days", rebuild_starts_first)
    await alerts.tick(runtime, pool)
    assert raced
    monkeypatch.setattr(alerts, "summarize_ended_days", original)
    during = await emitted(conn)
    assert set(during) <= set(want), f"alerts no event calls for: {described(during)}"
    for event_id, alert in during.items():
        assert alert == want[event_id], "an alert with the figures of half-filled read models"

    # the rebuild reads the rest of Monday and ends; then the clock job goes on
    await apply_batch(runtime, conn, MONDAY_ASSIST[half:])
    await rebuild.Rebuilder(runtime, APPLIES)._finish(
        await conn.fetchval("SELECT generation FROM rp_rebuild"))
    await alerts.tick(runtime, pool)
    await alerts.tick(runtime, pool)
    got = await emitted(conn)
    assert got == want, (described(got), described(want))
    summary = next(data for kind, data in got.values() if kind.endswith("daily_summary.v1"))
    report = await build_report(conn, WARD, target=0.8, start=MONDAY, end=MONDAY)
    assert summary["dossiers_total"] == report["online"]["dossiers"]
    assert summary["assists"] == report["assists"]["total"]


class FakeRecord:
    def __init__(self, event) -> None:
        self.key, self.value, self.headers = event.to_kafka()


class FakeConsumer:
    """The rebuild's group-less reader over in-memory topics (one partition each); a topic whose
    metadata the client does not have yet has no partitions, as aiokafka says (None)."""

    topics_data: dict[str, list[FakeRecord]] = {}
    unknown: set[str] = set()

    def __init__(self, **_: object) -> None:
        self.at: dict = {}
        self.seen: set = set()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def topics(self) -> set[str]:
        return set(self.topics_data)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return None if topic in self.unknown or topic not in self.topics_data else {0}

    def assign(self, tps) -> None:
        self.at = dict.fromkeys(tps, 0)

    async def beginning_offsets(self, tps) -> dict:
        return dict.fromkeys(tps, 0)

    def seek(self, tp, offset: int) -> None:
        self.at[tp] = offset

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        batch = {}
        for tp in self.at:
            self.seen.add(tp)
            records = self.topics_data[tp.topic][self.at[tp]:self.at[tp] + 25]
            if records:
                batch[tp] = records
                self.at[tp] += len(records)
        return batch

    def highwater(self, tp) -> int | None:
        return len(self.topics_data[tp.topic]) if tp in self.seen else None

    async def position(self, tp) -> int:
        return self.at[tp]


@pytest.mark.parametrize("clock", ["wall", "watermark"])
async def test_a_rebuild_ends_only_after_reading_every_consumed_topic(
        conn, pool, db_url, monkeypatch, clock) -> None:
    """The assist topic's metadata is missing when the rebuild starts reading. Replaying the
    roster alone leaves every session without its check-ins, past its grace by the wall clock,
    or by the data clock once the group consumer has (re)applied one check-in: the end-of-rebuild
    sweep would call staffed sessions understaffed. The rebuild must wait for the topic."""
    during_the_week = datetime.combine(MONDAY, datetime.min.time(), TZ)
    runtime = runtime_of(clock, pool, during_the_week)
    runtime.db_url = db_url
    events = [*WEEK.roster, *WEEK.assist]
    # the week as it happened: the events while it ran, the clock job after it
    await apply_stream(runtime, conn, events, [len(WEEK.roster)])
    runtime.clock = lambda: datetime.combine(MONDAY + timedelta(days=3), datetime.min.time(), TZ)
    await tick(runtime, db_url)
    await tick(runtime, db_url)
    before, want = await read_models(conn), await emitted(conn)
    understaffed = [k for k in described(want) if k.startswith("shift.understaffed")]
    assert understaffed and len(understaffed) < 3  # some sessions were staffed

    FakeConsumer.topics_data = {
        roster_events.TOPIC: [FakeRecord(e) for e in WEEK.roster],
        "cdt.assist.events": [FakeRecord(e) for e in WEEK.assist],
    }
    FakeConsumer.unknown = {"cdt.assist.events"}
    monkeypatch.setattr(rebuild, "AIOKafkaConsumer", FakeConsumer)
    rebuilder = rebuild.Rebuilder(runtime, APPLIES)
    await rebuild.start(conn)
    await apply_batch(runtime, conn, [WEEK.assist[-1]])  # the group consumer, after a rebalance
    with contextlib.suppress(Exception):  # run_forever logs it and tries again 2 s later
        await rebuilder.run_pending()
    await alerts.tick(runtime, pool)
    assert described(await emitted(conn)) == described(want), "alerts from the roster alone"
    assert (await conn.fetchrow(rebuild.READ))["state"] == "running"

    FakeConsumer.unknown = set()  # the metadata is there on the next attempt
    await rebuilder.run_pending()
    assert (await conn.fetchrow(rebuild.READ))["state"] == "done"
    await alerts.tick(runtime, pool)
    await alerts.tick(runtime, pool)
    assert await read_models(conn) == before
    got = await emitted(conn)
    assert got == want, (described(got), described(want))


async def test_deciding_alerts_and_starting_a_rebuild_exclude_each_other(conn, pool) -> None:
    """A transaction that decides alerts holds a rebuild's start off until it ends; one that
    begins while a start is under way waits for it and then sees the rebuild running."""
    async with pool.acquire() as deciding, deciding.transaction():
        assert await sessions.alerts_open(deciding)
        starting = asyncio.ensure_future(rebuild.start(conn))
        await asyncio.sleep(0.3)
        assert not starting.done(), "a rebuild emptied the read models under an alert decision"
    await asyncio.wait_for(starting, 5)
    await conn.execute("UPDATE rp_rebuild SET state = 'done'")

    async with pool.acquire() as starter, pool.acquire() as deciding:
        starting = starter.transaction()
        await starting.start()
        await starter.execute("SELECT pg_advisory_xact_lock($1)", sessions.ALERTS_GATE)
        await starter.fetchval(rebuild.START)  # a start under way, not committed yet
        decision = deciding.transaction()
        await decision.start()
        opened = asyncio.ensure_future(sessions.alerts_open(deciding))
        await asyncio.sleep(0.3)
        assert not opened.done(), "an alert decision went ahead of a rebuild's start"
        await starting.commit()
        assert await asyncio.wait_for(opened, 5) is False
        await decision.rollback()
