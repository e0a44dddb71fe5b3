"""Tokens through a running service: who may read and write which ward, and why not."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import httpx
import jwt
import pytest

from shared.auth import create_token, revoke_token
from tests.conftest import TOKEN_SECRET
from tests.integration.delivery.conftest import Probe

pytestmark = pytest.mark.integration


@pytest.fixture
def probe(probe_env, tmp_path) -> Probe:
    probe = Probe(probe_env, tmp_path / "probe.log")
    probe.start()
    yield probe
    probe.stop()


def _get(probe: Probe, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"http://127.0.0.1:{probe.port}{path}", headers=headers)


def _post(probe: Probe, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"http://127.0.0.1:{probe.port}{path}", headers=headers)


async def test_each_refusal_says_why_in_json(probe: Probe, auth_conn) -> None:
    viewer = await create_token(auth_conn, TOKEN_SECRET, ward_id="ban-thach", role="viewer")
    operator = await create_token(auth_conn, TOKEN_SECRET, ward_id="ban-thach", role="operator")
    other = await create_token(auth_conn, TOKEN_SECRET, ward_id="tam-ky", role="operator")
    expired = await create_token(auth_conn, TOKEN_SECRET, ward_id="ban-thach", role="operator",
                                 ttl=timedelta(seconds=-1))
    revoked = await create_token(auth_conn, TOKEN_SECRET, ward_id="ban-thach", role="operator")
    assert await revoke_token(auth_conn, revoked)
    forged = jwt.encode({"jti": "x", "ward": "ban-thach", "role": "operator", "iat": 0,
                         "exp": 4_000_000_000, "iss": "cdt-desk"}, "another-secret-" + "y" * 32)

    cases = [
        (_get, None, 401, "token_missing"),
        (_get, "not-a-token", 401, "token_invalid"),
        (_get, forged, 401, "token_invalid"),
        (_get, expired, 401, "token_expired"),
        (_get, revoked, 401, "token_revoked"),
        (_get, other, 403, "wrong_ward"),
        (_post, other, 403, "wrong_ward"),
        (_post, viewer, 403, "role_too_weak"),
    ]
    for call, token, status, code in cases:
        response = call(probe, "/wards/ban-thach/produced", token)
        assert response.status_code == status, (code, response.text)
        assert response.json()["error"] == code
        assert response.json()["message"]
    assert _get(probe, "/wards/ban-thach/produced", viewer).status_code == 200
    assert _post(probe, "/wards/ban-thach/produced", operator).status_code == 200


async def test_health_and_metrics_need_no_token_but_admin_needs_an_all_wards_operator(
        probe: Probe, auth_conn) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/asyncapi.json"):
        assert _get(probe, path).status_code == 200, path
    ward_operator = await create_token(auth_conn, TOKEN_SECRET, ward_id="ban-thach",
                                       role="operator")
    response = _post(probe, "/admin/outbox/republish?since=2025-01-01T00:00:00%2B07:00",
                     ward_operator)
    assert response.status_code == 403
    assert response.json()["error"] == "all_wards_required"


async def test_cdt_token_create_and_revoke_work_on_the_token_database(
        probe: Probe, service_env) -> None:
    env = {**service_env, "PYTHONPATH": os.getcwd()}
    created = subprocess.run([sys.executable, "-m", "cdt", "token", "create", "--ward",
                              "ban-thach", "--role", "viewer"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert _get(probe, "/wards/ban-thach/produced", token).status_code == 200
    revoked = subprocess.run([sys.executable, "-m", "cdt", "token", "revoke", token], env=env,
                             capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    assert _get(probe, "/wards/ban-thach/produced", token).json()["error"] == "token_revoked"
    bad_role = subprocess.run([sys.executable, "-m", "cdt", "token", "create", "--ward",
                               "ban-thach", "--role", "admin"], env=env, capture_output=True,
                              text=True, timeout=60)
    assert bad_role.returncode != 0
    assert "--role" in bad_role.stderr and "Traceback" not in bad_role.stderr
