"""Every PromQL expression of deploy/: the rules and the Grafana dashboard's queries."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "cdt-desk.json"

# What Grafana puts in place of its variables before it sends a query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d",
                     "${ward}": ".*", "$ward": ".*"}


def rules() -> list[dict]:
    """Every rule (alert or record) of rules/*.yml, with its group name."""
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [{**rule, "group": group["name"], "file": path.name}
                      for rule in group["rules"]]
    return found


def alerts() -> list[dict]:
    return [rule for rule in rules() if "alert" in rule]


def dashboard_panels() -> list[dict]:
    """Panels of the dashboard, rows' nested panels included."""
    panels = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        panels.append(panel)
        panels += panel.get("panels", [])
    return panels


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title and refId, raw expression) of every query in the dashboard."""
    return [(f"{panel['title']} [{target['refId']}]", target["expr"])
            for panel in dashboard_panels() for target in panel.get("targets", [])
            if target.get("expr")]


def as_prometheus_sees_it(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced, as Prometheus receives it."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def every_expression() -> list[tuple[str, str]]:
    """(where, expression) for every rule and every dashboard query, ready for Prometheus."""
    named = [(f"{rule['file']}: {rule.get('alert') or rule.get('record')}", rule["expr"])
             for rule in rules()]
    named += [(f"dashboard: {where}", as_prometheus_sees_it(expr))
              for where, expr in dashboard_queries()]
    return named
