"""Every table of the report page as CSV rows, from the report and the period's sessions, pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

OUTCOMES = ("submitted_online", "referred_to_counter", "not_completed")
STAFFING = ("scheduled", "staffed", "understaffed", "pending", "cancelled", "staffed_ratio")
CHANNELS = ("online", "in_person", "postal")

Rows = tuple[list[str], list[list[Any]]]


def _by_week(report: dict, _: list) -> Rows:
    return (["week", "from", "to", "dossiers", "online", "online_ratio", "meets_target"],
            [[w["week"], w["from"], w["to"], w["dossiers"], w["online"], w["online_ratio"],
              w["meets_target"]] for w in report["by_week"]])


def _by_channel(report: dict, _: list) -> Rows:
    return ["channel", "dossiers"], [[c, report["by_channel"].get(c, 0)] for c in CHANNELS]


def _by_field(report: dict, _: list) -> Rows:
    return (["field", "dossiers", "online", "online_ratio", "eligible", "fully_online",
             "fully_online_ratio"],
            [[f["field"], f["dossiers"], f["online"], f["online_ratio"], f["eligible"],
              f["fully_online"], f["fully_online_ratio"]] for f in report["by_field"]])


def _staffing(report: dict, _: list) -> Rows:
    return ["metric", "value"], [[k, report["staffing"][k]] for k in STAFFING]


def _sessions(_: dict, found: list) -> Rows:
    columns = ["date", "period", "starts_at", "ends_at", "team_id", "team", "location", "status",
               "on_time", "min_staff", "shift_id"]
    return columns, [[s[c] for c in columns] for s in found]


def _outcomes(report: dict, _: list) -> Rows:
    return ["outcome", "assists"], [[o, report["assists"][o]] for o in OUTCOMES]


def _reasons(report: dict, _: list) -> Rows:
    return (["reason", "assists", "share"],
            [[r["reason"], r["assists"], r["share"]] for r in report["not_online_reasons"]])


def _teams(report: dict, _: list) -> Rows:
    columns = ["team_id", "name", "hamlet", "hours", "sessions", "members", "member_sessions"]
    return columns, [[t[c] for c in columns] for t in report["teams"]]


def _members(report: dict, _: list) -> Rows:
    columns = ["member_id", "display_name", "team_id", "team", "hours", "sessions", "no_shows"]
    return columns, [[m[c] for c in columns] for m in report["members"]]


TABLES: dict[str, Callable[[dict, list], Rows]] = {
    "by_week": _by_week, "by_channel": _by_channel, "by_field": _by_field,
    "staffing": _staffing, "sessions": _sessions, "outcomes": _outcomes, "reasons": _reasons,
    "teams": _teams, "members": _members,
}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def to_csv(report: dict[str, Any], found: list[dict[str, Any]], table: str) -> str:
    """One table as CSV, with a BOM so that spreadsheet programs read the diacritics right."""
    header, rows = TABLES[table](report, found)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()
