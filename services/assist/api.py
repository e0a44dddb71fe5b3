"""HTTP API of the assist service: check-ins, assists, dossiers, all under /wards/{ward_id}."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.assist import commands, domain, imports, intake, records, store
from services.assist.domain import ID_PATTERN, UUID_PATTERN, WARD_TZ, AssistError, AssistRequest
from shared.auth import require
from shared.events.envelope import WARD_ID_PATTERN
from shared.http import CdtError
from shared.service import Runtime

router = APIRouter(prefix="/wards/{ward_id}", tags=["assist"])
WardId = Annotated[str, Path(pattern=WARD_ID_PATTERN, description="The ward, e.g. ban-thach")]
Viewer = Depends(require("viewer"))
Desk = Depends(require("desk"))
Operator = Depends(require("operator"))
_STATUS = {"invalid": 422, "conflict": 409, "not_found": 404}
ALL_TIME = (datetime(2000, 1, 1, tzinfo=WARD_TZ), datetime(2100, 1, 1, tzinfo=WARD_TZ))


@contextlib.contextmanager
def _answering() -> Iterator[None]:
    """A broken desk rule becomes a 4xx JSON body naming the field."""
    try:
        yield
    except AssistError as exc:
        raise CdtError(exc.message, field=exc.field, code=exc.code,
                       status=_STATUS[exc.kind]) from None


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


class CheckInRequest(BaseModel):
    """A member arriving at the desk; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")
    member_id: str = Field(pattern=ID_PATTERN)
    shift_id: str | None = Field(default=None, pattern=ID_PATTERN,
                                 description="Default: the member's current session")
    at: AwareDatetime | None = Field(default=None, description="Default: now")


class CheckOutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime | None = Field(default=None, description="Default: now")


def _local(view: dict) -> dict:
    """Times in the ward's own zone (Asia/Ho_Chi_Minh), as people there read them."""
    return {k: v.astimezone(WARD_TZ) if isinstance(v, datetime) else v for k, v in view.items()}


def _checkin_view(checkin: Any, created: bool | None = None) -> dict:
    view = _local(asdict(checkin))
    if created is not None:
        view["created"] = created
    return view


async def _ward_today(runtime: Runtime, ward_id: str, day: date | None) -> tuple[datetime, datetime]:
    if day is not None:
        start = datetime.combine(day, time(), WARD_TZ)
        return start, start + timedelta(days=1)
    now = runtime.clock()
    if runtime.settings.clock == "watermark":
        async with runtime.pool.acquire() as conn:
            now = await store.watermark(conn, ward_id=ward_id) or now
    return domain.ward_day(now)


@router.post("/checkins", status_code=201, summary="Check a member in to a session")
async def post_checkin(ward_id: WardId, body: CheckInRequest, request: Request,
                       response: Response, _: Any = Desk) -> dict:
    """Idempotent: a second check-in answers 200 with the first. A member not assigned to the
    session is checked in as a stand-in."""
    with _answering():
        written = await commands.check_in(_runtime(request), ward_id=ward_id,
                                          member_id=body.member_id, shift_id=body.shift_id,
                                          at=body.at)
    response.status_code = 201 if written.created else 200
    return _checkin_view(written.record, written.created)


@router.post("/checkins/{checkin_id}/checkout", summary="Check a member out")
async def post_checkout(ward_id: WardId, checkin_id: Annotated[str, Path(pattern=UUID_PATTERN)],
                        request: Request, body: CheckOutRequest | None = None,
                        _: Any = Desk) -> dict:
    """After the session's end the check-out is recorded at the end; a repeat changes nothing."""
    with _answering():
        written = await commands.check_out(_runtime(request), ward_id=ward_id,
                                           checkin_id=checkin_id, at=body.at if body else None)
    return _checkin_view(written.record, written.created)


@router.post("/checkins/close", summary="Close the missing check-outs of sessions that are over")
async def post_close(ward_id: WardId, request: Request, _: Any = Operator) -> dict:
    """The background job does this periodically; this does it now (all wards' due ones)."""
    return {"closed": await commands.close_missing_checkouts(_runtime(request))}


@router.get("/checkins", summary="Check-ins of a day's sessions (default: the ward's today)")
async def get_checkins(ward_id: WardId, request: Request, day: date | None = Query(None, alias="date"),
                       _: Any = Viewer) -> dict:
    runtime = _runtime(request)
    start, end = await _ward_today(runtime, ward_id, day)
    async with runtime.pool.acquire() as conn:
        found = await store.checkins_between(conn, ward_id=ward_id, start=start, end=end)
    return {"date": start.date().isoformat(), "checkins": [_checkin_view(c) for c in found]}


@router.get("/sessions", summary="A day's sessions with their assigned members and check-ins")
async def get_sessions(ward_id: WardId, request: Request, day: date | None = Query(None, alias="date"),
                       _: Any = Viewer) -> dict:
    runtime = _runtime(request)
    start, end = await _ward_today(runtime, ward_id, day)
    async with runtime.pool.acquire() as conn:
        sessions = await store.sessions_between(conn, ward_id=ward_id, start=start, end=end)
        found = await store.checkins_between(conn, ward_id=ward_id, start=start, end=end)
    views = []
    for s in sessions:
        if s.starts_at is None or not start <= s.starts_at < end:
            continue
        views.append({**_local(asdict(s)), "assigned": sorted(s.assigned),
                      "checkins": [_checkin_view(c) for c in found if c.shift_id == s.shift_id]})
    return {"date": start.date().isoformat(), "sessions": views}


