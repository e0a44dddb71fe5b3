"""The desk page: sign in by QR link, pick who you are, check in and out, log a citizen helped.

Server-rendered HTML forms (post, then redirect), no script. The token is the `cdt_token`
cookie (HttpOnly, SameSite=Strict, scoped to /wards/{ward}/desk), checked exactly as the API
checks it; writes go through the same commands as the API. CSRF: a cross-site form carries no
SameSite=Strict cookie, and a POST whose Origin is another site is refused as well.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from services.assist import commands, domain, store
from services.assist.domain import ID_PATTERN, WARD_TZ, AssistError, AssistRequest
from services.assist.web import desk, faces, queries
from services.assist.web.texts import ACTIONS, FACES, FIELDS, OUTCOMES, REASONS, TEXTS
from shared.auth import Principal, create_token
from shared.events.envelope import WARD_ID_PATTERN
from shared.web.access import PageDenied, page_principal
from shared.web.kit import PageKit
from shared.web.render import environment, static_router
from shared.web.signin import first, form_of, signin_router

PAGE = "/wards/{ward_id}/desk"
ENTRY = "/desk"
MEMBER_COOKIE = "cdt_member"
STATUS = {"invalid": 422, "conflict": 409, "not_found": 404}
DONE = ("checkin", "checkout", "assist", "me")

KIT = PageKit(environment(Path(__file__).parent / "web"), TEXTS)
KIT.env.globals["face"] = faces.face
router = APIRouter(include_in_schema=False)
router.include_router(signin_router(KIT, entry=ENTRY, page_path=PAGE, cookie_path=PAGE,
                                    role="desk"))
router.include_router(static_router(["cdt-web.css"]))


async def _caller(request: Request, ward_id: str, role: Any = "desk") -> Principal:
    principal = await page_principal(request, ward_id, role)
    if not re.match(WARD_ID_PATTERN, ward_id):
        raise PageDenied(403, "wrong_ward")  # only a token for every ward gets here
    return principal


def _chosen(request: Request) -> str | None:
    member = request.cookies.get(MEMBER_COOKIE, "")
    return member if re.match(ID_PATTERN, member) else None


async def _desk(request: Request, ward_id: str, principal: Principal, *, status: int = 200,
                errors: dict[str, str] | None = None, values: dict[str, Any] | None = None,
                form_errors: bool = False) -> Response:
    runtime = request.app.state.runtime
    now = runtime.clock()
    async with runtime.pool.acquire() as conn:
        if runtime.settings.clock == "watermark":
            now = await store.watermark(conn, ward_id=ward_id) or now
        start, end = domain.ward_day(now)
        sessions = [s for s in await store.sessions_between(conn, ward_id=ward_id, start=start,
                                                             end=end)
                    if s.starts_at is not None and start <= s.starts_at < end]
        checkins = await store.checkins_between(conn, ward_id=ward_id, start=start, end=end)
        members = await queries.members(conn, ward_id=ward_id)
        view = desk.build_view(
            sessions=sessions, checkins=checkins, members=members, me=_chosen(request), now=now,
            checkin_early=timedelta(minutes=runtime.settings.assist_checkin_early_minutes))
        count = (await queries.assists_by(conn, ward_id=ward_id, member_id=view.me.member_id,
                                          start=start, end=end) if view.me else 0)
    done = request.query_params.get("done")
    return KIT.render(
        request, "desk.html", status, ward=ward_id, view=view, day=start.date(),
        errors=errors or {}, form_errors=form_errors, count=count,
        values=values or desk.blank_values(str(uuid.uuid4())),
        done=done if done in DONE and not errors else None,
        is_operator=principal.can("operator"), fields=FIELDS, actions=ACTIONS,
        outcomes=OUTCOMES, reasons=REASONS, faces=FACES)


def _back(ward_id: str, done: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/wards/{ward_id}/desk?done={done}#{anchor}", status_code=303)


@router.get(PAGE)
async def desk_page(request: Request, ward_id: str) -> Response:
    try:
        principal = await _caller(request, ward_id)
    except PageDenied as exc:
        return KIT.denied(request, exc, signin_url=ENTRY)
    return await _desk(request, ward_id, principal)


@router.post(PAGE + "/me")
async def choose_me(request: Request, ward_id: str) -> Response:
    """Remember on this phone who the volunteer is (a cookie, so that it works without JS)."""
    try:
        principal = await _caller(request, ward_id)
    except PageDenied as exc:
        return KIT.denied(request, exc, signin_url=ENTRY)
    member = first(await form_of(request), "member_id")
    async with request.app.state.runtime.pool.acquire() as conn:
        known = await queries.members(conn, ward_id=ward_id)
    if member not in known or not known[member][1]:
        return await _desk(request, ward_id, principal, status=422,
                           errors={"member": "err.field.member"})
    response = _back(ward_id, "me", "sessions")
    response.set_cookie(MEMBER_COOKIE, member, max_age=180 * 24 * 3600,
                        path=PAGE.format(ward_id=ward_id), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


async def _session_write(request: Request, ward_id: str, done: str) -> Response:
    try:
        principal = await _caller(request, ward_id)
    except PageDenied as exc:
        return KIT.denied(request, exc, signin_url=ENTRY)
    form = await form_of(request)
    member, place = first(form, "member_id"), f"session-{first(form, 'session') or 0}"
    runtime = request.app.state.runtime
    try:
        if not member:
            raise AssistError("pick_member", "member_id is required", field="member_id")
        if done == "checkin":
            await commands.check_in(runtime, ward_id=ward_id, member_id=member,
                                    shift_id=first(form, "shift_id") or None, at=None)
        else:
            await commands.check_out(runtime, ward_id=ward_id,
                                     checkin_id=first(form, "checkin_id"), at=None)
    except AssistError as exc:
        where = "member" if exc.field in ("member_id", "member_ids") else place
        key = desk.errors_of(exc).popitem()[1]
        return await _desk(request, ward_id, principal, status=STATUS[exc.kind],
                           errors={where: key})
    return _back(ward_id, done, "sessions")


@router.post(PAGE + "/checkin")
async def check_in(request: Request, ward_id: str) -> Response:
    return await _session_write(request, ward_id, "checkin")


@router.post(PAGE + "/checkout")
async def check_out(request: Request, ward_id: str) -> Response:
    return await _session_write(request, ward_id, "checkout")


@router.post(PAGE + "/assist")
async def log_assist(request: Request, ward_id: str) -> Response:
    """One citizen helped; the form's assist_id makes a double tap or a retry log once."""
    try:
        principal = await _caller(request, ward_id)
    except PageDenied as exc:
        return KIT.denied(request, exc, signin_url=ENTRY)
    form = await form_of(request)
    try:
        body = AssistRequest.model_validate(desk.assist_body(form, first(form, "member_id")))
        await commands.log_assist(request.app.state.runtime, ward_id=ward_id, request=body)
    except (ValidationError, AssistError) as exc:
        status = STATUS[exc.kind] if isinstance(exc, AssistError) else 422
        return await _desk(request, ward_id, principal, status=status, errors=desk.errors_of(exc),
                           values=desk.form_values(form), form_errors=True)
    return _back(ward_id, "assist", "log")


