"""`cdt token`: issue and revoke access tokens (written straight to the token database)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import typer

from cdt import infra
from cdt.output import console, fail
from shared import auth, db
from shared.config import CommonSettings, ConfigError, load_settings
from shared.events.envelope import WARD_ID_PATTERN

app = typer.Typer(help="Access tokens for the HTTP APIs and pages (Mã truy cập).",
                  no_args_is_help=True)


def _auth_url(settings: CommonSettings) -> str:
    server = settings.database_url or infra.read_state(settings.state_dir).get("database_url")
    if not server and not settings.auth_database_url:
        fail("no database: set CDT_DATABASE_URL, or start the system with `cdt up` first")
    return db.service_database_url(server or "", "auth", settings.auth_database_url)


def _settings() -> CommonSettings:
    try:
        return load_settings(CommonSettings)
    except ConfigError as exc:
        fail(f"configuration: {exc}")


async def issue(settings: CommonSettings, ward: str, role: str, days: int,
                label: str | None) -> str:
    url = _auth_url(settings)
    await db.prepare_database(url, auth.MIGRATIONS)
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await auth.create_token(conn, infra.token_secret(settings), ward_id=ward,
                                       role=role, ttl=timedelta(days=days), label=label)
    finally:
        await conn.close()


@app.command("create")
def create(
    ward: str = typer.Option(..., help="Ward id (phường/xã), e.g. ban-thach; * for all wards"),
    role: str = typer.Option(..., help="operator | desk | viewer"),
    days: int = typer.Option(90, min=1, max=3650, help="Days until the token expires"),
    label: str = typer.Option(None, help="Who or what the token is for (kept, not secret)"),
) -> None:
    """Print a new token once; it is never stored in clear."""
    if role not in auth.ROLES:
        fail(f"--role must be one of {', '.join(auth.ROLES)}, not {role!r}")
    if ward != auth.ALL_WARDS and not re.match(WARD_ID_PATTERN, ward):
        fail(f"--ward {ward!r} is not a ward id (lowercase letters, digits and dashes)")
    settings = _settings()
    try:
        token = asyncio.run(issue(settings, ward, role, days, label))
    except OSError as exc:
        fail(f"cannot reach the token database: {exc}")
    console.print(token, soft_wrap=True, highlight=False)


@app.command("revoke")
def revoke(token: str = typer.Argument(..., help="The token, or its id")) -> None:
    """Revoke a token at once, in every service."""
    settings = _settings()

    async def _revoke() -> bool:
        import asyncpg

        conn = await asyncpg.connect(_auth_url(settings))
        try:
            return await auth.revoke_token(conn, token)
        finally:
            await conn.close()

    try:
        revoked = asyncio.run(_revoke())
    except OSError as exc:
        fail(f"cannot reach the token database: {exc}")
    if not revoked:
        fail("no such live token")
    console.print("revoked")