@router.get("/sessions/{shift_id}/checkins", summary="One session and its check-ins")
async def get_session_checkins(ward_id: WardId, shift_id: Annotated[str, Path(pattern=ID_PATTERN)],
                               request: Request, _: Any = Viewer) -> dict:
    async with _runtime(request).pool.acquire() as conn:
        session = await store.session(conn, ward_id=ward_id, shift_id=shift_id)
        if session is None:
            raise CdtError(f"no session {shift_id} in this ward", field="shift_id",
                           code="unknown_session", status=404)
        found = await store.checkins_of_shift(conn, ward_id=ward_id, shift_id=shift_id)
    return {"session": {**_local(asdict(session)), "assigned": sorted(session.assigned)},
            "checkins": [_checkin_view(c) for c in found]}


@router.post("/assists", status_code=201, summary="Log one citizen helped")
async def post_assist(ward_id: WardId, body: AssistRequest, request: Request, response: Response,
                      _: Any = Desk) -> dict:
    """One request: ended_at defaults to now, started_at to a usual duration before, and at the
    desk the session to the members' current one. Retrying with the same assist_id logs once."""
    with _answering():
        written = await commands.log_assist(_runtime(request), ward_id=ward_id, request=body)
    response.status_code = 201 if written.created else 200
    return {**_local(written.record), "created": written.created}  # type: ignore[dict-item]


@router.get("/assists", summary="Assists of a period (default: the ward's today)")
async def get_assists(ward_id: WardId, request: Request,
                      day: date | None = Query(None, alias="date"),
                      shift_id: str | None = Query(None, pattern=ID_PATTERN),
                      limit: int = Query(1000, ge=1, le=10_000), _: Any = Viewer) -> dict:
    runtime = _runtime(request)
    start, end = await _ward_today(runtime, ward_id, day)
    if shift_id:
        start, end = ALL_TIME
    async with runtime.pool.acquire() as conn:
        found = await records.assists(conn, ward_id=ward_id, start=start, end=end,
                                      shift_id=shift_id, limit=limit)
    return {"assists": [_local(a) for a in found]}


@router.get("/assists/{assist_id}", summary="One assist")
async def get_assist(ward_id: WardId, assist_id: Annotated[str, Path(pattern=UUID_PATTERN)],
                     request: Request, _: Any = Viewer) -> dict:
    async with _runtime(request).pool.acquire() as conn:
        found = await records.assist(conn, ward_id=ward_id, assist_id=assist_id)
    if found is None:
        raise CdtError(f"no assist {assist_id} in this ward", code="unknown_assist", status=404)
    return _local(found)


@router.get("/dossiers", summary="Dossiers received in a period (default: the ward's today)")
async def get_dossiers(ward_id: WardId, request: Request,
                       start: AwareDatetime | None = Query(None, alias="from"),
                       end: AwareDatetime | None = Query(None, alias="to"),
                       limit: int = Query(1000, ge=1, le=10_000), _: Any = Viewer) -> dict:
    runtime = _runtime(request)
    today = await _ward_today(runtime, ward_id, None)
    async with runtime.pool.acquire() as conn:
        found = await records.dossiers(conn, ward_id=ward_id, start=start or today[0],
                                       end=end or today[1], limit=limit)
    return {"dossiers": [_local(d) for d in found]}


@router.get("/dossiers/{dossier_id}", summary="One dossier, with the assist linked to it")
async def get_dossier(ward_id: WardId, dossier_id: Annotated[str, Path(pattern=ID_PATTERN)],
                      request: Request, _: Any = Viewer) -> dict:
    async with _runtime(request).pool.acquire() as conn:
        found = await records.dossier(conn, ward_id=ward_id, dossier_id=dossier_id)
    if found is None:
        raise CdtError(f"no dossier {dossier_id} in this ward", code="unknown_dossier", status=404)
    return _local(found)


_CONTENT_TYPES = {"text/csv": "csv", "application/x-ndjson": "jsonl",
                  "application/jsonl": "jsonl", "application/json-lines": "jsonl"}


@router.post("/dossiers/import", summary="Import dossier records (JSON lines or CSV)",
             responses={422: {"description": "Row-numbered errors; nothing imported"}})
async def post_import(ward_id: WardId, request: Request,
                      fmt: Literal["jsonl", "csv"] | None = Query(None, alias="format"),
                      upload_id: str | None = Query(None, pattern=UUID_PATTERN, description=(
                          "Several requests of one file: parts are staged, the final one commits")),
                      part: int = Query(0, ge=0, le=100_000),
                      first_line: int | None = Query(None, ge=1, description=(
                          "The file's line number of this part's first record")),
                      final: bool = Query(True), _: Any = Operator) -> Any:
    """The body is the file (or one part of it, a CSV part repeating the header), at most
    1 MB. All or nothing: any bad row refuses the file with every row's error; dossiers
    received before are counted as duplicates and change nothing."""
    runtime = _runtime(request)
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = fmt or _CONTENT_TYPES.get(content_type) or intake.sniff_format(body[:64])  # type: ignore[assignment]
    assert fmt is not None
    parsed = imports.parse(intake.split_lines([body]), fmt=fmt, ward_id=ward_id, runtime=runtime,
                           first_line=first_line)
    if parsed.errors:
        return JSONResponse(imports.error_body(parsed.errors), 422)
    with _answering():
        return await imports.import_rows(runtime, ward_id=ward_id, rows=parsed.rows,
                                         upload_id=upload_id, part=part, final=final)


@router.delete("/dossiers/import/{upload_id}", status_code=204, summary="Discard a staged upload")
async def delete_import(ward_id: WardId, upload_id: Annotated[str, Path(pattern=UUID_PATTERN)],
                        request: Request, _: Any = Operator) -> Response:
    await imports.discard(_runtime(request), ward_id=ward_id, upload_id=upload_id)
    return Response(status_code=204)
