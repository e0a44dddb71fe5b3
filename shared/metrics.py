"""Delivery metrics read from a service's own database (restarts never reset them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from shared.stats import READ_COUNTS, READ_LAG


@dataclass
class DeliveryStats:
    processed: dict[str, int] = field(default_factory=dict)  # event type -> count
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count
    lag_buckets: list[tuple[float, int]] = field(default_factory=list)  # (le, non-cumulative)
    lag_sum: float = 0.0


async def read_delivery_stats(conn: asyncpg.Connection) -> DeliveryStats:
    stats = DeliveryStats()
    for row in await conn.fetch(READ_COUNTS):
        target = stats.processed if row["kind"] == "processed" else stats.rejected
        target[row["label"]] = row["count"]
    for row in await conn.fetch(READ_LAG):
        stats.lag_buckets.append((row["le"], row["count"]))
        stats.lag_sum += row["sum"]
    return stats


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class DeliveryCollector(Collector):
    """cdt_events_processed_total, cdt_events_rejected_total, cdt_event_lag_seconds."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.snapshot = DeliveryStats()

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        snap = self.snapshot
        processed = CounterMetricFamily("cdt_events_processed", "Events applied",
                                        labels=["service", "type"])
        for event_type, count in sorted(snap.processed.items()):
            processed.add_metric([self.service, event_type], count)
        yield processed
        rejected = CounterMetricFamily(
            "cdt_events_rejected", "Events sent to the dead-letter topic",
            labels=["service", "reason"])
        for reason, count in sorted(snap.rejected.items()):
            rejected.add_metric([self.service, reason], count)
        yield rejected
        lag = HistogramMetricFamily("cdt_event_lag_seconds", "Event time to applied",
                                    labels=["service"])
        cumulative, buckets = 0, []
        for bound, count in snap.lag_buckets:
            cumulative += count
            buckets.append((_le(bound), cumulative))
        if not buckets or buckets[-1][0] != "+Inf":
            buckets.append(("+Inf", cumulative))
        lag.add_metric([self.service], buckets, snap.lag_sum)
        yield lag
