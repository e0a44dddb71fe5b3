"""The lag histogram of a batch equals the per-event rule: the first bound >= lag."""

from __future__ import annotations

import random
from bisect import bisect_left
from datetime import UTC, datetime, timedelta, timezone

from pydantic import TypeAdapter

from shared.stats import LAG_BUCKETS, lag_histogram


def per_event(times: list[datetime], now: datetime) -> tuple[list[int], float]:
    buckets = [0] * len(LAG_BUCKETS)
    total = 0.0
    for t in times:
        lag = max((now - t).total_seconds(), 0.0)
        total += lag
        buckets[bisect_left(LAG_BUCKETS, lag)] += 1
    return buckets, total


def test_the_histogram_equals_the_per_event_rule_on_bounds_and_future_times() -> None:
    now = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
    rng = random.Random(7)
    times = [now - timedelta(seconds=le) for le in LAG_BUCKETS[:-1]]  # exactly on each bound
    times += [now - timedelta(microseconds=rng.randrange(-10**6, 10**10)) for _ in range(2000)]
    times += [now, now + timedelta(hours=1)]  # no lag, and a clock ahead of ours
    buckets, total = lag_histogram(times, now)
    expected_buckets, expected_total = per_event(times, now)
    assert buckets == expected_buckets
    assert abs(total - expected_total) < 1e-6 * expected_total
    assert sum(buckets) == len(times)


def test_times_in_other_offsets_and_as_decoded_count_the_same() -> None:
    now = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
    hanoi = timezone(timedelta(hours=7))
    decode = TypeAdapter(datetime).validate_python  # pydantic's own tzinfo per value
    times = [(now - timedelta(seconds=le)).astimezone(hanoi) for le in LAG_BUCKETS[:-1]]
    times += [decode((now - timedelta(seconds=s, microseconds=7)).isoformat())
              for s in (0, 1, 60, 7200)]
    buckets, total = lag_histogram(times, now)
    expected_buckets, expected_total = per_event(times, now)
    assert buckets == expected_buckets and buckets[0] == 2  # 0.05 s and 7 us
    assert abs(total - expected_total) < 1e-6


def test_an_empty_batch_has_empty_buckets() -> None:
    assert lag_histogram([], datetime.now(UTC)) == ([0] * len(LAG_BUCKETS), 0.0)
