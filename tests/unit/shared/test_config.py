"""Configuration: every bad setting stops start-up with one line naming the variable."""

import os
import subprocess
import sys

import pytest

from services.roster.config import RosterSettings
from shared.config import ConfigError, load_settings
from shared.db import service_database_url


@pytest.mark.parametrize(("variable", "value"), [
    ("CDT_ROSTER_PORT", "eighty"),
    ("CDT_DATABASE_URL", "mysql://localhost/cdt"),
    ("CDT_DATABASE_URL", "postgresql://postgres@localhost:port/cdt"),
    ("CDT_KAFKA_BOOTSTRAP", "localhost"),
    ("CDT_KAFKA_PARTITIONS", "0"),
    ("CDT_TOKEN_SECRET", "short"),
])
def test_a_bad_setting_names_its_variable(monkeypatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(RosterSettings, _env_file=None)
    assert str(caught.value).startswith(variable + ":")
    assert "\n" not in str(caught.value)


def test_the_cli_stops_with_one_line_and_no_traceback_on_a_bad_port() -> None:
    env = {**os.environ, "CDT_ROSTER_PORT": "not-a-number"}
    result = subprocess.run([sys.executable, "-m", "cdt", "serve", "roster"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "CDT_ROSTER_PORT" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_each_service_owns_a_database_named_after_the_server_url() -> None:
    server = "postgresql://postgres@127.0.0.1:5432/cdt"
    assert service_database_url(server, "roster") == "postgresql://postgres@127.0.0.1:5432/cdt_roster"
    assert service_database_url(server, "roster", "postgresql://h/other") == "postgresql://h/other"


def test_defaults_follow_the_contract_ports(monkeypatch) -> None:
    from services.assist.config import AssistSettings
    from services.reporting.config import ReportingSettings

    for name in ("CDT_ROSTER_PORT", "CDT_ASSIST_PORT", "CDT_REPORTING_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert RosterSettings(_env_file=None).port == 8001
    assert AssistSettings(_env_file=None).assist_port == 8002
    assert ReportingSettings(_env_file=None).reporting_port == 8003
