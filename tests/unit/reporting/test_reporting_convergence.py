"""The same events in any order, split and redelivered anyhow, give the same read models and /metrics."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reporting_harness import apply_stream, fake_runtime, metrics_text, prepare, read_models, reset, tick

from tests.integration.reporting.simulation import TZ, simulate_week

MONDAY = date(2025, 9, 8)
NOW = datetime(2025, 9, 13, 12, 0, tzinfo=TZ)  # the Saturday after: every session is over
WEEK = simulate_week("ban-thach", MONDAY, seed=3, days=2, dossiers_per_day=5, assists_per_shift=2)
EVENTS = WEEK.roster + WEEK.assist


@pytest.fixture(scope="module")
def db_url(database_url: str) -> str:
    url = f"{database_url}_convergence"
    prepare(url)
    return url


async def _state(url: str, clock: str, stream, cuts) -> tuple[dict, str]:
    runtime = fake_runtime(clock, NOW)
    conn = await asyncpg.connect(url)
    try:
        await reset(conn)
        await apply_stream(runtime, conn, stream, cuts)
        await tick(runtime, url)
        return await read_models(conn), await metrics_text(conn, runtime.settings.target_for)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def reference(db_url: str) -> dict[str, tuple[dict, str]]:
    """Each clock's state after the events in publication order, one batch per topic."""
    return {clock: asyncio.run(_state(db_url, clock, EVENTS, [len(WEEK.roster)]))
            for clock in ("wall", "watermark")}


def test_the_reference_order_gives_the_figures_computed_from_the_events(reference) -> None:
    models, text = reference["wall"]
    assert models == reference["watermark"][0]  # after the last tick both clocks agree here
    assert 'cdt_dossiers_total{channel="online"' in text
    assert 'cdt_shifts_total{status="understaffed",ward="ban-thach"} 1.0' in text
    assert len(models["rp_shifts"]) == 4 and models["rp_member_sessions"]


@pytest.mark.parametrize("clock", ["wall", "watermark"])
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_order_with_duplicates_converges_to_the_same_models_and_metrics(
        db_url, reference, clock, data) -> None:
    stream = data.draw(st.permutations(EVENTS), label="order")
    duplicates = data.draw(st.lists(st.sampled_from(EVENTS), max_size=15), label="redelivered")
    for event in duplicates:
        stream.insert(data.draw(st.integers(0, len(stream)), label="at"), event)
    cuts = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=8), label="batches")
    models, text = asyncio.run(_state(db_url, clock, stream, cuts))
    expected_models, expected_text = reference[clock]
    for table, rows in expected_models.items():
        assert models[table] == rows, table
    assert text == expected_text
