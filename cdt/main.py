"""The `cdt` command: one entry point for operators, services and the demo."""

from __future__ import annotations

from pathlib import Path

import typer

from cdt import assist_cli, outbox_cli, reporting_cli, roster_cli, serving, system, tokens
from cdt.output import console
from shared.config import SERVICES

app = typer.Typer(
    help="CDT Desk: rosters, desk activity and online-dossier reports for community digital "
    "technology teams (Tổ công nghệ số cộng đồng).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(tokens.app, name="token")
app.add_typer(reporting_cli.app, name="reporting")
app.command("report")(reporting_cli.report)
app.add_typer(outbox_cli.app, name="outbox")
app.add_typer(roster_cli.app, name="roster")
app.add_typer(assist_cli.app, name="assist")


@app.command()
def serve(service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)}")) -> None:
    """Run one service (HTTP API, consumers and outbox relay) in this process."""
    serving.serve(service)


@app.command()
def up() -> None:
    """Start the broker and database (embedded unless configured) and the three services."""
    with system.running_system("could not start") as (running, settings, _):
        system.print_addresses(running)
        console.print(f"Operator token: {settings.state_dir / 'operator.token'}. "
                      "Ctrl-C dừng / stops everything.")
        serving.wait_for_interrupt(running)


@app.command()
def demo(
    days: int = typer.Option(None, min=1, help="Play only the first N working days"),
    speed: float = typer.Option(0.0, min=0.0, help="Simulated days per second (0: as fast as "
                                "the services go)"),
    seed: int = typer.Option(2025, help="Seed of the simulation (same seed, same campaign)"),
    wait: bool = typer.Option(True, help="Keep serving after the report until Ctrl-C"),
    report_json: Path = typer.Option(None, help="Also write the final report to this JSON file"),
) -> None:
    """Start everything and play the Bàn Thạch campaign (11 Aug - 31 Dec 2025) through it."""
    from cdt.demo.command import run_demo

    run_demo(days=days, speed=speed, seed=seed, wait=wait, report_json=report_json)


def main() -> None:
    app()


