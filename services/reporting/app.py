"""Composition root of the reporting service: read models, metrics, reports and alerts."""

from pathlib import Path

from fastapi import FastAPI

from services.reporting import alerts, handlers, metrics, pages
from services.reporting.api import router
from services.reporting.config import ReportingSettings
from services.reporting.rebuild import Rebuilder
from shared.config import load_settings
from shared.events import assist, reporting, roster
from shared.service import Consumes, Runtime, ServiceSpec, create_service_app, utc_now

CONSUMES = (
    Consumes(roster.TOPIC, roster.EVENT_TYPES,
             prepare=handlers.roster_rows, write=handlers.write_roster),
    Consumes(assist.TOPIC, assist.EVENT_TYPES,
             prepare=handlers.assist_rows, write=handlers.write_assist, keyed=handlers.KEYED),
)


def _rebuilder(runtime: Runtime) -> Rebuilder:
    if "rebuilder" not in runtime.extras:
        runtime.extras["rebuilder"] = Rebuilder(
            runtime, CONSUMES)
    return runtime.extras["rebuilder"]


async def rebuild_job(runtime: Runtime) -> None:
    """Runs a requested (or interrupted) rebuild of the read models."""
    await _rebuilder(runtime).run_forever()


async def clock_job(runtime: Runtime) -> None:
    """Sessions past their grace period, understaffed alerts and daily summaries."""
    await alerts.run_clock_job(runtime)


def _install(runtime: Runtime) -> None:
    metrics.install(runtime)
    _rebuilder(runtime)


SPEC = ServiceSpec(
    name="reporting",
    title="CDT Desk reporting service",
    description="Read models of every ward's figures, the metrics against the 80% online target, "
    "reports for operators and alerts as events.",
    migrations_dir=Path(__file__).parent / "migrations",
    topic=reporting.TOPIC,
    produces=reporting.EVENT_TYPES,
    consumes=CONSUMES,
    routers=(router, pages.router),
    background=(clock_job, rebuild_job),
    metrics=(_install,),
)


def create_app(settings: ReportingSettings | None = None, *, clock=utc_now) -> FastAPI:
    return create_service_app(SPEC, settings or load_settings(ReportingSettings), clock=clock)
