"""A ward's report for a period: online ratio against the target, staffing, volunteers, reasons."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from typing import Any

import asyncpg

from services.reporting import domain

WARD = "SELECT first_day, last_day FROM rp_wards WHERE ward_id = $1"
DOSSIER_DAYS = """
SELECT day, channel, field, dossiers, eligible, fully_online, assisted FROM rp_dossier_days
WHERE ward_id = $1 AND day BETWEEN $2 AND $3
"""
ASSIST_DAYS = """
SELECT day, venue, outcome, assists, duration_ms, rated, satisfied, vneid_blocked
FROM rp_assist_days WHERE ward_id = $1 AND day BETWEEN $2 AND $3
"""
REASONS = """
SELECT reason, sum(assists)::bigint AS assists FROM rp_assist_reasons
WHERE ward_id = $1 AND day BETWEEN $2 AND $3 GROUP BY reason
"""
SHIFTS = """
SELECT shift_id, status, ended FROM rp_shifts WHERE ward_id = $1 AND day BETWEEN $2 AND $3
"""
MEMBER_SESSIONS = """
SELECT member_id, shift_id, seconds FROM rp_member_sessions
WHERE ward_id = $1 AND day BETWEEN $2 AND $3
"""
ASSIGNED_OVER = """
SELECT a.shift_id, a.member_id FROM rp_assignments a
JOIN rp_shifts s ON s.ward_id = a.ward_id AND s.shift_id = a.shift_id
WHERE a.ward_id = $1 AND a.assigned AND s.ended AND s.status IN ('staffed', 'understaffed')
  AND s.day BETWEEN $2 AND $3
