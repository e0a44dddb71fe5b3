"""Access tokens: signed, ward- and role-scoped, expiring and revocable; one check for all services."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.db import load_migrations

Role = Literal["operator", "desk", "viewer"]
ROLES: tuple[Role, ...] = ("viewer", "desk", "operator")  # each role can do what those before can
ALL_WARDS = "*"
MIGRATIONS = load_migrations(Path(__file__).parent / "auth_migrations")
_ALGORITHM = "HS256"
_ISSUER = "cdt-desk"

INSERT = """INSERT INTO tokens (jti, ward_id, role, label, expires_at)
VALUES ($1, $2, $3, $4, $5)"""
LOOKUP = "SELECT ward_id, role, expires_at, revoked_at FROM tokens WHERE jti = $1"
REVOKE = "UPDATE tokens SET revoked_at = now() WHERE jti = $1 AND revoked_at IS NULL"


class AuthError(Exception):
    """A request that may not proceed; `status` is 401 or 403, `message` says why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's id, ward and role."""

    token_id: str
    ward_id: str
    role: Role

    def can(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def may_access(self, ward_id: str) -> bool:
        return self.ward_id in (ALL_WARDS, ward_id)


def new_secret() -> str:
    return secrets.token_urlsafe(48)


async def create_token(conn: asyncpg.Connection, secret: str, *, ward_id: str, role: Role,
                       ttl: timedelta = timedelta(days=90), label: str | None = None) -> str:
    """Issue a token; only its id and claims are stored, so it is shown once."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    jti = str(uuid.uuid4())
    now = datetime.now(UTC)
    expires = now + ttl
    await conn.execute(INSERT, jti, ward_id, role, label, expires)
    claims = {"jti": jti, "ward": ward_id, "role": role, "iat": now, "exp": expires,
              "iss": _ISSUER}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def token_id(token: str) -> str:
    """The id of a token (or the id itself), without checking its signature."""
    if token.count(".") != 2:
        return token
    return str(jwt.decode(token, options={"verify_signature": False}).get("jti", ""))


async def revoke_token(conn: asyncpg.Connection, token_or_id: str) -> bool:
    """Revoke a token by its value or id; False when no such live token."""
    result = await conn.execute(REVOKE, token_id(token_or_id))
    return result.endswith(" 1")


async def verify(conn: asyncpg.Connection, secret: str, token: str) -> Principal:
    """The principal of a valid token; AuthError(401) when it is bad, expired or revoked."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], issuer=_ISSUER,
                            options={"require": ["jti", "exp", "iat"]})
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "token_expired", "the token has expired") from None
    except jwt.InvalidTokenError:
        raise AuthError(401, "token_invalid", "the token is not valid") from None
    row = await conn.fetchrow(LOOKUP, claims["jti"])
    if row is None:
        raise AuthError(401, "token_unknown", "the token is not known here")
    if row["revoked_at"] is not None:
        raise AuthError(401, "token_revoked", "the token has been revoked")
    if row["expires_at"] <= datetime.now(UTC):
        raise AuthError(401, "token_expired", "the token has expired")
    return Principal(token_id=claims["jti"], ward_id=row["ward_id"], role=row["role"])


_bearer = HTTPBearer(auto_error=False)


def require(role: Role, *, all_wards: bool = False):
    """A FastAPI dependency: a valid token with at least `role`, for the path's `ward_id`.

    Routes without a ward in their path act on every ward, so they need `all_wards`.
    """

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        token = credentials.credentials if credentials else request.cookies.get("cdt_token")
        if not token:
            raise AuthError(401, "token_missing", "a bearer token is required")
        runtime = request.app.state.runtime
        async with runtime.auth_pool.acquire() as conn:
            principal = await verify(conn, runtime.token_secret, token)
        ward_id = request.path_params.get("ward_id")
        if ward_id is not None and not principal.may_access(ward_id):
            raise AuthError(403, "wrong_ward", f"the token is for ward {principal.ward_id}, "
                            f"not {ward_id}")
        if all_wards and principal.ward_id != ALL_WARDS:
            raise AuthError(403, "all_wards_required", "this needs a token for all wards (*)")
        if not principal.can(role):
            raise AuthError(403, "role_too_weak", f"this needs the {role} role; the token has "
                            f"{principal.role}")
        return principal

    return dependency