@router.get(PAGE + "/qr")
async def qr_form(request: Request, ward_id: str) -> Response:
    """The operator's page to print a sign-in QR code for the ward's volunteers."""
    try:
        await _caller(request, ward_id, "operator")
    except PageDenied as exc:
        return KIT.denied(request, exc, signin_url=ENTRY)
    return KIT.render(request, "qr.html", ward=ward_id, qr=None, days="30", error=None)


@router.post(PAGE + "/qr")
async def qr_code(request: Request, ward_id: str) -> Response:
    """A new desk token of this ward (shown once), as a QR code of the sign-in link."""
    try:
        await _caller(request, ward_id, "operator")
    except PageDenied as exc:
        return KIT.denied(request, exc, signin_url=ENTRY)
    days_text = first(await form_of(request), "days")
    days = int(days_text) if days_text.isdigit() else 0
    if not 1 <= days <= 90:
        return KIT.render(request, "qr.html", 422, ward=ward_id, qr=None, days=days_text,
                          error="qr.days_invalid")
    runtime = request.app.state.runtime
    async with runtime.auth_pool.acquire() as conn:
        token = await create_token(conn, runtime.token_secret, ward_id=ward_id, role="desk",
                                   ttl=timedelta(days=days), label="desk QR code")
    link = f"{str(request.base_url).rstrip('/')}{ENTRY}?token={token}"
    svg = segno.make(link, error="m").svg_inline(scale=4, omitsize=True, svgclass="qr",
                                                 title=TEXTS.translator(KIT.lang(request))(
                                                     "qr.scan", ward=ward_id))
    svg = svg.replace("<svg ", '<svg role="img" ', 1)
    expires = (datetime.now(UTC) + timedelta(days=days)).astimezone(WARD_TZ).date()
    return KIT.render(request, "qr.html", ward=ward_id, qr=Markup(svg), link=link,
                      expires=expires)
