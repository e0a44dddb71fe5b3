"""HTTP routes that change a ward's plan: plan a period, swap, release, cancel a session or a day."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.roster import commands, shift_commands
from services.roster.api import Reason, WardId, runtime_of
from shared.auth import require

router = APIRouter(tags=["plan"], dependencies=[Depends(require("operator"))])


class Period(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    start: date = Field(alias="from", description="First day planned (ISO date)")
    end: date = Field(alias="to", description="Last day planned, inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> "Period":
        if self.end < self.start:
            raise ValueError("'to' must not be before 'from'")
        return self


class SwapRequest(BaseModel):
    out_member_id: str = Field(description="The member leaving the session")
    in_member_id: str = Field(description="The member taking their place")
    reason: str = Field(default="", max_length=300)


class ReleaseRequest(Reason):
    member_id: str = Field(description="The member taken off the session")


@router.post("/wards/{ward_id}/plan")
async def plan(request: Request, ward_id: WardId, period: Period) -> dict:
    """Plan the rotation for a period. Shifts already started, checked in to or cancelled stay as
    they are; planning the same period again changes (and publishes) nothing."""
    runtime = runtime_of(request)
    async with commands.ward_transaction(runtime.pool, ward_id) as conn:
        return await shift_commands.plan_period(conn, ward_id=ward_id, start=period.start, end=period.end,
                                                now=runtime.clock())


@router.post("/wards/{ward_id}/shifts/{shift_id}/swap")
async def swap(request: Request, ward_id: WardId, shift_id: str, body: SwapRequest) -> dict:
    """Put one member in another's place on a session that has not started."""
    runtime = runtime_of(request)
    async with commands.ward_transaction(runtime.pool, ward_id) as conn:
        outcome = await shift_commands.swap_members(
            conn, ward_id=ward_id, shift_id=shift_id, out_member_id=body.out_member_id,
            in_member_id=body.in_member_id, reason=body.reason, now=runtime.clock())
    return {"ward_id": ward_id, "shift_id": shift_id, **outcome.body()}


@router.post("/wards/{ward_id}/shifts/{shift_id}/release")
async def release(request: Request, ward_id: WardId, shift_id: str, body: ReleaseRequest) -> dict:
    """Take a member off a session that has not started; it is refilled from their team first."""
    runtime = runtime_of(request)
    async with commands.ward_transaction(runtime.pool, ward_id) as conn:
        outcome = await shift_commands.release_from_shift(
            conn, ward_id=ward_id, shift_id=shift_id, member_id=body.member_id, reason=body.reason,
            now=runtime.clock())
    return {"ward_id": ward_id, "shift_id": shift_id, **outcome.body()}


@router.post("/wards/{ward_id}/shifts/{shift_id}/cancel")
async def cancel_session(request: Request, ward_id: WardId, shift_id: str, body: Reason) -> dict:
    """Cancel one session that has not started (cancelling it again changes nothing)."""
    runtime = runtime_of(request)
    async with commands.ward_transaction(runtime.pool, ward_id) as conn:
        outcome = await shift_commands.cancel_sessions(conn, ward_id=ward_id, shift_id=shift_id,
                                                       reason=body.reason, now=runtime.clock())
    return {"ward_id": ward_id, "shift_id": shift_id, **outcome.body()}


@router.post("/wards/{ward_id}/days/{day}/cancel")
async def cancel_day(request: Request, ward_id: WardId, day: Annotated[date, Path(description="ISO date")],
                     body: Reason) -> dict:
    """Cancel every session of a day that has not started yet (storm, closure)."""
    runtime = runtime_of(request)
    async with commands.ward_transaction(runtime.pool, ward_id) as conn:
        outcome = await shift_commands.cancel_sessions(conn, ward_id=ward_id, day=day, reason=body.reason,
                                                       now=runtime.clock())
    return {"ward_id": ward_id, "date": day.isoformat(), **outcome.body()}
