"""HTTP routes for a ward's roster: import the file, read teams and members, settings, deactivate."""

import asyncio
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from services.roster import commands, store
from services.roster.importer import RosterFileError, parse_roster
from services.roster.records import MemberRecord
from services.roster.wardrules import WardRules
from shared.auth import Principal, require
from shared.events.envelope import WARD_ID_PATTERN
from shared.http import CdtError

router = APIRouter(tags=["roster"])
WardId = Annotated[str, Path(pattern=WARD_ID_PATTERN, description="The ward's slug, e.g. ban-thach")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD = {"requestBody": {"required": True, "description": "The roster file's bytes (CSV or XLSX)",
                          "content": {"text/csv": {"schema": {"type": "string"}},
                                      XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


class InvalidFileError(CdtError):
    """A roster file with bad rows: every row error is in the body, nothing was imported."""

    status = 422
    code = "invalid_file"

    def __init__(self, error: RosterFileError) -> None:
        count = len(error.errors)
        super().__init__(f"tệp có {count} lỗi, chưa nhập gì (the file has {count} error(s); nothing "
                         "was imported)", field="file")
        self.errors = error.errors

    def body(self) -> dict[str, Any]:
        rows = [{"row": e.row, "field": e.field, "reason": e.reason} for e in self.errors]
        return {**super().body(), "errors": rows}


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=300, description="Why, for the people who read the events")


def runtime_of(request: Request):
    return request.app.state.runtime


async def _body(request: Request) -> bytes:
    """The request body, refused beyond the size limit even when sent without a length."""
    limit, size, chunks = request.app.state.max_body, 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise CdtError(f"the file exceeds {limit} bytes", field="file", code="body_too_large", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/wards/{ward_id}/roster/import", openapi_extra=UPLOAD,
             dependencies=[Depends(require("operator"))])
async def import_roster(request: Request, ward_id: WardId,
                        filename: Annotated[str | None, Query(max_length=200)] = None) -> dict:
    """Import teams and members from a CSV or XLSX file: all or nothing, only the differences."""
    content = await _body(request)
    if not content:
        raise CdtError("send the roster file as the request body", field="file", code="empty_file")
    is_xlsx = XLSX in request.headers.get("content-type", "")
    name = filename or ("roster.xlsx" if is_xlsx else "roster.csv")
    try:
        roster = await asyncio.to_thread(parse_roster, content, name, ward_id)
    except RosterFileError as error:
        raise InvalidFileError(error) from None
    runtime = runtime_of(request)
    async with commands.ward_transaction(runtime.pool, ward_id) as conn:
        outcome = await commands.import_roster(conn, ward_id=ward_id, roster=roster, now=runtime.clock())
    return {"ward_id": ward_id, **outcome.body()}


@router.get("/wards/{ward_id}/teams", dependencies=[Depends(require("viewer"))])
async def list_teams(request: Request, ward_id: WardId) -> list[dict]:
    """The ward's teams in rotation order, with their leader and number of active members."""
    async with runtime_of(request).pool.acquire() as conn:
        teams = await store.list_teams(conn, ward_id=ward_id)
        members = await store.list_members(conn, ward_id=ward_id, active=True)
    return [{"team_id": t.team_id, "name": t.name, "hamlet": t.hamlet, "leader_member_id": t.leader_member_id,
             "members": sum(m.team_id == t.team_id for m in members)} for t in teams]


def date_ranges(days: frozenset[date]) -> list[str]:
    """Dates as the roster file writes them: "2025-09-05" or "2025-09-05..2025-09-12"."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and day - ranges[-1][1] == timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [f"{a}" if a == b else f"{a}..{b}" for a, b in ranges]


def member_body(member: MemberRecord, *, with_phone: bool = False) -> dict:
    body = {"member_id": member.member_id, "team_id": member.team_id, "display_name": member.name,
            "occupation": member.occupation, "is_leader": member.is_leader, "active": member.active,
            "unavailable": date_ranges(member.unavailable)}
    return {**body, "phone": member.phone} if with_phone else body


@router.get("/wards/{ward_id}/members", dependencies=[Depends(require("viewer"))])
async def list_members(request: Request, ward_id: WardId, team_id: str | None = None,
                       include_inactive: bool = False) -> list[dict]:
    """The ward's members (never their phone numbers)."""
    async with runtime_of(request).pool.acquire() as conn:
        members = await store.list_members(conn, ward_id=ward_id, team_id=team_id,
                                           active=None if include_inactive else True)
    return [member_body(m) for m in members]


@router.get("/wards/{ward_id}/members/{member_id}")
async def get_member(request: Request, ward_id: WardId, member_id: str,
                     principal: Principal = Depends(require("viewer"))) -> dict:
    """One member; the phone number only for an operator."""
    async with runtime_of(request).pool.acquire() as conn:
        member = await store.get_member(conn, ward_id=ward_id, member_id=member_id)
    if member is None:
        raise CdtError(f"no member {member_id} in ward {ward_id}", field="member_id", code="not_found",
                       status=404)
    return member_body(member, with_phone=principal.can("operator"))


@router.post("/wards/{ward_id}/members/{member_id}/deactivate", dependencies=[Depends(require("operator"))])
async def deactivate_member(request: Request, ward_id: WardId, member_id: str, body: Reason) -> dict:
    """Deactivate a member; their future sessions are released and refilled where possible."""
    runtime = runtime_of(request)
    async with commands.ward_transaction(runtime.pool, ward_id) as conn:
        outcome = await commands.deactivate_member(conn, ward_id=ward_id, member_id=member_id,
                                                   reason=body.reason, now=runtime.clock())
    return {"ward_id": ward_id, "member_id": member_id, **outcome.body()}


@router.get("/wards/{ward_id}/settings", dependencies=[Depends(require("viewer"))])
async def get_settings(request: Request, ward_id: WardId) -> WardRules:
    """The ward's planning settings (only what differs from the defaults is stored)."""
    async with runtime_of(request).pool.acquire() as conn:
        return WardRules(**await store.get_rules(conn, ward_id=ward_id))


@router.put("/wards/{ward_id}/settings", dependencies=[Depends(require("operator"))])
async def put_settings(request: Request, ward_id: WardId, rules: Annotated[WardRules, Body()]) -> WardRules:
    """Replace the ward's planning settings; they apply from the next plan."""
    async with commands.ward_transaction(runtime_of(request).pool, ward_id) as conn:
        await store.set_rules(conn, ward_id=ward_id, rules=rules.stored())
    return rules
