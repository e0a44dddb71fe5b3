"""Who may see a page: the same token check as the APIs (bearer or `cdt_token` cookie)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import jwt
from fastapi import Request, Response

from shared.auth import AuthError, Principal, Role, verify

TOKEN_COOKIE = "cdt_token"
MAX_COOKIE_SECONDS = 90 * 24 * 3600


class PageDenied(Exception):
    """No page for this caller: 401 (no valid token: the sign-in page) or 403 (another ward,
    a role too weak, a cross-site form)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def token_of(request: Request) -> str | None:
    """A bearer token first, then the cookie: the order `shared.auth.require` uses."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


async def principal_of(request: Request, token: str) -> Principal:
    """The token's principal; AuthError(401) when it is bad, expired or revoked."""
    runtime = request.app.state.runtime
    async with runtime.auth_pool.acquire() as conn:
        return await verify(conn, runtime.token_secret, token)


def check_access(principal: Principal, ward_id: str, role: Role) -> None:
    """Exactly the API's rule: the token's ward (or *) and at least the role."""
    if not principal.may_access(ward_id):
        raise PageDenied(403, "wrong_ward")
    if not principal.can(role):
        raise PageDenied(403, "role_too_weak")


async def page_principal(request: Request, ward_id: str, role: Role) -> Principal:
    """The caller of a ward's page, or PageDenied; a write also must come from this origin."""
    token = token_of(request)
    if not token:
        raise PageDenied(401, "token_missing")
    try:
        principal = await principal_of(request, token)
    except AuthError as exc:
        raise PageDenied(401, exc.code) from None
    check_access(principal, ward_id, role)
    if request.method == "POST" and not same_origin(request):
        raise PageDenied(403, "cross_origin")
    return principal


def same_origin(request: Request) -> bool:
    """A form POST from another site is refused (defence in depth: the cookie is SameSite=Strict,
    so such a POST carries no token anyway)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None  # no header: not a browser form (curl, tests); "null": refuse
    return urlsplit(origin).netloc == request.headers.get("host", "")


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def set_token_cookie(response: Response, request: Request, token: str, *, path: str) -> None:
    """HttpOnly, SameSite=Strict, Secure over https, scoped to one page's path, kept until the
    token expires (at most 90 days)."""
    expires = jwt.decode(token, options={"verify_signature": False}).get("exp", 0)
    seconds = int(min(MAX_COOKIE_SECONDS, max(0, expires - datetime.now(UTC).timestamp())))
    response.set_cookie(TOKEN_COOKIE, token, max_age=seconds, path=path, httponly=True,
                        samesite="strict", secure=is_https(request))


def clear_token_cookie(response: Response, request: Request, *, path: str) -> None:
    response.delete_cookie(TOKEN_COOKIE, path=path, httponly=True, samesite="strict",
                           secure=is_https(request))
