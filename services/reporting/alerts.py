"""The clock job: sessions past their grace period or end, and one summary per ward and day."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from services.reporting import domain, sessions, store
from shared import outbox
from shared.db import TRANSIENT_DB_ERRORS
from shared.events import reporting

log = logging.getLogger(__name__)

ENDED_DAYS_WALL = """
SELECT ward_id, day FROM rp_ward_days WHERE NOT summarized AND day < $1
ORDER BY day, ward_id LIMIT $2
"""
ENDED_DAYS_WATERMARK = """
SELECT d.ward_id, d.day FROM rp_wards w
JOIN LATERAL (SELECT ward_id, day FROM rp_ward_days d
              WHERE d.ward_id = w.ward_id AND NOT d.summarized
                AND d.day < (w.watermark AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
              ORDER BY day LIMIT $1) d ON true
WHERE w.watermark IS NOT NULL LIMIT $1
"""
DAY_FIGURES = """
SELECT c.ward_id, c.day,
  (SELECT coalesce(sum(dossiers), 0) FROM rp_dossier_days d
    WHERE d.ward_id = c.ward_id AND d.day = c.day)::bigint AS dossiers_total,
  (SELECT coalesce(sum(dossiers), 0) FROM rp_dossier_days d
    WHERE d.ward_id = c.ward_id AND d.day = c.day AND d.channel = 'online')::bigint AS dossiers_online,
  (SELECT coalesce(sum(assists), 0) FROM rp_assist_days a
    WHERE a.ward_id = c.ward_id AND a.day = c.day)::bigint AS assists,
  (SELECT coalesce(sum(assists), 0) FROM rp_assist_days a
    WHERE a.ward_id = c.ward_id AND a.day = c.day AND a.outcome = 'submitted_online')::bigint
    AS assists_submitted_online,
  (SELECT count(*) FROM rp_shifts s WHERE s.ward_id = c.ward_id AND s.day = c.day
    AND s.status IN ('pending', 'staffed', 'understaffed')) AS sessions_scheduled,
  (SELECT count(*) FROM rp_shifts s WHERE s.ward_id = c.ward_id AND s.day = c.day
    AND s.status = 'staffed') AS sessions_staffed,
  (SELECT coalesce(sum(seconds), 0) FROM rp_member_sessions m
    WHERE m.ward_id = c.ward_id AND m.day = c.day)::bigint AS seconds
FROM unnest($1::text[], $2::date[]) AS c(ward_id, day)
"""
MARK_SUMMARIZED = """
UPDATE rp_ward_days d SET summarized = true FROM unnest($1::text[], $2::date[]) AS t(w, day)
WHERE d.ward_id = t.w AND d.day = t.day
"""


def summary_data(row: Any) -> reporting.WardDailySummaryData:
    total, online = row["dossiers_total"], row["dossiers_online"]
    return reporting.WardDailySummaryData(
        ward_id=row["ward_id"], date=row["day"], dossiers_total=total, dossiers_online=online,
        online_ratio=domain.ratio(online, total) or 0.0, assists=row["assists"],
        assists_submitted_online=row["assists_submitted_online"],
        sessions_scheduled=row["sessions_scheduled"], sessions_staffed=row["sessions_staffed"],
        volunteer_hours=domain.hours(row["seconds"]))


async def summarize_ended_days(runtime: Any, pool: asyncpg.Pool, limit: int = 500) -> int:
    """Emit ward.daily_summary for the days that ended; recorded with the outbox row, once.
    Nothing while a rebuild runs: its figures would be those of half-filled read models."""
    async with pool.acquire() as conn, conn.transaction():
        if not await sessions.alerts_open(conn):
            return 0  # summarised when the read models are whole again
        if runtime.settings.clock == "watermark":
            rows = await conn.fetch(ENDED_DAYS_WATERMARK, limit)
        else:
            today = domain.local_day(runtime.clock())
            rows = await conn.fetch(ENDED_DAYS_WALL, today, limit)
        if not rows:
            return 0
        wards, days = [r["ward_id"] for r in rows], [r["day"] for r in rows]
        figures = await conn.fetch(DAY_FIGURES, wards, days)
        kind = sessions.DAILY_SUMMARY
        items = [(r["ward_id"], r["day"].isoformat(),
                  sessions.alert_event_id(kind, r["ward_id"], r["day"].isoformat())) for r in figures]
        fresh = await store.record_alerts(conn, kind, items)
        now = runtime.clock()
        events = [reporting.WardDailySummary.create(
            summary_data(r), service="reporting", time=now,
            event_id=sessions.alert_event_id(kind, r["ward_id"], r["day"].isoformat()))
            for r in figures if (r["ward_id"], r["day"].isoformat()) in fresh]
        await outbox.add(conn, reporting.TOPIC, events)
        await conn.execute(MARK_SUMMARIZED, wards, days)
    return len(rows)


async def tick(runtime: Any, pool: asyncpg.Pool) -> None:
    """One pass of the clock job."""
    while await sessions.recompute_due(runtime, pool) >= 500:
        pass
    while await summarize_ended_days(runtime, pool) >= 500:
        pass


async def run_clock_job(runtime: Any) -> None:
    """Background job of the service: a tick every few seconds on the service's clock."""
    interval = runtime.settings.reporting_tick_seconds
    while True:
        try:
            await tick(runtime, runtime.pool)
        except asyncio.CancelledError:
            raise
        except (*TRANSIENT_DB_ERRORS, Exception) as exc:  # noqa: BLE001 - retried next tick
            log.warning("reporting clock job: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(interval)
