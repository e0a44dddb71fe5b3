"""3. Intake to metric: dossiers published on cdt.intake.dossiers at steady rates doubling from
200/s, then at 200/s again, seen in reporting's read model (polled in its database) and in its
/metrics (what a scraper sees)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer

from cdt.demo import national
from shared import db
from shared.events import assist, intake, roster
from shared.messaging import ensure_topics
from tests.bench.conftest import SCALE
from tests.bench.harness import RssSampler, connected, percentile, wait_for_table

WARDS = 20
TOTALS = "SELECT ward_id, sum(dossiers)::bigint AS n FROM rp_dossier_totals GROUP BY ward_id"
FIRST_SECONDS = max(5.0, 30 * SCALE)  # at 200/s
STEP_SECONDS = max(5.0, 15 * SCALE)  # each higher rate
RATES = (200, 400, 800, 1600, 3200, 6400)
# RSS follows the rate (bigger batches, and Python's allocator keeps the arenas it filled): the
# memory figure that tells a leak is the growth during a closing stage at the first rate, after
# the higher ones; RSS at the end of the first stage is kept to show what they left behind.
OPENING = f"end of the first {RATES[0]}/s stage"
CLOSING = (f"start of a closing {RATES[0]}/s stage after the higher rates", "its end")


class Observer:
    """When each dossier (ward, n-th of the ward) became visible, from counts per ward."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = defaultdict(int)
        self.at: dict[tuple[str, int], float] = {}

    def update(self, counts: dict[str, int], now: float) -> None:
        for ward, count in counts.items():
            for i in range(self.seen[ward] + 1, count + 1):
                self.at[(ward, i)] = now
            self.seen[ward] = max(self.seen[ward], count)


def metric_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for line in text.splitlines():
        if line.startswith("cdt_dossiers_total{"):
            labels, value = line.rsplit(" ", 1)
            ward = labels.split('ward="', 1)[1].split('"', 1)[0]
            counts[ward] += int(float(value))
    return counts


async def watch_read_model(url: str, observer: Observer, stop: asyncio.Event) -> None:
    async with connected(url) as conn:
        await wait_for_table(conn, "rp_dossier_totals")
        while not stop.is_set():
            rows = await conn.fetch(TOTALS)
            observer.update({r["ward_id"]: r["n"] for r in rows}, time.monotonic())
            await asyncio.sleep(0.05)


async def watch_metrics(base: str, observer: Observer, stop: asyncio.Event,
                        scrapes: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        while not stop.is_set():
            began = time.monotonic()
            response = await http.get("/metrics")
            scrapes.append(time.monotonic() - began)
            observer.update(metric_counts(response.text), time.monotonic())
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - began)))


async def publish(bootstrap: str, rate: int, seconds: float, wards: list[str],
                  published: dict[tuple[str, int], float], sequence: dict[str, int]) -> None:
    """`rate` dossiers a second for `seconds`, round-robin over the wards, each stamped with the
    moment it was handed to the producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                enable_idempotence=False)
    await producer.start()
    rng = random.Random(rate)
    try:
        total = int(rate * seconds)
        began = time.monotonic()
        futures = []
        for i in range(total):
            due = began + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ward = wards[i % len(wards)]
            sequence[ward] += 1
            number = sequence[ward]
            event = national.intake_event(ward, number, datetime.now(UTC), rng)
            key, value, headers = event.to_kafka()
            published[(ward, number)] = time.monotonic()
            futures.append(await producer.send(intake.TOPIC, value, key=key, headers=headers))
            if len(futures) >= 500:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def latencies(published: dict, observer: Observer, keys: list) -> list[float]:
    return [observer.at[k] - published[k] for k in keys if k in observer.at]


async def test_intake_to_metric_latency(make_infra, services, country, results: dict) -> None:
    infra, broker = make_infra("latency")
    await ensure_topics(infra.bootstrap, [intake.TOPIC, assist.TOPIC, roster.TOPIC], partitions=4)
    running = services(infra)
    assist_service = running.start("assist")
    reporting = running.start("reporting")
    sampler = RssSampler()
    sampler.watch("assist", assist_service.proc.pid)
    sampler.watch("reporting", reporting.proc.pid)
    wards = [w.ward_id for w in country[:WARDS]]
    read_model, metrics = Observer(), Observer()
    published: dict[tuple[str, int], float] = {}
    sequence: dict[str, int] = defaultdict(int)
    scrapes: list[float] = []
    stop = asyncio.Event()
    watchers = [asyncio.create_task(watch_read_model(db.service_database_url(
                    infra.database_url, "reporting"), read_model, stop)),
                asyncio.create_task(watch_metrics(reporting.url, metrics, stop, scrapes))]
    stages = []

    async def stage(rate: int, seconds: float) -> dict:
        before = set(published)
        began = time.monotonic()
        await publish(infra.bootstrap, rate, seconds, wards, published, sequence)
        achieved = (len(published) - len(before)) / (time.monotonic() - began)
        keys = [k for k in published if k not in before]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                k in read_model.at and k in metrics.at for k in keys):
            await asyncio.sleep(0.2)
        sampler.events = len(published)
        rm = latencies(published, read_model, keys)
        mx = latencies(published, metrics, keys)
        figures = {"rate": rate, "achieved": achieved, "dossiers": len(keys),
                   "missing_read_model": len(keys) - len(rm),
                   "missing_metrics": len(keys) - len(mx),
                   "read_model": {f"p{q}": percentile(rm, q) for q in (50, 95, 99)},
                   "metrics": {f"p{q}": percentile(mx, q) for q in (50, 95, 99)}}
        rm_q, mx_q = figures["read_model"], figures["metrics"]
        print(f"\n{rate}/s (achieved {achieved:.0f}/s): read model p50/p95/p99 "
              f"{rm_q['p50']:.3f}/{rm_q['p95']:.3f}/{rm_q['p99']:.3f} s; /metrics "
              f"{mx_q['p50']:.3f}/{mx_q['p95']:.3f}/{mx_q['p99']:.3f} s")
        return figures

    try:
        with sampler:
            for index, rate in enumerate(RATES):
                stages.append(await stage(rate, FIRST_SECONDS if index == 0 else STEP_SECONDS))
                if index == 0:
                    sampler.mark(OPENING)
                if stages[-1]["missing_read_model"] or stages[-1]["read_model"]["p99"] >= 1.0:
                    break
            sampler.mark(CLOSING[0])
            closing = await stage(RATES[0], FIRST_SECONDS)
            sampler.mark(CLOSING[1])
    finally:
        stop.set()
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        running.stop_all()
        broker.stop()
    held = [s["rate"] for s in stages
            if not s["missing_read_model"] and s["read_model"]["p99"] < 1.0]
    held_metrics = [s["rate"] for s in stages
                    if not s["missing_metrics"] and s["metrics"]["p99"] < 1.0]
    results["latency"] = {"stages": stages, "highest_read_model": max(held, default=None),
                          "highest_metrics": max(held_metrics, default=None),
                          "closing": closing, "wards": WARDS,
                          "scrape_p99": percentile(scrapes, 99)}
    results["memory"]["intake to metric"] = sampler.summary(growth=CLOSING)
