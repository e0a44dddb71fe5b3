"""Composition root of the reporting service: read models, metrics, reports and alerts."""

from pathlib import Path

from fastapi import FastAPI

from services.reporting.config import ReportingSettings
from shared.config import load_settings
from shared.events import assist, reporting, roster
from shared.service import Consumes, ServiceSpec, create_service_app, utc_now


async def _ignore(runtime, conn, events) -> None:  # placeholder until the reporting issue lands
    return None


SPEC = ServiceSpec(
    name="reporting",
    title="CDT Desk reporting service",
    description="Read models of every ward's figures, the metrics against the 80% online target, "
    "reports for operators and alerts as events.",
    migrations_dir=Path(__file__).parent / "migrations",
    topic=reporting.TOPIC,
    produces=reporting.EVENT_TYPES,
    consumes=(
        Consumes(roster.TOPIC, roster.EVENT_TYPES, _ignore),
        Consumes(assist.TOPIC, assist.EVENT_TYPES, _ignore),
    ),
)


def create_app(settings: ReportingSettings | None = None, *, clock=utc_now) -> FastAPI:
    return create_service_app(SPEC, settings or load_settings(ReportingSettings), clock=clock)
