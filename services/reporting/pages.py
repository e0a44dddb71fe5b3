"""The ward report page: online ratio by week against the target, dossiers by channel and field,
the sessions calendar, assists by outcome, reasons, hours by team; CSV of every table.

Read-only; a viewer token of the ward (or *) as a bearer or the `cdt_token` cookie (set by
`/report?token=...`, scoped to /wards/{ward}/report), checked exactly as the report API does.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from services.reporting.report import build_report, campaign
from services.reporting.web import calendar, tables, view
from services.reporting.web.texts import TEXTS
from shared.auth import Principal, require
from shared.events.envelope import WARD_ID_PATTERN
from shared.http import CdtError
from shared.web import charts, i18n
from shared.web.access import PageDenied, page_principal
from shared.web.kit import PageKit
from shared.web.render import environment, static_router
from shared.web.signin import signin_router

PAGE = "/wards/{ward_id}/report/page"
COOKIE_PATH = "/wards/{ward_id}/report"
ENTRY = "/report"
MAX_DAYS = 3 * 366
TOP_REASONS = 5

KIT = PageKit(environment(Path(__file__).parent / "web"), TEXTS)
KIT.env.globals.update(bar=charts.bar, swatch=charts.swatch, largest=view.largest,
                       week_days=view.week_days, week_label=view.week_label, period_of=calendar.period_of)
router = APIRouter()  # the page routes stay out of the OpenAPI document, the JSON one in it
router.include_router(signin_router(KIT, entry=ENTRY, page_path=PAGE, cookie_path=COOKIE_PATH,
                                    role="viewer"))
router.include_router(static_router(["cdt-web.css", "cdt-print.js"]))


def parse_period(raw_from: str | None, raw_to: str | None
                 ) -> tuple[date | None, date | None, dict[str, str]]:
    """The picked days (None: the campaign's), or errors by field."""
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name, raw in (("from", raw_from), ("to", raw_to)):
        try:
            days[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            days[name], errors[name] = None, "picker.bad_date"
    start, end = days["from"], days["to"]
    if start and end and start > end:
        errors["from"] = "picker.order"
    elif start and end and (end - start).days > MAX_DAYS:
        errors["to"] = "picker.too_long"
    return start, end, errors


async def _figures(request: Request, ward_id: str, start: date | None, end: date | None
                   ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        report = await build_report(conn, ward_id, target=runtime.settings.target_for(ward_id),
                                    start=start, end=end)
        period = report["period"]
        found = await calendar.sessions(conn, ward_id=ward_id,
                                        start=date.fromisoformat(period["from"]),
                                        end=date.fromisoformat(period["to"]))
    return report, found


async def _viewer(request: Request, ward_id: str) -> Principal:
    principal = await page_principal(request, ward_id, "viewer")
    if not re.match(WARD_ID_PATTERN, ward_id):
        raise PageDenied(403, "wrong_ward")  # only a token for every ward gets here
    return principal


@router.get(PAGE, include_in_schema=False)
async def report_page(request: Request, ward_id: str) -> Response:
    try:
        await _viewer(request, ward_id)
    except PageDenied as exc:
        return KIT.denied(request, exc, signin_url=ENTRY)
    raw_from, raw_to = request.query_params.get("from"), request.query_params.get("to")
    start, end, errors = parse_period(raw_from, raw_to)
    picked = {"from": raw_from or "", "to": raw_to or ""}
    if errors:
        return KIT.render(request, "report.html", 422, ward=ward_id, report=None, errors=errors,
                          picked=picked, defs="")
    report, found = await _figures(request, ward_id, start, end)
    lang = KIT.lang(request)
    t = KIT.texts.translator(lang)
    first, last = (date.fromisoformat(report["period"][k]) for k in ("from", "to"))
    query = urlencode({k: v for k, v in (("from", raw_from), ("to", raw_to)) if v})
    return KIT.render(
        request, "report.html", ward=ward_id, report=report, errors={}, picked=picked,
        start=first, end=last, sessions=found, calendar=calendar.calendar(found, first, last),
        statuses=calendar.STATUSES, channels=tables.CHANNELS, outcomes=tables.OUTCOMES,
        outcome_counts=[report["assists"][o] for o in tables.OUTCOMES],
        fills=("solid", "hatch", "dots"), top_reasons=TOP_REASONS, period_query=query,
        weeks_chart=view.weeks_chart(report, t, lang), defs=charts.defs(),
        weekday_name=lambda wd: i18n.weekday(first + timedelta(days=(wd - first.weekday()) % 7),
                                             lang, short=True),
        printed_at=datetime.now(calendar.WARD_TZ).strftime("%Y-%m-%d %H:%M"))


@router.get("/wards/{ward_id}/report/tables/{table}.csv", include_in_schema=False)
async def table_csv(request: Request, ward_id: str, table: str) -> Response:
    """One table of the page as CSV (UTF-8 with a BOM), for the same period."""
    try:
        await _viewer(request, ward_id)
    except PageDenied as exc:
        return JSONResponse({"error": exc.code, "message": "sign in with a viewer token of this "
                             "ward"}, exc.status)
    if table not in tables.TABLES:
        return JSONResponse({"error": "unknown_table", "message": f"tables: "
                             f"{', '.join(tables.TABLES)}", "field": "table"}, 404)
    start, end, errors = parse_period(request.query_params.get("from"),
                                      request.query_params.get("to"))
    if errors:
        field = next(iter(errors))
        return JSONResponse({"error": "invalid_request", "message": f"{field}: not a valid "
                             "period", "field": field}, 422)
    report, found = await _figures(request, ward_id, start, end)
    return Response(tables.to_csv(report, found, table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="{ward_id}-{table}-{report["period"]["from"]}'
                             f'-{report["period"]["to"]}.csv"',
                             "Cache-Control": "no-store"})


@router.get("/wards/{ward_id}/report/sessions", tags=["reporting"],
         summary="Each session of a period with its staffing status (the calendar's data)")
async def report_sessions(
    request: Request, ward_id: str,
    from_: date | None = Query(None, alias="from", description="First day (default: the campaign's)"),
    to: date | None = Query(None, description="Last day (default: the campaign's)"),
    _: Principal = Depends(require("viewer")),
) -> dict[str, Any]:
    if not re.match(WARD_ID_PATTERN, ward_id):
        raise CdtError("not a ward id", field="ward_id", code="invalid_request", status=422)
    if from_ and to and from_ > to:
        raise CdtError("from must not be after to", field="from", code="invalid_request",
                       status=422)
    async with request.app.state.runtime.pool.acquire() as conn:
        first, last = await campaign(conn, ward_id)
        start = from_ or first or date.today()  # the report's defaults
        end = to or last or start
        found = await calendar.sessions(conn, ward_id=ward_id, start=start, end=end)
    return {"ward_id": ward_id, "period": {"from": start.isoformat(), "to": end.isoformat()},
            "sessions": found}

