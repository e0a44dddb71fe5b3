"""The whole system for `cdt up` and `cdt demo`: started, addressed, and always stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table

from cdt import serving, tokens
from cdt.output import console, fail
from shared.config import CommonSettings, ConfigError, load_settings


def operator_token(settings: CommonSettings) -> str:
    """The all-wards operator token of this state directory (issued once, kept 0600)."""
    path = settings.state_dir / "operator.token"
    if path.exists():
        return path.read_text().strip()
    token = asyncio.run(tokens.issue(settings, "*", "operator", 365, "cdt up"))
    path.touch(mode=0o600)
    path.write_text(token)
    return token


def print_addresses(system: serving.System) -> None:
    table = Table(title="CDT Desk đang chạy / running", show_lines=False)
    table.add_column("service")
    table.add_column("address")
    for name, url in system.urls.items():
        table.add_row(name, f"{url}  (API {url}/docs, events {url}/asyncapi)")
    table.add_row("báo cáo / report page", f"{system.urls['reporting']}/report "
                  f"(token: {system.settings.state_dir / 'operator.token'})")
    table.add_row("bàn hỗ trợ / desk page", f"{system.urls['assist']}/desk")
    table.add_row("metrics", f"{system.urls['reporting']}/metrics")
    for line in system.infra.embedded if system.infra else []:
        table.add_row("embedded", line)
    console.print(table)


@contextmanager
def running_system(what: str) -> Iterator[tuple[serving.System, CommonSettings, str]]:
    """(system, settings, operator token); Ctrl-C or an error stops everything started."""
    try:
        settings = load_settings(CommonSettings)
    except ConfigError as exc:
        fail(f"configuration: {exc}")
    system = serving.System(settings)
    try:
        with console.status("Đang khởi động / starting broker, database and services…"):
            system.start()
        assert system.infra is not None
        settings = load_settings(CommonSettings, database_url=system.infra.database_url)
        yield system, settings, operator_token(settings)
    except KeyboardInterrupt:
        pass
    except typer.Exit:
        raise  # already explained in one line
    except Exception as exc:  # noqa: BLE001 - one line for the user, details in the logs
        fail(f"{what}: {exc}")
    finally:
        with console.status("stopping…"):
            system.stop()
        console.print("stopped")
