"""HTTP routes of the reporting service: a ward's report, and the rebuild of the read models."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.reporting import rebuild
from services.reporting.report import build_report, to_csv
from shared.auth import Principal, require
from shared.events.envelope import WARD_ID_PATTERN
from shared.http import CdtError

router = APIRouter()


@router.get("/wards/{ward_id}/report", summary="A ward's figures for a period (default: the campaign)")
async def ward_report(
    request: Request,
    ward_id: str,
    from_: date | None = Query(None, alias="from", description="First day (default: the campaign's)"),
    to: date | None = Query(None, description="Last day (default: the campaign's)"),
    format: Literal["json", "csv"] = Query("json", description="json or csv"),
    _: Principal = Depends(require("viewer")),
) -> Response:
    import re

    if not re.match(WARD_ID_PATTERN, ward_id):
        raise CdtError("not a ward id", field="ward_id", code="invalid_request", status=422)
    if from_ and to and from_ > to:
        raise CdtError("from must not be after to", field="from", code="invalid_request", status=422)
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        report = await build_report(conn, ward_id, target=runtime.settings.target_for(ward_id),
                                    start=from_, end=to)
    if format == "csv":
        return PlainTextResponse(to_csv(report), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="report-{ward_id}.csv"'})
    return JSONResponse(report)


@router.post("/admin/rebuild", summary="Rebuild every read model from the topics' beginning",
             status_code=202)
async def start_rebuild(
    request: Request, _: Principal = Depends(require("operator", all_wards=True)),
) -> dict:
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        generation = await rebuild.start(conn)
        row = await conn.fetchrow(rebuild.READ)
    runtime.extras["rebuilder"].wake.set()
    return {**rebuild.progress(row), "generation": generation}


@router.get("/admin/rebuild", summary="Progress of the last rebuild")
async def rebuild_progress(
    request: Request, _: Principal = Depends(require("operator", all_wards=True)),
) -> dict:
    async with request.app.state.runtime.pool.acquire() as conn:
        return rebuild.progress(await conn.fetchrow(rebuild.READ))
