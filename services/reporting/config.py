"""Settings of the reporting service."""

from typing import ClassVar

from pydantic import Field, field_validator

from shared.config import ServiceSettings, _check_postgres_url


class ReportingSettings(ServiceSettings):
    """Environment variables of the reporting service (prefix CDT_)."""

    SERVICE: ClassVar[str] = "reporting"

    reporting_port: int = Field(default=8003, ge=1, le=65535,
                                description="HTTP port of the reporting service")
    reporting_database_url: str | None = Field(
        default=None, description="The reporting service's own database; default {database}_reporting"
    )
    reporting_staffed_grace_minutes: int = Field(
        default=15, ge=0, le=240,
        description="A session is staffed when min_staff assigned members checked in no later than "
        "this many minutes after its start (changing it needs `cdt reporting rebuild`)")
    reporting_online_target: float = Field(
        default=0.8, ge=0, le=1, description="Target share of dossiers submitted online")
    reporting_online_target_overrides: dict[str, float] = Field(
        default_factory=dict,
        description='Per-ward targets as JSON, e.g. {"ban-thach": 0.85}; other wards use the default')
    reporting_tick_seconds: float = Field(
        default=1.0, gt=0, le=60,
        description="How often the alert job looks for sessions past their grace period and days that ended")

    _check_own_url = field_validator("reporting_database_url")(
        classmethod(lambda cls, v: _check_postgres_url(v))
    )

    @field_validator("reporting_online_target_overrides")
    @classmethod
    def _check_overrides(cls, value: dict[str, float]) -> dict[str, float]:
        for ward, target in value.items():
            if not 0 <= target <= 1:
                raise ValueError(f"the target of {ward} must be between 0 and 1")
        return value

    def target_for(self, ward_id: str) -> float:
        return self.reporting_online_target_overrides.get(ward_id, self.reporting_online_target)
