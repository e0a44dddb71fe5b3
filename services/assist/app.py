"""Composition root of the assist service: desk check-ins, citizens helped, dossiers received."""

from pathlib import Path

from fastapi import FastAPI

from services.assist import api, handlers, jobs, pages
from services.assist.config import AssistSettings
from shared.config import load_settings
from shared.events import assist, intake, roster
from shared.service import Consumes, ServiceSpec, create_service_app, utc_now

SPEC = ServiceSpec(
    name="assist",
    title="CDT Desk assist service",
    description="Desk check-ins and check-outs, every citizen helped, and the dossiers received "
    "from the provincial system.",
    migrations_dir=Path(__file__).parent / "migrations",
    topic=assist.TOPIC,
    produces=assist.EVENT_TYPES,
    consumes=(
        Consumes(roster.TOPIC, roster.EVENT_TYPES, handlers.apply_roster),
        Consumes(intake.TOPIC, intake.EVENT_TYPES, handlers.apply_intake),
    ),
    routers=(api.router, pages.router),
    background=(jobs.close_checkouts_periodically,),
)


def create_app(settings: AssistSettings | None = None, *, clock=utc_now) -> FastAPI:
    return create_service_app(SPEC, settings or load_settings(AssistSettings), clock=clock)
