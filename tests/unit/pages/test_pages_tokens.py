"""Page access follows the API's rule exactly: bearer before cookie, the token's ward (or *), at
least the role; the sign-in cookie is HttpOnly, SameSite=Strict, Secure over https, one page's."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from fastapi import Response
from starlette.requests import Request

from shared.auth import Principal
from shared.web.access import (
    PageDenied,
    check_access,
    same_origin,
    set_token_cookie,
    token_of,
)


def request(method: str = "GET", scheme: str = "http", **headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": method, "scheme": scheme, "path": "/",
                    "query_string": b"", "headers": [(b"host", b"desk.example:8002"), *raw],
                    "server": ("desk.example", 8002)})


def test_a_bearer_token_comes_before_the_cookie() -> None:
    assert token_of(request(authorization="Bearer abc", cookie="cdt_token=xyz")) == "abc"
    assert token_of(request(cookie="cdt_token=xyz")) == "xyz"
    assert token_of(request(authorization="Basic abc")) is None
    assert token_of(request()) is None


@pytest.mark.parametrize(("ward", "role", "path_ward", "needed", "code"), [
    ("ban-thach", "desk", "ban-thach", "desk", None),
    ("ban-thach", "operator", "ban-thach", "desk", None),
    ("*", "viewer", "ban-thach", "viewer", None),
    ("tam-ky", "operator", "ban-thach", "viewer", "wrong_ward"),
    ("ban-thach", "viewer", "ban-thach", "desk", "role_too_weak"),
])
def test_the_ward_and_the_role_decide_like_the_api(ward, role, path_ward, needed, code) -> None:
    principal = Principal("id", ward, role)
    if code is None:
        check_access(principal, path_ward, needed)
        return
    with pytest.raises(PageDenied) as denied:
        check_access(principal, path_ward, needed)
    assert (denied.value.status, denied.value.code) == (403, code)


def test_a_form_posted_from_another_site_is_not_same_origin() -> None:
    assert same_origin(request("POST", origin="http://desk.example:8002"))
    assert not same_origin(request("POST", origin="http://evil.example"))
    assert not same_origin(request("POST", origin="null"))
    assert same_origin(request("POST", referer="http://desk.example:8002/wards/x/desk"))
    assert same_origin(request("POST"))  # not a browser form: the token is a bearer header


def token(days: float) -> str:
    from datetime import UTC, datetime

    return jwt.encode({"exp": datetime.now(UTC) + timedelta(days=days)}, "k" * 32)


def test_the_cookie_is_httponly_strict_scoped_and_lives_as_long_as_the_token() -> None:
    response = Response()
    set_token_cookie(response, request(), token(7), path="/wards/ban-thach/desk")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/wards/ban-thach/desk" in cookie and "Secure" not in cookie
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 7 * 86400 - 60 < max_age <= 7 * 86400


@pytest.mark.parametrize("how", [{"scheme": "https"}, {"x_forwarded_proto": "https"}])
def test_over_https_the_cookie_is_secure(how) -> None:
    response = Response()
    scheme = how.pop("scheme", "http")
    set_token_cookie(response, request(scheme=scheme, **how), token(400), path="/p")
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie
    assert int(cookie.split("Max-Age=")[1].split(";")[0]) == 90 * 86400  # at most 90 days
