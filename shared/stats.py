"""Event counters and lag kept in each service's database, so restarts never reset them."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.events import Event

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
               float("inf"))

# A batch's counters and lag buckets in one statement: one round trip in the batch's transaction.
# Every batch locks its rows in the same order (the buckets by bound, the counts sorted), so two
# replicas' batches wait for each other rather than deadlock.
UPSERT_STATS = """
WITH counts AS (
    INSERT INTO event_counts (kind, label, count)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
    ON CONFLICT (kind, label) DO UPDATE SET count = event_counts.count + EXCLUDED.count
)
INSERT INTO event_lag (le, count, sum)
SELECT * FROM unnest($4::float8[], $5::bigint[], $6::float8[])
ON CONFLICT (le) DO UPDATE SET count = event_lag.count + EXCLUDED.count,
                               sum = event_lag.sum + EXCLUDED.sum
"""
READ_COUNTS = "SELECT kind, label, count FROM event_counts"
READ_LAG = "SELECT le, count, sum FROM event_lag ORDER BY le"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BOUNDS_US = [round(le * 1_000_000) for le in LAG_BUCKETS[:-1]]  # exact: whole microseconds


def lag_histogram(times: Sequence[datetime], now: datetime) -> tuple[list[int], float]:
    """Per LAG_BUCKETS bound, how many events first fit under it (lag = now - event time, a
    negative one counted as 0), and the lags' sum in seconds.

    One sort and a bisection per bound instead of arithmetic per event: lag <= le is
    time >= now - le. The times are compared as integer microseconds since the epoch (exact,
    like datetimes): decoded times each carry a tzinfo object of their own, so sorting the
    datetimes themselves asks both of every compared pair for their UTC offset (3.5 us per
    event against 0.6 us, 1,000 times of a batch)."""
    stamps = sorted([(t - _EPOCH) // _MICROSECOND for t in times])
    now_us = (now - _EPOCH) // _MICROSECOND
    n = len(stamps)
    buckets = []
    below = 0  # events with a lag under the previous bound
    for le in _BOUNDS_US:
        within = n - bisect_left(stamps, now_us - le)
        buckets.append(within - below)
        below = within
    buckets.append(n - below)
    past = stamps[:bisect_right(stamps, now_us)]
    return buckets, (now_us * len(past) - sum(past)) / 1_000_000


async def count_events(conn: asyncpg.Connection, applied: Sequence[Event],
                       rejected_reasons: Sequence[str]) -> None:
    """Count a batch's applied events (by type, with their lag) and rejections (by reason)."""
    types = Counter(e.type for e in applied)
    counts = Counter({("processed", kind): n for kind, n in types.items()})
    counts.update(("rejected", reason) for reason in rejected_reasons)
    if not counts:
        return
    keys = sorted(counts)
    bounds: list[float] = []
    buckets: list[int] = []
    sums: list[float] = []
    if applied:
        # non-cumulative here; summed when exported
        buckets, total = lag_histogram([e.time for e in applied], datetime.now(UTC))
        bounds = list(LAG_BUCKETS)
        sums = [0.0] * len(LAG_BUCKETS)
        sums[-1] = total
    await conn.execute(UPSERT_STATS, [k for k, _ in keys], [label for _, label in keys],
                       [counts[k] for k in keys], bounds, buckets, sums)
