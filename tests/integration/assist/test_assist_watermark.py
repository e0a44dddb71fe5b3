"""With CDT_CLOCK=watermark, a ward's 'now' is the latest time in its data (replays, the demo).

Driven through the service's commands on a real PostgreSQL: a second assist process in the test
session would join the same consumer group as the shared one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import pytest

from services.assist import commands, store
from services.assist.app import SPEC
from services.assist.config import AssistSettings
from services.assist.domain import WARD_TZ, AssistRequest
from shared import db

pytestmark = pytest.mark.integration
DAY = date(2025, 9, 8)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), WARD_TZ)


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[SimpleNamespace]:
    url = db.service_database_url(f"{database_url}_{uuid.uuid4().hex[:6]}", "assist")
    await db.prepare_database(url, SPEC.migrations)
    pool = await db.create_pool(url, max_size=2)
    settings = AssistSettings(clock="watermark", kafka_bootstrap="unused:9092", _env_file=None)
    yield SimpleNamespace(pool=pool, settings=settings, clock=lambda: datetime.now(UTC))
    await pool.close()


async def test_missing_check_outs_close_when_the_wards_data_passes_the_sessions_end(
        runtime) -> None:
    ward = "ban-thach"
    async with runtime.pool.acquire() as conn:
        for shift, start, end in (("morning", at(7, 30), at(11, 30)),
                                  ("afternoon", at(13, 30), at(17))):
            await store.schedule_shift(conn, ward_id=ward, shift_id=shift,
                                       location="service_center", starts_at=start, ends_at=end,
                                       min_staff=2)
        for member, shift in (("hoa", "morning"), ("an", "afternoon")):
            await store.assign(conn, ward_id=ward, shift_id=shift, member_id=member,
                               assigned=True)

    async def open_checkouts() -> dict[str, datetime | None]:
        async with runtime.pool.acquire() as conn:
            found = await store.checkins_between(conn, ward_id=ward, start=at(0),
                                                 end=at(0) + timedelta(days=1))
        return {c.member_id: c.checked_out_at for c in found}

    await commands.check_in(runtime, ward_id=ward, member_id="hoa", shift_id="morning",
                            at=at(7, 20))
    # Long over by the wall clock, but by the ward's data it is 07:20.
    assert await commands.close_missing_checkouts(runtime) == 0

    await commands.check_in(runtime, ward_id=ward, member_id="an", shift_id=None, at=at(13, 20))
    assert await commands.close_missing_checkouts(runtime) == 1
    assert await open_checkouts() == {"hoa": at(11, 30), "an": None}

    await commands.log_assist(runtime, ward_id=ward, request=AssistRequest(
        member_ids=["an"], field="land", outcome="not_completed", reason="missing_documents",
        venue="cultural_house", started_at=at(17, 5), ended_at=at(17, 20)))
    assert await commands.close_missing_checkouts(runtime) == 1
    assert await open_checkouts() == {"hoa": at(11, 30), "an": at(17)}
    async with runtime.pool.acquire() as conn:
        assert await store.watermark(conn, ward_id=ward) == at(17, 20)
        events = await conn.fetch("SELECT event_type FROM outbox ORDER BY id")
    assert [e["event_type"].split(".")[-2] for e in events] == [
        "checked_in", "checked_in", "checked_out", "completed", "checked_out"]
