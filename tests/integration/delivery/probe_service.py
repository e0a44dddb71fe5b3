"""A minimal service over the shared delivery machinery, run as a real process by the tests.

It produces `ShiftAssigned` events through the outbox (POST /emit) and consumes its own topic,
recording each applied event, so that tests can kill it anywhere and count effects.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

import uvicorn
from fastapi import APIRouter, Depends, Request

from shared import outbox
from shared.auth import require
from shared.config import ServiceSettings, load_settings
from shared.events.roster import EVENT_TYPES, ShiftAssigned, ShiftAssignedData
from shared.http import CdtError
from shared.messaging import RuleViolationError
from shared.service import Consumes, ServiceSpec, create_service_app

TOPIC = os.environ.get("PROBE_TOPIC", "probe.events")
PAUSE_AFTER_APPLY = float(os.environ.get("PROBE_PAUSE_AFTER_APPLY", "0"))


class ProbeSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "probe"
    probe_port: int = 8099
    probe_database_url: str | None = None


router = APIRouter()


@router.post("/emit")
async def emit(request: Request, start: int, count: int, wards: int = 3,
               rollback: bool = False) -> dict:
    """Produce `count` events numbered from `start`, in one transaction (rolled back on ask)."""
    runtime = request.app.state.runtime
    events = [ShiftAssigned.create(ShiftAssignedData(
        ward_id=f"ward-{seq % wards}", shift_id=f"s-{seq}", member_id=str(seq)),
        service="probe") for seq in range(start, start + count)]
    async with runtime.pool.acquire() as conn:
        try:
            async with conn.transaction():
                await conn.executemany("INSERT INTO produced (seq, ward_id) VALUES ($1, $2)",
                                       [(int(e.data.member_id), e.wardid) for e in events])
                await outbox.add(conn, TOPIC, events)
                if rollback:
                    raise CdtError("rolled back on request", code="rolled_back")
        except CdtError:
            return {"produced": 0}
    return {"produced": count}


@router.get("/state")
async def state(request: Request) -> dict:
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        return {
            "produced": await conn.fetchval("SELECT count(*) FROM produced"),
            "applied": await conn.fetchval("SELECT count(*) FROM applied"),
            "applied_twice": await conn.fetchval("SELECT count(*) FROM applied WHERE applied > 1"),
            "unsent": await outbox.unsent_count(conn),
            "order_violations": await conn.fetchval("""
                SELECT count(*) FROM (
                  SELECT seq < lag(seq) OVER (PARTITION BY ward_id ORDER BY position) AS bad
                  FROM applied) t WHERE bad"""),
        }


@router.get("/wards/{ward_id}/produced", dependencies=[Depends(require("viewer"))])
async def produced(request: Request, ward_id: str) -> dict:
    async with request.app.state.runtime.pool.acquire() as conn:
        return {"count": await conn.fetchval(
            "SELECT count(*) FROM produced WHERE ward_id = $1", ward_id)}


@router.post("/wards/{ward_id}/produced", dependencies=[Depends(require("operator"))])
async def produce_for_ward(request: Request, ward_id: str) -> dict:
    return {"ward_id": ward_id, "accepted": True}


async def apply(runtime, conn, events) -> None:
    rows = []
    for event in events:
        if event.data.member_id == "poison":
            raise RuleViolationError(event, "rule_broken", "member poison may not be assigned")
        rows.append((event.id, event.wardid, int(event.data.member_id)))
    await conn.executemany(
        "INSERT INTO applied (event_id, ward_id, seq) VALUES ($1, $2, $3) "
        "ON CONFLICT (event_id) DO UPDATE SET applied = applied.applied + 1", rows)
    if PAUSE_AFTER_APPLY:
        await asyncio.sleep(PAUSE_AFTER_APPLY)


SPEC = ServiceSpec(
    name="probe", title="probe", description="test probe",
    migrations_dir=Path(__file__).parent / "probe_migrations",
    topic=TOPIC, produces=EVENT_TYPES,
    consumes=(Consumes(TOPIC, EVENT_TYPES, apply),),
    routers=(router,),
)


def main() -> None:
    settings = load_settings(ProbeSettings)
    app = create_service_app(SPEC, settings)
    uvicorn.run(app, host="127.0.0.1", port=settings.port, log_level="warning",
                lifespan="on")


if __name__ == "__main__":
    main()
