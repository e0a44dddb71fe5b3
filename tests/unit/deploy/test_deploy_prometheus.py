"""Prometheus config, rules and their unit tests pass promtool; every dashboard query is valid PromQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.config import DEFAULT_PORTS, SERVICES
from tests.integration.deploy.promql_sources import (
    DASHBOARD,
    PROMETHEUS_DIR,
    RULE_FILES,
    alerts,
    as_prometheus_sees_it,
    dashboard_panels,
    dashboard_queries,
    every_expression,
)

ROOT = PROMETHEUS_DIR.parents[1]
REQUIRED_ALERTS = {"SessionUnderstaffed", "OnlineRatioBelowTarget", "ConsumerLag",
                   "DeadLettersAppearing", "ServiceDown"}
# Gauges that every reporting replica exports with the same value: max by (ward), never sum.
WARD_GAUGES = ("cdt_online_dossier_ratio", "cdt_fully_online_dossier_ratio",
               "cdt_online_dossier_target_ratio", "cdt_citizen_satisfaction_ratio")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: apt-get update && apt-get install -y prometheus")
    return path


def run(promtool: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize("config", ["prometheus.yml", "kubernetes.yml"])
def test_the_scrape_configs_are_valid_and_load_every_rule_file(promtool: str, config: str) -> None:
    output = run(promtool, "check", "config", config)
    assert f"{len(RULE_FILES)} rule files found" in output


def test_the_rules_are_valid(promtool: str) -> None:
    run(promtool, "check", "rules", *[str(p) for p in RULE_FILES])


def test_the_rule_unit_tests_pass(promtool: str) -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    output = run(promtool, "test", "rules", *[str(p.relative_to(PROMETHEUS_DIR)) for p in tests])
    assert "FAILED" not in output


def test_the_required_alerts_exist_with_severity_and_summary() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert REQUIRED_ALERTS <= set(names)
    assert len(names) == len(set(names))
    for rule in alerts():
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_does_not() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fires == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"


def test_online_ratio_alert_waits_a_week() -> None:
    (rule,) = [r for r in alerts() if r["alert"] == "OnlineRatioBelowTarget"]
    assert rule["for"] == "7d"


def test_ward_gauges_are_aggregated_with_max_by_ward_never_summed() -> None:
    for where, expr in every_expression():
        flat = re.sub(r"\s+", " ", expr)
        for gauge in WARD_GAUGES:
            uses = len(re.findall(rf"\b{gauge}\b(?!_)", flat))
            wrapped = len(re.findall(rf"max by \(ward\) \({gauge}\b(?!_)", flat))
            assert uses == wrapped, f"{where}: {gauge} not under max by (ward): {flat}"


def test_prometheus_scrapes_each_service_where_compose_runs_it() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for name in SERVICES:
        (static,) = jobs[name]["static_configs"]
        assert static["targets"] == [f"{name}:{DEFAULT_PORTS[name]}"]
        assert name in compose
    kubernetes = yaml.safe_load((PROMETHEUS_DIR / "kubernetes.yml").read_text())
    assert {job["job_name"] for job in kubernetes["scrape_configs"]} == set(SERVICES)


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 15
    rules = [{"record": f"dashboard:query_{i}:check", "expr": as_prometheus_sees_it(expr)}
             for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    output = run(promtool, "check", "rules", str(path))
    assert f"{len(rules)} rules found" in output


def test_the_dashboard_shows_what_the_campaign_needs() -> None:
    exprs = " ".join(expr for _, expr in dashboard_queries())
    for metric in ("cdt_online_dossier_ratio", "cdt_online_dossier_target_ratio",
                   "cdt_fully_online_dossier_ratio", "cdt_shifts_total", "cdt_assists_total",
                   "cdt_volunteer_seconds_total", "cdt_events_processed_total",
                   "cdt_events_rejected_total", "cdt_event_lag_seconds_bucket", "up{",
                   "faststream_received_messages_total"):
        assert metric in exprs, metric
    online = [p for p in dashboard_panels() if p["title"] == "Online share vs target, per ward"]
    (panel,) = online
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert {"color": "red", "value": 0.8} in steps  # the 80% line
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"


def test_the_dashboard_uses_the_provisioned_datasource_and_is_well_formed() -> None:
    datasources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "cdt-desk"
    panels = dashboard_panels()
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]
    (ward,) = dashboard["templating"]["list"]
    assert ward["name"] == "ward" and ward["allValue"] == ".*"
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/cdt-desk.yml").read_text())["providers"][0]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in compose["volumes"]
