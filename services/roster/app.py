"""Composition root of the roster service: teams, members and the rotation plan."""

from pathlib import Path

from fastapi import FastAPI

from services.roster import api, export_api, plan_api
from services.roster.config import RosterSettings
from services.roster.handlers import apply_assist_events
from shared.config import load_settings
from shared.events import assist, roster
from shared.service import Consumes, ServiceSpec, create_service_app, utc_now

SPEC = ServiceSpec(
    name="roster",
    title="CDT Desk roster service",
    description="Teams and members of the community digital technology teams, and the rotation "
    "plan of the service-center desk.",
    migrations_dir=Path(__file__).parent / "migrations",
    topic=roster.TOPIC,
    produces=roster.EVENT_TYPES,
    # Only check-ins matter here (a checked-in shift is never re-planned); the other assist
    # events arrive as UnknownEvent and are skipped, so the roster never dead-letters what it
    # does not use.
    consumes=(Consumes(assist.TOPIC, (assist.DeskCheckedIn,), apply_assist_events),),
    routers=(api.router, plan_api.router, export_api.router),
)


def create_app(settings: RosterSettings | None = None, *, clock=utc_now) -> FastAPI:
    return create_service_app(SPEC, settings or load_settings(RosterSettings), clock=clock)
