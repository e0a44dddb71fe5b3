"""Settings of the assist service."""

from typing import ClassVar

from pydantic import Field, field_validator

from shared.config import ServiceSettings, _check_postgres_url


class AssistSettings(ServiceSettings):
    """Environment variables of the assist service (prefix CDT_)."""

    SERVICE: ClassVar[str] = "assist"

    assist_port: int = Field(default=8002, ge=1, le=65535, description="HTTP port of the assist service")
    assist_database_url: str | None = Field(
        default=None, description="The assist service's own database; default {database}_assist"
    )

    _check_own_url = field_validator("assist_database_url")(
        classmethod(lambda cls, v: _check_postgres_url(v))
    )
