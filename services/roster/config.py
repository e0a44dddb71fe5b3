"""Settings of the roster service."""

from typing import ClassVar

from pydantic import Field, field_validator

from shared.config import ServiceSettings, _check_postgres_url


class RosterSettings(ServiceSettings):
    """Environment variables of the roster service (prefix CDT_)."""

    SERVICE: ClassVar[str] = "roster"

    roster_port: int = Field(default=8001, ge=1, le=65535, description="HTTP port of the roster service")
    roster_database_url: str | None = Field(
        default=None, description="The roster service's own database; default {database}_roster"
    )

    _check_own_url = field_validator("roster_database_url")(
        classmethod(lambda cls, v: _check_postgres_url(v))
    )
