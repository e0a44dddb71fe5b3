"""Sign-in for a page: `ENTRY?token=...` (a printed link or QR code) or a pasted code sets the
`cdt_token` cookie for that ward's page and redirects there, without the token in the URL."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from shared.auth import ALL_WARDS, AuthError, Role
from shared.events.envelope import WARD_ID_PATTERN
from shared.web.access import clear_token_cookie, principal_of, set_token_cookie
from shared.web.i18n import LANG_COOKIE, LANGS
from shared.web.kit import PageKit


async def form_of(request: Request) -> dict[str, list[str]]:
    """An application/x-www-form-urlencoded body (the body limit middleware caps its size)."""
    body = (await request.body()).decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=True)


def first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


def signin_router(kit: PageKit, *, entry: str, page_path: str, cookie_path: str,
                  role: Role) -> APIRouter:
    """GET/POST `entry` signs in; POST `page_path/sign-out` signs out. `page_path` and
    `cookie_path` hold `{ward_id}`; the cookie is scoped to `cookie_path`, so that a desk
    code and a report code on the same host never replace each other."""
    router = APIRouter(include_in_schema=False)

    async def sign_in(request: Request, token: str, ward: str) -> Response:
        if not token:
            return kit.signin(request, action=entry, error="signin.token_missing", status=401)
        try:
            principal = await principal_of(request, token)
        except AuthError as exc:
            return kit.signin(request, action=entry, error=f"signin.{exc.code}", status=401)
        if not principal.can(role):
            return kit.signin(request, action=entry, error="signin.role_too_weak", status=403)
        if principal.ward_id != ALL_WARDS:
            ward = principal.ward_id  # the token decides the ward
        elif not ward:
            return kit.signin(request, action=entry, error="signin.ward_required",
                              ask_ward=True, status=400)
        elif not re.match(WARD_ID_PATTERN, ward):
            return kit.signin(request, action=entry, error="signin.ward_invalid",
                              ask_ward=True, status=400)
        response = RedirectResponse(page_path.format(ward_id=ward), status_code=303)
        set_token_cookie(response, request, token, path=cookie_path.format(ward_id=ward))
        lang = request.query_params.get("lang")
        if lang in LANGS:  # a link printed for English readers keeps them in English
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/",
                                samesite="lax")
        return response

    @router.get(entry)
    async def get_entry(request: Request) -> Response:
        token = request.query_params.get("token", "").strip()
        if not token:
            return kit.signin(request, action=entry)
        return await sign_in(request, token, request.query_params.get("ward", "").strip())

    @router.post(entry)
    async def post_entry(request: Request) -> Response:
        form = await form_of(request)
        return await sign_in(request, first(form, "token"), first(form, "ward"))

    @router.post(page_path + "/sign-out")
    async def sign_out(request: Request, ward_id: str) -> Response:
        response = RedirectResponse(entry, status_code=303)
        clear_token_cookie(response, request, path=cookie_path.format(ward_id=ward_id))
        return response

    return router

