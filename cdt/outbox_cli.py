"""`cdt outbox`: re-publish events after a broker lost data (consumers deduplicate)."""

from __future__ import annotations

from datetime import datetime

import typer

from cdt.client import Client
from cdt.output import console, fail
from shared.config import SERVICES

app = typer.Typer(help="The services' outboxes of events (Hộp thư sự kiện).", no_args_is_help=True)


@app.command("republish")
def republish(
    since: str = typer.Option(..., help="Re-publish what was sent at or after this time "
                              "(RFC 3339 with offset, e.g. 2025-09-08T08:00:00+07:00)"),
    service: list[str] = typer.Option(None, help="Only these services (default: all three)"),
) -> None:
    """Publish again every event sent since a time, e.g. after a Kafka restart lost data."""
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        fail(f"--since {since!r} is not a time like 2025-09-08T08:00:00+07:00")
    if moment.tzinfo is None:
        fail("--since needs a time zone offset, e.g. +07:00")
    for name in service or SERVICES:
        with Client(name) as client:
            result = client.post("/admin/outbox/republish", params={"since": moment.isoformat()})
        console.print(f"{name}: {result.json()['republished']} events re-published")
