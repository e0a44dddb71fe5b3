"""2. Outbox relay: committed outbox rows to broker acks, against raw batched produce.

The assist service's relay, the one with the volume (every dossier, assist and check-in passes
through it); its outbox holds the events it writes, on `cdt.assist.events`, a topic the assist
service does not consume itself."""

from __future__ import annotations

import time

import asyncpg

from cdt.demo import national
from services.assist.app import SPEC as ASSIST
from shared import db, outbox
from shared.events import Event, assist
from shared.messaging import ensure_topics
from tests.bench import raw
from tests.bench.conftest import CAMPAIGN, scaled
from tests.bench.harness import RssSampler, poll_until, wait_for_database

SENT_SPAN = """
SELECT count(*) FILTER (WHERE sent_at < (SELECT max(sent_at) FROM outbox)) AS before_last,
       extract(epoch FROM max(sent_at) - min(sent_at)) AS span FROM outbox
"""


def province_events(wards: list[national.WardProfile], n: int) -> list[Event]:
    """n events as the assist service writes them: the wards' days, ward after ward."""
    events: list[Event] = []
    for ward in wards:
        plan = national.plan_campaign(ward, *CAMPAIGN)
        for day in national.campaign(ward, national.planned_shifts(plan)):
            events += national.day_events(ward, day)
            if len(events) >= n:
                return events[:n]
    return events[:n]


async def test_outbox_relay(make_infra, services, country, results: dict) -> None:
    n = scaled(200_000, 5_000)
    infra, broker = make_infra("outbox")
    events = province_events(country[:60], n)
    records = [national.record(e) for e in events]
    url = db.service_database_url(infra.database_url, "assist")
    await db.prepare_database(url, ASSIST.migrations)
    conn = await asyncpg.connect(url)
    try:
        began = time.monotonic()
        async with conn.transaction():  # one commit: every row is ready when the relay starts
            for start in range(0, n, 5000):
                await outbox.add(conn, assist.TOPIC, events[start:start + 5000])
        insert_seconds = time.monotonic() - began
    finally:
        await conn.close()
    await ensure_topics(infra.bootstrap, [assist.TOPIC], partitions=4)
    base_before = await raw.produce(infra.bootstrap, records)

    running = services(infra)
    service = running.start("assist", wait=False)
    sampler = RssSampler()
    sampler.watch("assist", service.proc.pid)
    conn = await wait_for_database(url)
    try:
        async def sent() -> int:
            return n - await outbox.unsent_count(conn)

        def seen(_: float, count: int) -> None:
            sampler.events = count

        with sampler:
            # Counting unsent rows scans the outbox's index: poll it seldom, so that the
            # measurement does not take the CPU from the relay; the rate comes from sent_at.
            progress = await poll_until(sent, n, limit=600, every=0.5, on_sample=seen)
        row = await conn.fetchrow(SENT_SPAN)
    finally:
        await conn.close()
    running.stop_all()
    base_after = await raw.produce(infra.bootstrap, records)
    broker.stop()
    baseline = n / ((base_before + base_after) / 2)
    by_batches = row["before_last"] / float(row["span"]) if row["span"] else float("nan")
    figures = {"events": n, "insert_seconds": insert_seconds, "service": progress.rate(n),
               "service_by_sent_at": by_batches, "service_seconds": progress.seconds(n),
               "baseline": baseline, "baseline_before": n / base_before,
               "baseline_after": n / base_after}
    results["outbox"] = figures
    results["memory"]["outbox relay"] = sampler.summary()
    print(f"\noutbox relay: {progress.rate(n):,.0f}/s (by sent_at {by_batches:,.0f}/s), raw batched "
          f"produce {baseline:,.0f}/s, ratio {progress.rate(n) / baseline:.0%}")
