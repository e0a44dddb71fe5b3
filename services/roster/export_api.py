"""HTTP routes that read the plan: JSON, CSV, XLSX (one sheet a month) and a member's iCalendar."""

from datetime import date
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.roster import shift_store, store
from services.roster.api import WardId, runtime_of
from services.roster.exports import ExportRow, to_csv, to_ics, to_xlsx
from services.roster.records import ShiftRecord
from shared.auth import AuthError, require, verify
from shared.http import CdtError

router = APIRouter(tags=["exports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_bearer = HTTPBearer(auto_error=False)


def status_of(shift: ShiftRecord) -> str:
    if shift.status == "cancelled":
        return "cancelled"
    return "scheduled" if len(shift.members) >= shift.min_staff else "unstaffable"


async def _names(conn: asyncpg.Connection, ward_id: str) -> tuple[dict[str, str], dict[str, str]]:
    teams = {t.team_id: t.name for t in await store.list_teams(conn, ward_id=ward_id)}
    members = {m.member_id: m.name for m in await store.list_members(conn, ward_id=ward_id)}
    return teams, members


def shift_body(shift: ShiftRecord, teams: dict[str, str], members: dict[str, str]) -> dict:
    return {"shift_id": shift.shift_id, "date": shift.date.isoformat(), "period": shift.period,
            "starts_at": shift.starts_at.isoformat(), "ends_at": shift.ends_at.isoformat(),
            "team_id": shift.team_id, "team_name": teams.get(shift.team_id, shift.team_id),
            "location": shift.location, "min_staff": shift.min_staff, "status": status_of(shift),
            "cancel_reason": shift.cancel_reason, "pinned": shift.pinned,
            "checked_in": list(shift.checked_in),
            "members": [{"member_id": m, "display_name": members.get(m, m)} for m in shift.members]}


def export_row(shift: ShiftRecord, teams: dict[str, str], members: dict[str, str]) -> ExportRow:
    return ExportRow(shift.shift_id, shift.date, shift.period, shift.starts_at, shift.ends_at,
                     teams.get(shift.team_id, shift.team_id), tuple(members.get(m, m) for m in shift.members),
                     shift.location, status_of(shift))


def _file(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def _calendar(conn: asyncpg.Connection, ward_id: str, member_id: str, start: date | None,
                    end: date | None) -> Response:
    member = await store.get_member(conn, ward_id=ward_id, member_id=member_id)
    if member is None:
        raise CdtError(f"no member {member_id} in ward {ward_id}", field="member_id", code="not_found",
                       status=404)
    teams, members = await _names(conn, ward_id)
    shifts = await shift_store.list_shifts(conn, ward_id=ward_id, start=start, end=end, member_id=member_id)
    rows = [export_row(s, teams, members) for s in shifts]
    content = to_ics(member.name, rows, f"Lịch trực CNSCĐ - {member.name}")
    return Response(content, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{member_id}.ics"'})


@router.get("/wards/{ward_id}/shifts", dependencies=[Depends(require("viewer"))])
async def list_shifts(
    request: Request, ward_id: WardId,
    start: Annotated[date | None, Query(alias="from", description="First day (ISO date)")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, inclusive")] = None,
    member_id: Annotated[str | None, Query(description="Only this member's sessions")] = None,
    format: Literal["json", "csv", "xlsx", "ics"] = "json",
) -> Response:
    """The plan as JSON, CSV (Excel-ready), XLSX (a printable sheet a month) or, for one member,
    iCalendar."""
    if format == "ics" and not member_id:
        raise CdtError("an iCalendar feed is per member: give member_id", field="member_id",
                       code="member_required", status=422)
    async with runtime_of(request).pool.acquire() as conn:
        if format == "ics":
            return await _calendar(conn, ward_id, member_id or "", start, end)
        teams, members = await _names(conn, ward_id)
        shifts = await shift_store.list_shifts(conn, ward_id=ward_id, start=start, end=end,
                                               member_id=member_id)
    if format == "json":
        return JSONResponse([shift_body(s, teams, members) for s in shifts])
    rows = [export_row(s, teams, members) for s in shifts]
    if format == "csv":
        return _file(to_csv(rows), "text/csv; charset=utf-8", f"{ward_id}-lich-truc.csv")
    title = f"Lịch trực Tổ công nghệ số cộng đồng - {ward_id}"
    return _file(to_xlsx(rows, title), XLSX, f"{ward_id}-lich-truc.xlsx")


@router.get("/wards/{ward_id}/shifts/{shift_id}", dependencies=[Depends(require("viewer"))])
async def get_shift(request: Request, ward_id: WardId, shift_id: str) -> dict:
    """One session with its members."""
    async with runtime_of(request).pool.acquire() as conn:
        shift = await shift_store.get_shift(conn, ward_id=ward_id, shift_id=shift_id)
        if shift is None:
            raise CdtError(f"no session {shift_id} in ward {ward_id}", field="shift_id", code="not_found",
                           status=404)
        teams, members = await _names(conn, ward_id)
    return shift_body(shift, teams, members)


async def calendar_access(
    request: Request,
    token: Annotated[str | None, Query(description="A viewer token, for phone calendar subscriptions "
                                                   "that cannot send a header")] = None,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> None:
    """A bearer token as everywhere, or a token in the address when it is only a viewer's: an
    address ends up in phone settings and logs, so it must never carry the right to change."""
    if token is None:
        await require("viewer")(request, credentials)
        return
    runtime = runtime_of(request)
    async with runtime.auth_pool.acquire() as conn:
        principal = await verify(conn, runtime.token_secret, token)
    if principal.role != "viewer":
        raise AuthError(403, "viewer_token_required", "only a viewer token may be put in a calendar address; "
                        "create one with `cdt token create --role viewer`")
    ward_id = request.path_params.get("ward_id", "")
    if not principal.may_access(ward_id):
        raise AuthError(403, "wrong_ward", f"the token is for ward {principal.ward_id}, not {ward_id}")


@router.get("/wards/{ward_id}/members/{member_id}/calendar.ics", dependencies=[Depends(calendar_access)])
async def member_calendar(request: Request, ward_id: WardId, member_id: str) -> Response:
    """A member's sessions as an iCalendar feed their phone can subscribe to."""
    async with runtime_of(request).pool.acquire() as conn:
        return await _calendar(conn, ward_id, member_id, None, None)
