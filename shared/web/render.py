"""Server-rendered pages: a Jinja2 environment (autoescaped), security headers, shared CSS."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.web import i18n

HERE = Path(__file__).parent
STATIC = HERE / "static"

# Only this origin's stylesheet and script; no inline script; forms post only here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on a POST,
    # and the form handlers check the origin.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages hold names and figures
}


def environment(*template_dirs: Path) -> Environment:
    """Templates of a service, falling back to the shared ones (base, sign-in, denied)."""
    loaders = [FileSystemLoader(str(d)) for d in (*template_dirs, HERE / "templates")]
    env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(number=i18n.number, percent=i18n.percent, day_label=i18n.day_label,
                       weekday=i18n.weekday, asset=asset_url)
    return env


def page(env: Environment, template: str, status: int = 200,
         headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    html = env.get_template(template).render(**context)
    return HTMLResponse(html, status, headers={**SECURITY_HEADERS, **(headers or {})})


@cache
def _asset(name: str) -> tuple[bytes, str]:
    body = (STATIC / name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:10]


def asset_url(name: str) -> str:
    """/static/NAME?v=HASH, so that a changed file is fetched again."""
    return f"/static/{name}?v={_asset(name)[1]}"


_MEDIA = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def static_router(names: Sequence[str]) -> APIRouter:
    """The shared stylesheet and scripts, public (they hold no data)."""
    router = APIRouter(include_in_schema=False)

    def serve(name: str):  # type: ignore[no-untyped-def]
        async def get() -> Response:
            body, _ = _asset(name)
            return Response(body, media_type=_MEDIA[Path(name).suffix], headers={
                "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})
        return get

    for name in names:
        router.add_api_route(f"/static/{name}", serve(name), methods=["GET"])
    return router
