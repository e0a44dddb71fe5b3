"""HTTP pieces every service shares: errors as JSON, body limits, health, metrics and AsyncAPI."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.specification import AsyncAPI, get_asyncapi_html
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import outbox
from shared.auth import AuthError, require
from shared.scrape import accepts_gzip

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


class CdtError(Exception):
    """An error a caller can act on: an HTTP status, a short code, a message, maybe a field."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        if status:
            self.status = status

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


def _validation_body(exc: RequestValidationError) -> dict[str, Any]:
    # Never echo the input back: it may hold personal data and it lands in logs.
    errors = [
        {"field": "body", "message": f"malformed JSON at character {err['loc'][-1]}: "
         f"{err.get('ctx', {}).get('error', err['msg'])}"}
        if err.get("type") == "json_invalid" else  # its loc is a position, not a field
        {"field": ".".join(str(p) for p in err["loc"] if p != "body") or "body",
         "message": err["msg"]}
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return {"error": "invalid_request", "message": f"{first['field']}: {first['message']}",
            "field": first["field"], "errors": errors}


def install_error_handlers(app: FastAPI) -> None:
    """Every error becomes a JSON body; no traceback ever reaches a caller."""

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.code, "message": exc.message}, exc.status,
                            headers=headers)

    @app.exception_handler(CdtError)
    async def _cdt(_: Request, exc: CdtError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_body(exc), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": "http_error", "message": str(exc.detail)}, exc.status_code)

    async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
        # Valid JSON can carry a NUL character (\u0000), which no PostgreSQL text or jsonb
        # value holds: the caller's input, answered 422 rather than 500.
        return JSONResponse({"error": "invalid_text", "message": "the request holds text that "
                             "cannot be stored (a NUL character)"}, 422)

    for unstorable in (asyncpg.exceptions.UntranslatableCharacterError,
                       asyncpg.exceptions.CharacterNotInRepertoireError):
        app.add_exception_handler(unstorable, _unstorable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method,
                  request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal", "message": "internal error; see the logs"},
                            500)

    app.add_middleware(BodyLimitMiddleware, limit=lambda: app.state.max_body)


class BodyLimitMiddleware:
    """413 for a body over the limit, whether it declares a content-length or comes chunked.

    A chunked body (no content-length) is read up to the limit before the app sees it, so that
    no route ever buffers more than the limit. A refused body is read and dropped (up to
    DRAIN_BYTES) before the answer: a client still sending would otherwise see the connection
    reset instead of the 413.
    """

    DRAIN_BYTES = 64_000_000

    def __init__(self, app: Any, *, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                if length.isdigit() and int(length) <= self.DRAIN_BYTES:
                    await self._drain(receive, int(length))
                await self._too_large(limit, scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                if message.get("more_body", False):
                    await self._drain(receive, self.DRAIN_BYTES - size)
                await self._too_large(limit, scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _drain(receive: Any, most: int) -> None:
        while most > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            most -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    @staticmethod
    async def _too_large(limit: int, scope: Any, receive: Any, send: Any) -> None:
        response = JSONResponse({"error": "body_too_large",
                                 "message": f"the body exceeds {limit} bytes"}, 413,
                                headers={"Connection": "close"})
        await response(scope, receive, send)


def health_router(asyncapi: AsyncAPI) -> APIRouter:
    """/healthz, /readyz, /metrics and the AsyncAPI document, none needing a token."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        runtime = request.app.state.runtime
        checks: dict[str, str] = {}
        try:
            pending = await runtime.pending_migrations(within=2.0)
            checks["database"] = "ok"
            checks["migrations"] = "ok" if not pending else f"pending: {', '.join(pending)}"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            ok = await runtime.broker.ping(timeout=2.0)
            checks["broker"] = "ok" if ok else "unreachable"
            if ok and not runtime.broker_started:
                checks["broker"] = "joining consumer groups"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                            200 if ready else 503)

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        # Served from the last rendering, compressed once per refresh (Prometheus asks for gzip).
        body = await request.app.state.runtime.metrics.current()
        headers = {"Vary": "Accept-Encoding"}
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return Response(body.gzipped, media_type=CONTENT_TYPE_LATEST, headers=headers)
        return Response(await asyncio.to_thread(body.text), media_type=CONTENT_TYPE_LATEST,
                        headers=headers)

    @router.get("/asyncapi.json")
    async def asyncapi_json() -> Response:
        return Response(asyncapi_document(asyncapi), media_type="application/json")

    @router.get("/asyncapi")
    async def asyncapi_page() -> HTMLResponse:
        # try_it_out_path=None: the "try it out" route could publish to the real broker.
        return HTMLResponse(get_asyncapi_html(asyncapi.to_specification(),
                                              try_it_out_path=None))

    return router


def admin_router() -> APIRouter:
    """Operations on the whole service, for an operator token of all wards (*)."""
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.post("/outbox/republish", dependencies=[Depends(require("operator", all_wards=True))])
    async def republish(request: Request, since: datetime = Query(
            ..., description="Re-publish every event sent at or after this time (RFC 3339)")
    ) -> dict[str, int]:
        """Publish again what was sent since a time, after a broker lost data.

        Consumers deduplicate by event id, so what they had applied is not applied twice.
        """
        if since.tzinfo is None:
            raise CdtError("since: give a time zone offset, e.g. 2025-09-08T08:00:00+07:00",
                           field="since", status=422)
        runtime = request.app.state.runtime
        if runtime.ensure_topics is not None:
            await runtime.ensure_topics()  # a broker that lost its data lost its topics too
        async with runtime.pool.acquire() as conn:
            count = await outbox.republish(conn, since)
        return {"republished": count}

    @router.get("/outbox", dependencies=[Depends(require("viewer", all_wards=True))])
    async def outbox_state(request: Request) -> dict[str, int]:
        """How many events wait in the outbox."""
        async with request.app.state.runtime.pool.acquire() as conn:
            return {"unsent": await outbox.unsent_count(conn)}

    return router


def asyncapi_document(asyncapi: AsyncAPI) -> str:
    """The AsyncAPI document as committed under docs/asyncapi/: keys sorted, so that it does
    not depend on set iteration order (string hashing is randomised per process)."""
    document = json.loads(asyncapi.to_specification().to_json())
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
