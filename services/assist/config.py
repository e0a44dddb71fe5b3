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
    assist_checkin_early_minutes: int = Field(
        default=30, ge=0, le=240,
        description="How many minutes before a session starts its check-in opens")
    assist_max_future_seconds: int = Field(
        default=300, ge=0, le=3600,
        description="How far ahead of the wall clock a given time (check-in, assist, dossier) may "
        "lie before it is refused as in the future")
    assist_max_duration_hours: float = Field(
        default=4.0, gt=0, le=24, description="Longest an assist may last (ended_at - started_at)")
    assist_default_duration_minutes: int = Field(
        default=15, ge=1, le=240,
        description="Duration assumed for an assist logged without started_at")
    assist_close_interval_seconds: float = Field(
        default=30.0, gt=0, le=3600,
        description="How often missing check-outs of sessions that are over are closed")
    assist_upload_retention_hours: int = Field(
        default=24, ge=1, le=720,
        description="How long the staged parts of an unfinished intake upload are kept")

    _check_own_url = field_validator("assist_database_url")(
        classmethod(lambda cls, v: _check_postgres_url(v))
    )
