"""Settings of the reporting service."""

from typing import ClassVar

from pydantic import Field, field_validator

from shared.config import ServiceSettings, _check_postgres_url


class ReportingSettings(ServiceSettings):
    """Environment variables of the reporting service (prefix CDT_)."""

    SERVICE: ClassVar[str] = "reporting"

    reporting_port: int = Field(default=8003, ge=1, le=65535, description="HTTP port of the reporting service")
    reporting_database_url: str | None = Field(
        default=None, description="The reporting service's own database; default {database}_reporting"
    )

    _check_own_url = field_validator("reporting_database_url")(
        classmethod(lambda cls, v: _check_postgres_url(v))
    )
