"""The cdt_* business metrics of CONTRACT.md, from a database snapshot refreshed at most every few seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from services.reporting import domain
from services.reporting.figures import Snapshot, read_totals


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def build_families(snapshot: Snapshot, target_for: Callable[[str], float]) -> list[Any]:
    """The metric families of a snapshot; labels are ward, channel, field, venue, outcome, status."""
    dossiers = CounterMetricFamily("cdt_dossiers", "Dossiers received",
                                   labels=["ward", "channel", "field"])
    online = GaugeMetricFamily("cdt_online_dossier_ratio",
                               "Online / all dossiers received, over the campaign", labels=["ward"])
    fully = GaugeMetricFamily("cdt_fully_online_dossier_ratio",
                              "Fully-online dossiers / dossiers of procedures eligible for it",
                              labels=["ward"])
    target = GaugeMetricFamily("cdt_online_dossier_target_ratio", "Target share of online dossiers",
                               labels=["ward"])
    assists = CounterMetricFamily("cdt_assists", "Citizens helped", labels=["ward", "venue", "outcome"])
    duration = HistogramMetricFamily("cdt_assist_duration_seconds", "Time per assist",
                                     labels=["ward"])
    shifts = CounterMetricFamily("cdt_shifts", "Sessions by status", labels=["ward", "status"])
    seconds = CounterMetricFamily("cdt_volunteer_seconds", "Checked-in volunteer time",
                                  labels=["ward"])
    satisfaction = GaugeMetricFamily("cdt_citizen_satisfaction_ratio",
                                     "Share of rated assists rated 4 or 5", labels=["ward"])
    for ward, w in snapshot.wards.items():
        for (channel, field), n in sorted(w.dossiers.items()):
            dossiers.add_metric([ward, channel, field], n)
        if w.online_ratio is not None:
            online.add_metric([ward], w.online_ratio)
        if w.fully_online_ratio is not None:
            fully.add_metric([ward], w.fully_online_ratio)
        target.add_metric([ward], target_for(ward))
        for (venue, outcome), n in sorted(w.assists.items()):
            assists.add_metric([ward, venue, outcome], n)
        if w.durations:
            counts = dict(w.durations)
            cumulative, buckets = 0, []
            for bound in domain.DURATION_BUCKETS:
                cumulative += counts.get(bound, 0)
                buckets.append((_le(bound), cumulative))
            duration.add_metric([ward], buckets, w.duration_ms / 1000)
        for status in domain.SHIFT_STATUSES:
            shifts.add_metric([ward, status], w.shifts[status])
        seconds.add_metric([ward], w.volunteer_hours * 3600)
        if w.satisfaction_ratio is not None:
            satisfaction.add_metric([ward], w.satisfaction_ratio)
    return [dossiers, online, fully, target, assists, duration, shifts, seconds, satisfaction]


class ReportingCollector(Collector):
    """Yields the families built at the last refresh: a scrape never touches the database."""

    def __init__(self) -> None:
        self.families: list[Any] = build_families(Snapshot(), lambda ward: 0.8)

    def collect(self) -> Iterator[Any]:
        yield from self.families


def render(snapshot: Snapshot, target_for: Callable[[str], float]) -> str:
    """The /metrics text of the business metrics alone (for tests and tools)."""
    collector = ReportingCollector()
    collector.families = build_families(snapshot, target_for)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


def install(runtime: Any) -> ReportingCollector:
    """The ServiceSpec metrics hook: register the collector and its refresher."""
    collector = ReportingCollector()
    runtime.registry.register(collector)

    async def refresh() -> None:
        async with runtime.pool.acquire() as conn:
            snapshot = await read_totals(conn)
        # Off the event loop like the rendering: with 3,321 wards, building the families takes
        # about as long as rendering them, and reports waited for it.
        collector.families = await asyncio.to_thread(build_families, snapshot,
                                                     runtime.settings.target_for)

    runtime.refreshers.append(refresh)
    return collector
