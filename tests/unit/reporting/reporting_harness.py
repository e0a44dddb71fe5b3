"""Applying events straight to the reporting read models, as the consumer would, for unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from types import SimpleNamespace

import asyncpg

from services.reporting import alerts
from services.reporting.app import SPEC
from services.reporting.config import ReportingSettings
from services.reporting.figures import read_totals
from services.reporting.metrics import render
from services.reporting.rebuild import READ_MODELS
from shared import db, inbox
from shared.events import Event
from shared.events import roster as roster_events

TABLE_KEYS = {
    "rp_teams": "ward_id, team_id", "rp_members": "ward_id, member_id",
    "rp_shifts": "ward_id, shift_id", "rp_assignments": "ward_id, shift_id, member_id",
    "rp_checkins": "ward_id, checkin_id", "rp_member_sessions": "ward_id, shift_id, member_id",
    "rp_dossiers": "ward_id, dossier_id", "rp_dossier_links": "ward_id, dossier_id",
    "rp_assists": "ward_id, assist_id",
    "rp_dossier_days": "ward_id, day, channel, field",
    "rp_dossier_totals": "ward_id, channel, field",
    "rp_assist_days": "ward_id, day, venue, outcome", "rp_assist_totals": "ward_id, venue, outcome",
    "rp_assist_reasons": "ward_id, day, reason", "rp_assist_durations": "ward_id, le",
    "rp_ward_shift_totals": "ward_id", "rp_wards": "ward_id", "rp_ward_days": "ward_id, day",
}
assert set(TABLE_KEYS) == set(READ_MODELS)


def fake_runtime(clock: str, now: datetime) -> SimpleNamespace:
    settings = ReportingSettings(clock=clock, _env_file=None)
    return SimpleNamespace(settings=settings, clock=lambda: now)


def prepare(url: str) -> None:
    asyncio.run(db.prepare_database(url, SPEC.migrations))


async def reset(conn: asyncpg.Connection) -> None:
    await conn.execute(f"TRUNCATE {', '.join(READ_MODELS)}, inbox, outbox, rp_alerts, rp_rebuild, "
                       "event_counts, event_lag")


async def apply_batch(runtime, conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """One consumer batch of one topic, applied once (`inbox.apply_once`) in one transaction."""
    consumes = SPEC.consumes[0] if isinstance(events[0], roster_events.EVENT_TYPES) \
        else SPEC.consumes[1]
    prepare, write = consumes.steps(runtime)
    async with conn.transaction():
        await inbox.apply_once(conn, list(events), prepare=prepare, write=write,
                               keyed=consumes.keyed)


async def apply_stream(runtime, conn: asyncpg.Connection, stream: Sequence[Event],
                       cuts: Sequence[int] = ()) -> None:
    """Apply a mixed stream in chunks; each chunk's roster and assist events are two batches."""
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(stream)), len(stream)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        chunk = stream[lo:hi]
        for part in ([e for e in chunk if isinstance(e, roster_events.EVENT_TYPES)],
                     [e for e in chunk if not isinstance(e, roster_events.EVENT_TYPES)]):
            if part:
                await apply_batch(runtime, conn, part)


async def tick(runtime, url: str) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        await alerts.tick(runtime, pool)
    finally:
        await pool.close()


async def read_models(conn: asyncpg.Connection) -> dict[str, list[tuple]]:
    return {table: [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {keys}")]
            for table, keys in TABLE_KEYS.items()}


async def metrics_text(conn: asyncpg.Connection, target_for: Callable[[str], float]) -> str:
    return render(await read_totals(conn), target_for)
