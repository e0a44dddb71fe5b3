"""Composition root of the roster service: teams, members and the rotation plan."""

from pathlib import Path

from fastapi import FastAPI

from services.roster.config import RosterSettings
from shared.config import load_settings
from shared.events import roster
from shared.service import ServiceSpec, create_service_app, utc_now

SPEC = ServiceSpec(
    name="roster",
    title="CDT Desk roster service",
    description="Teams and members of the community digital technology teams, and the rotation "
    "plan of the service-center desk.",
    migrations_dir=Path(__file__).parent / "migrations",
    topic=roster.TOPIC,
    produces=roster.EVENT_TYPES,
)


def create_app(settings: RosterSettings | None = None, *, clock=utc_now) -> FastAPI:
    return create_service_app(SPEC, settings or load_settings(RosterSettings), clock=clock)