"""
CHECKED_IN = "SELECT DISTINCT shift_id, member_id FROM rp_checkins WHERE ward_id = $1"
MEMBERS = "SELECT member_id, team_id, display_name, deactivated FROM rp_members WHERE ward_id = $1"
TEAMS = "SELECT team_id, name, hamlet FROM rp_teams WHERE ward_id = $1"


def _online(rows: list[Any], target: float | None = None) -> dict[str, Any]:
    dossiers = sum(r["dossiers"] for r in rows)
    online = sum(r["dossiers"] for r in rows if r["channel"] == "online")
    eligible = sum(r["eligible"] for r in rows)
    fully = sum(r["fully_online"] for r in rows)
    figures = {"dossiers": dossiers, "online": online,
               "online_ratio": domain.ratio(online, dossiers), "eligible": eligible,
               "fully_online": fully, "fully_online_ratio": domain.ratio(fully, eligible)}
    if target is not None:
        ratio = figures["online_ratio"]
        figures["meets_target"] = ratio is not None and ratio >= target
    return figures


async def campaign(conn: asyncpg.Connection, ward_id: str) -> tuple[date | None, date | None]:
    row = await conn.fetchrow(WARD, ward_id)
    return (row["first_day"], row["last_day"]) if row else (None, None)


async def build_report(conn: asyncpg.Connection, ward_id: str, *, target: float,
                       start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """The report of a ward for [start, end] (default: the campaign, first to last day with data)."""
    first, last = await campaign(conn, ward_id)
    start = start or first or date.today()
    end = end or last or start
    args = (ward_id, start, end)
    dossier_rows = await conn.fetch(DOSSIER_DAYS, *args)
    assist_rows = await conn.fetch(ASSIST_DAYS, *args)
    headline = _online(dossier_rows, target)
    by_channel = {c: sum(r["dossiers"] for r in dossier_rows if r["channel"] == c)
                  for c in ("online", "in_person", "postal")}
    fields: dict[str, list] = defaultdict(list)
    weeks: dict[str, list] = defaultdict(list)
    for r in dossier_rows:
        fields[r["field"]].append(r)
        weeks[domain.iso_week(r["day"])].append(r)
    by_field = [{"field": f, **_online(rows)} for f, rows in sorted(fields.items())]
    months: dict[str, list] = defaultdict(list)
    for r in dossier_rows:
        months[r["day"].strftime("%Y-%m")].append(r)
    by_month = [{"month": m, **_online(rows, target)} for m, rows in sorted(months.items())]
    by_week = []
    for week, rows in sorted(weeks.items()):
        monday, sunday = domain.week_bounds(rows[0]["day"])
        by_week.append({"week": week, "from": monday.isoformat(), "to": sunday.isoformat(),
                        **_online(rows, target)})
    shifts = await conn.fetch(SHIFTS, *args)
    staffing = {s: sum(1 for r in shifts if r["status"] == s)
                for s in ("staffed", "understaffed", "pending", "cancelled")}
    staffing["scheduled"] = staffing["staffed"] + staffing["understaffed"] + staffing["pending"]
    staffing["staffed_ratio"] = domain.ratio(staffing["staffed"],
                                             staffing["staffed"] + staffing["understaffed"])
    assists = _assists(assist_rows)
    online_assisted = sum(r["assisted"] for r in dossier_rows if r["channel"] == "online")
    people = await _people(conn, ward_id, start, end)
    reasons = sorted(((r["reason"], r["assists"]) for r in await conn.fetch(REASONS, *args)),
                     key=lambda item: (-item[1], item[0]))
    not_online = sum(n for _, n in reasons)
    return {
        "ward_id": ward_id,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "campaign": {"from": first.isoformat() if first else None,
                     "to": last.isoformat() if last else None},
        "target": target,
        "online": headline,
        "by_channel": by_channel,
        "by_field": by_field,
        "by_week": by_week,
        "by_month": by_month,
        "staffing": staffing,
        "assists": assists,
        "volunteers": {
            "assists_submitted_online": assists["submitted_online"],
            "dossiers_online_assisted": online_assisted,
            "share_of_online_dossiers": domain.ratio(online_assisted, headline["online"]),
            "hours": domain.hours(people["seconds"]),
            "member_sessions": people["sessions"],
        },
        "teams": people["teams"],
        "members": people["members"],
        "not_online_reasons": [{"reason": reason, "assists": n, "share": domain.ratio(n, not_online)}
                               for reason, n in reasons],
    }


def _assists(rows: list[Any]) -> dict[str, Any]:
    total = sum(r["assists"] for r in rows)
    outcome = {o: sum(r["assists"] for r in rows if r["outcome"] == o)
               for o in ("submitted_online", "referred_to_counter", "not_completed")}
    venues: dict[str, int] = defaultdict(int)
    for r in rows:
        venues[r["venue"]] += r["assists"]
    duration_ms = sum(r["duration_ms"] for r in rows)
    rated = sum(r["rated"] for r in rows)
    satisfied = sum(r["satisfied"] for r in rows)
    return {"total": total, **outcome, "by_venue": dict(sorted(venues.items())),
            "duration_seconds": duration_ms / 1000,
            "average_minutes": duration_ms / 60000 / total if total else None,
            "rated": rated, "satisfied": satisfied,
            "satisfaction_ratio": domain.ratio(satisfied, rated),
            "vneid_blocked": sum(r["vneid_blocked"] for r in rows)}


async def _people(conn: asyncpg.Connection, ward_id: str, start: date, end: date) -> dict[str, Any]:
    members = {r["member_id"]: r for r in await conn.fetch(MEMBERS, ward_id)}
    teams = {r["team_id"]: r for r in await conn.fetch(TEAMS, ward_id)}
    seconds: dict[str, int] = defaultdict(int)
    sessions: dict[str, set[str]] = defaultdict(set)
    for r in await conn.fetch(MEMBER_SESSIONS, ward_id, start, end):
        seconds[r["member_id"]] += r["seconds"]
        sessions[r["member_id"]].add(r["shift_id"])
    assigned = [(r["shift_id"], r["member_id"])
                for r in await conn.fetch(ASSIGNED_OVER, ward_id, start, end)]
    present = [(r["shift_id"], r["member_id"]) for r in await conn.fetch(CHECKED_IN, ward_id)]
    missed = domain.no_shows(assigned, present, {s for s, _ in assigned})
    member_rows = []
    for member_id in sorted(set(members) | set(seconds) | set(missed)):
        m = members.get(member_id)
        team_id = m["team_id"] if m else None
        member_rows.append({
            "member_id": member_id, "display_name": m["display_name"] if m else None,
            "team_id": team_id, "team": teams[team_id]["name"] if team_id in teams else None,
            "hours": domain.hours(seconds[member_id]), "sessions": len(sessions[member_id]),
            "no_shows": missed.get(member_id, 0)})
    member_rows.sort(key=lambda r: (-r["hours"], -r["sessions"], r["member_id"]))
    team_rows = []
    for team_id in sorted(set(teams) | {r["team_id"] for r in member_rows if r["team_id"]}):
        own = [r for r in member_rows if r["team_id"] == team_id]
        team_seconds = sum(seconds[r["member_id"]] for r in own)
        team_sessions = set().union(*(sessions[r["member_id"]] for r in own)) if own else set()
        t = teams.get(team_id)
        team_rows.append({"team_id": team_id, "name": t["name"] if t else None,
                          "hamlet": t["hamlet"] if t else None, "hours": domain.hours(team_seconds),
                          "sessions": len(team_sessions), "members": len(own),
                          "member_sessions": sum(r["sessions"] for r in own)})
    team_rows.sort(key=lambda r: (-r["hours"], r["team_id"]))
    return {"members": member_rows, "teams": team_rows, "seconds": sum(seconds.values()),
            "sessions": sum(len(s) for s in sessions.values())}


def to_csv(report: dict[str, Any]) -> str:
    """The report as long CSV rows: section, key, label, metric, value (pasteable anywhere)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "label", "metric", "value"])
    period = report["period"]
    writer.writerow(["period", report["ward_id"], "", "from", period["from"]])
    writer.writerow(["period", report["ward_id"], "", "to", period["to"]])
    writer.writerow(["online", "", "", "target", report["target"]])
    for name, value in report["online"].items():
        writer.writerow(["online", "", "", name, _cell(value)])
    for channel, n in report["by_channel"].items():
        writer.writerow(["by_channel", channel, "", "dossiers", n])
    for section, key in (("by_field", "field"), ("by_month", "month"), ("by_week", "week")):
        for row in report[section]:
            for name, value in row.items():
                if name != key:
                    writer.writerow([section, row[key], "", name, _cell(value)])
    for section in ("staffing", "volunteers"):
        for name, value in report[section].items():
            writer.writerow([section, "", "", name, _cell(value)])
    for name, value in report["assists"].items():
        if isinstance(value, dict):
            for key, n in value.items():
                writer.writerow(["assists", key, "", name, n])
        else:
            writer.writerow(["assists", "", "", name, _cell(value)])
    for row in report["teams"]:
        for name in ("hours", "sessions", "members"):
            writer.writerow(["team", row["team_id"], row["name"] or "", name, _cell(row[name])])
    for row in report["members"]:
        for name in ("hours", "sessions", "no_shows"):
            writer.writerow(["member", row["member_id"], row["display_name"] or "", name,
                             _cell(row[name])])
    for row in report["not_online_reasons"]:
        writer.writerow(["not_online_reason", row["reason"], "", "assists", row["assists"]])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
