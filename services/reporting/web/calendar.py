"""Each session's status for a period (a read of rp_shifts) and the calendar grid, pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

WARD_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATUSES = ("staffed", "understaffed", "pending", "cancelled")

SESSIONS = """
SELECT s.shift_id, s.day, s.period, s.starts_at, s.ends_at, s.location, s.min_staff, s.status,
       s.on_time, s.team_id, t.name AS team
FROM rp_shifts s LEFT JOIN rp_teams t ON t.ward_id = s.ward_id AND t.team_id = s.team_id
WHERE s.ward_id = $1 AND s.day BETWEEN $2 AND $3
ORDER BY s.day, s.starts_at, s.shift_id
"""


def _local(at: datetime | None) -> str | None:
    return at.astimezone(WARD_TZ).isoformat() if at else None


async def sessions(conn: asyncpg.Connection, *, ward_id: str, start: date,
                   end: date) -> list[dict[str, Any]]:
    """The period's sessions with their derived status (the rows the report's staffing counts)."""
    return [{"shift_id": r["shift_id"], "date": r["day"].isoformat(), "period": r["period"],
             "starts_at": _local(r["starts_at"]), "ends_at": _local(r["ends_at"]),
             "location": r["location"], "team_id": r["team_id"], "team": r["team"],
             "min_staff": r["min_staff"], "on_time": r["on_time"], "status": r["status"]}
            for r in await conn.fetch(SESSIONS, ward_id, start, end)]


@dataclass(frozen=True)
class Cell:
    day: date
    in_period: bool
    sessions: list[dict[str, Any]]


@dataclass(frozen=True)
class Calendar:
    weekdays: list[int]  # 0 = Monday; weekends only when a session falls on one
    weeks: list[tuple[date, list[Cell]]]
    truncated: bool


def calendar(found: list[dict[str, Any]], start: date, end: date, *,
             max_weeks: int = 60) -> Calendar:
    """Weeks (Monday first) of the period, each day with its sessions in time order; a long
    period keeps its last `max_weeks` weeks."""
    by_day: dict[date, list[dict[str, Any]]] = {}
    for s in found:
        by_day.setdefault(date.fromisoformat(s["date"]), []).append(s)
    weekend = sorted({d.weekday() for d in by_day if d.weekday() >= 5})
    weekdays = [0, 1, 2, 3, 4, *weekend]
    monday = start - timedelta(days=start.weekday())
    mondays = []
    while monday <= end:
        mondays.append(monday)
        monday += timedelta(days=7)
    truncated = len(mondays) > max_weeks
    weeks = []
    for first in mondays[-max_weeks:]:
        cells = []
        for wd in weekdays:
            day = first + timedelta(days=wd)
            cells.append(Cell(day, start <= day <= end,
                              sorted(by_day.get(day, []), key=lambda s: s["starts_at"] or "")))
        weeks.append((first, cells))
    return Calendar(weekdays, weeks, truncated)


def period_of(session: dict[str, Any]) -> str:
    if session.get("period") in ("morning", "afternoon", "evening"):
        return session["period"]
    hour = int((session.get("starts_at") or "T12")[11:13] or 12)
    return "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
