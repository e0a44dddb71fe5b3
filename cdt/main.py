"""The `cdt` command: one entry point for operators, services and the demo."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.table import Table

from cdt import outbox_cli, roster_cli, serving, tokens
from cdt.output import console, fail
from shared.config import SERVICES, CommonSettings, ConfigError, load_settings

app = typer.Typer(
    help="CDT Desk: rosters, desk activity and online-dossier reports for community digital "
    "technology teams (Tổ công nghệ số cộng đồng).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(tokens.app, name="token")
app.add_typer(outbox_cli.app, name="outbox")
app.add_typer(roster_cli.app, name="roster")


@app.command()
def serve(service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)}")) -> None:
    """Run one service (HTTP API, consumers and outbox relay) in this process."""
    serving.serve(service)


def _operator_token(settings: CommonSettings) -> str:
    path = settings.state_dir / "operator.token"
    if path.exists():
        return path.read_text().strip()
    token = asyncio.run(tokens.issue(settings, "*", "operator", 365, "cdt up"))
    path.touch(mode=0o600)
    path.write_text(token)
    return token


def start_system(settings: CommonSettings) -> serving.System:
    """The whole system, started; on any failure or Ctrl-C what was started is stopped."""
    system = serving.System(settings)
    with console.status("Đang khởi động / starting broker, database and services…"):
        try:
            system.start()
        except BaseException:
            system.stop()
            raise
    return system


def print_addresses(system: serving.System) -> None:
    table = Table(title="CDT Desk đang chạy / running", show_lines=False)
    table.add_column("service")
    table.add_column("address")
    for name, url in system.urls.items():
        table.add_row(name, f"{url}  (API {url}/docs, events {url}/asyncapi)")
    table.add_row("metrics", f"{system.urls['reporting']}/metrics")
    for line in system.infra.embedded if system.infra else []:
        table.add_row("embedded", line)
    console.print(table)


@app.command()
def up() -> None:
    """Start the broker and database (embedded unless configured) and the three services."""
    try:
        settings = load_settings(CommonSettings)
    except ConfigError as exc:
        fail(f"configuration: {exc}")
    system: serving.System | None = None
    try:
        system = start_system(settings)
        settings = load_settings(CommonSettings, database_url=system.infra.database_url)
        _operator_token(settings)
        print_addresses(system)
        console.print(f"Operator token: {settings.state_dir / 'operator.token'}. "
                      "Ctrl-C dừng / stops everything.")
        serving.wait_for_interrupt(system)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - one line for the operator, details in the logs
        fail(f"could not start: {exc}")
    finally:
        if system is not None:
            with console.status("stopping…"):
                system.stop()
            console.print("stopped")


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


