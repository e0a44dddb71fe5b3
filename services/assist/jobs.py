"""Background work of the assist service: closing forgotten check-outs, purging stale uploads."""

from __future__ import annotations

import asyncio
import logging

from services.assist import commands, records
from shared.service import Runtime

log = logging.getLogger(__name__)


async def close_checkouts_periodically(runtime: Runtime) -> None:
    """Every interval, close the check-outs of sessions that are over; hourly, purge uploads."""
    settings = runtime.settings
    interval = settings.assist_close_interval_seconds  # type: ignore[attr-defined]
    since_purge = float("inf")
    while True:
        await asyncio.sleep(interval)
        try:
            closed = await commands.close_missing_checkouts(runtime)
            if closed:
                log.info("closed %d missing check-outs at their session's end", closed)
            since_purge += interval
            if since_purge >= 3600:
                async with runtime.pool.acquire() as conn:
                    await records.purge_uploads(
                        conn, older_than_hours=settings.assist_upload_retention_hours)  # type: ignore[attr-defined]
                since_purge = 0.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database may be away; try next time
            log.warning("closing check-outs failed (%s); retrying in %.0fs",
                        type(exc).__name__, interval)
