"""HTTP client of the `cdt` command: finds the running services and the token, explains errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from cdt import infra
from cdt.output import fail
from shared.config import DEFAULT_PORTS


def service_url(service: str, state_dir: Path | None = None) -> str:
    """CDT_{SERVICE}_URL, else what `cdt up` recorded, else the default local port."""
    explicit = os.environ.get(f"CDT_{service.upper()}_URL")
    if explicit:
        return explicit.rstrip("/")
    state = infra.read_state(state_dir or Path(os.environ.get("CDT_STATE_DIR", ".cdt")))
    if service in state.get("services", {}):
        return state["services"][service]
    port = os.environ.get(f"CDT_{service.upper()}_PORT", DEFAULT_PORTS.get(service, 8000))
    return f"http://127.0.0.1:{port}"


def token(state_dir: Path | None = None) -> str:
    """CDT_TOKEN, else the operator token `cdt up` wrote."""
    explicit = os.environ.get("CDT_TOKEN")
    if explicit:
        return explicit
    path = (state_dir or Path(os.environ.get("CDT_STATE_DIR", ".cdt"))) / "operator.token"
    if path.exists():
        return path.read_text().strip()
    fail("no token: set CDT_TOKEN (see `cdt token create`), or start the system with `cdt up`")


def _explain(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    message = body.get("message") or body.get("error") or f"HTTP {response.status_code}"
    return f"{message} (HTTP {response.status_code})"


class Client:
    """Calls one service with the bearer token; any error ends the command with one line."""

    def __init__(self, service: str, *, timeout: float = 60.0) -> None:
        self.service = service
        self.base = service_url(service)
        self._http = httpx.Client(base_url=self.base, timeout=timeout,
                                  headers={"Authorization": f"Bearer {token()}"})

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach the {self.service} service at {self.base}: "
                 f"{type(exc).__name__}; is it running (`cdt up`)?")
        if response.status_code >= 400:
            fail(_explain(response))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
