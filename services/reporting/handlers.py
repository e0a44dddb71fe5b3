"""Applying batches of roster and assist events to the read models: a few statements per batch."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from services.reporting import domain, sessions, store
from shared.events import Event
from shared.events import assist as a
from shared.events import roster as r


def _newest(rows: dict, key: tuple, row: tuple, version: tuple) -> None:
    """Keep the last writer by (event time, event id): the same whatever the arrival order."""
    if key not in rows or version > rows[key][0]:
        rows[key] = (version, row)


async def _touch_days(conn: asyncpg.Connection, days: dict[str, list[date]],
                      marks: dict[str, datetime]) -> None:
    """The wards' campaign range and watermark (LEAST/GREATEST), and their days with data."""
    wards = sorted(set(days) | set(marks))
    rows = [(w, min(days.get(w, []), default=None), max(days.get(w, []), default=None),
             marks.get(w)) for w in wards]
    await store.execute_rows(conn, store.UPSERT_WARDS, rows, 4)
    pairs = sorted({(w, d) for w, ds in days.items() for d in ds})
    await store.execute_rows(conn, store.INSERT_WARD_DAYS, pairs, 2)


async def apply_roster(runtime: Any, conn: asyncpg.Connection, events: list[Event]) -> None:
    """Teams, members, sessions, assignments and cancellations; then the touched sessions."""
    teams: dict = {}
    members: dict = {}
    shifts: dict = {}
    assignments: dict = {}
    deactivated, cancelled, touched = set(), set(), set()
    days: dict[str, list[date]] = {}
    for event in events:
        version, d = (event.time, event.id), event.data
        match event:
            case r.TeamRegistered():
                _newest(teams, (d.ward_id, d.team_id), (d.name, d.hamlet), version)
            case r.MemberRegistered():
                _newest(members, (d.ward_id, d.member_id),
                        (d.team_id, d.display_name, d.occupation), version)
            case r.MemberDeactivated():
                deactivated.add((d.ward_id, d.member_id))
            case r.ShiftScheduled():
                _newest(shifts, (d.ward_id, d.shift_id), (d.team_id, d.location, d.date, d.period,
                        d.starts_at, d.ends_at, d.min_staff), version)
                days.setdefault(d.ward_id, []).append(d.date)
            case r.ShiftAssigned() | r.ShiftUnassigned():
                _newest(assignments, (d.ward_id, d.shift_id, d.member_id),
                        (isinstance(event, r.ShiftAssigned),), version)
            case r.ShiftCancelled():
                cancelled.add((d.ward_id, d.shift_id))
        if isinstance(event, r.ShiftScheduled | r.ShiftAssigned | r.ShiftUnassigned
                      | r.ShiftCancelled):
            touched.add((d.ward_id, d.shift_id))
    await store.lock(conn, sorted(touched))
    await store.execute_rows(conn, store.UPSERT_TEAMS,
                             [(*k, *row, *v) for k, (v, row) in sorted(teams.items())], 6)
    await store.execute_rows(conn, store.UPSERT_MEMBERS,
                             [(*k, *row, *v) for k, (v, row) in sorted(members.items())], 7)
    await store.execute_rows(conn, store.DEACTIVATE_MEMBERS, sorted(deactivated), 2)
    await store.execute_rows(conn, store.UPSERT_SHIFTS,
                             [(*k, *row, *v) for k, (v, row) in sorted(shifts.items())], 11)
    await store.execute_rows(conn, store.CANCEL_SHIFTS, sorted(cancelled), 2)
    await store.execute_rows(conn, store.UPSERT_ASSIGNMENTS,
                             [(*k, *row, *v) for k, (v, row) in sorted(assignments.items())], 6)
    await _touch_days(conn, days, {})
    await sessions.recompute(runtime, conn, sorted(touched))


def _later(marks: dict[str, datetime], ward_id: str, moment: datetime) -> None:
    if ward_id not in marks or moment > marks[ward_id]:
        marks[ward_id] = moment


async def apply_assist(runtime: Any, conn: asyncpg.Connection, events: list[Event]) -> None:
    """Check-ins, assists and dossiers; the data watermark; then the touched sessions."""
    dossiers: dict = {}
    assists: dict = {}
    links: set[tuple[str, str]] = set()
    checkins: dict = {}
    marks: dict[str, datetime] = {}
    days: dict[str, list[date]] = {}
    for event in events:
        d = event.data
        match event:
            case a.DeskCheckedIn() | a.DeskCheckedOut():
                inside = isinstance(event, a.DeskCheckedIn)
                old = checkins.get((d.ward_id, d.checkin_id), (d.shift_id, d.member_id, None, None))
                at_in, at_out = (d.at, None) if inside else (None, d.at)
                checkins[(d.ward_id, d.checkin_id)] = (
                    min(old[0], d.shift_id), min(old[1], d.member_id),
                    min(filter(None, (old[2], at_in)), default=None),
                    min(filter(None, (old[3], at_out)), default=None))
                _later(marks, d.ward_id, d.at)
            case a.AssistCompleted():
                day = domain.local_day(d.started_at)
                seconds = (d.ended_at - d.started_at).total_seconds()
                assists.setdefault((d.ward_id, d.assist_id), (
                    day, d.venue, d.outcome, round(seconds * 1000), d.satisfaction is not None,
                    (d.satisfaction or 0) >= 4,
                    domain.vneid_blocked(d.outcome, d.reason, d.vneid_level),
                    domain.not_online_reason(d.outcome, d.reason), domain.duration_bucket(seconds)))
                days.setdefault(d.ward_id, []).append(day)
                _later(marks, d.ward_id, d.ended_at)
                if d.dossier_id:
                    links.add((d.ward_id, d.dossier_id))
            case a.DossierReceived():
                day = domain.local_day(d.received_at)
                dossiers.setdefault((d.ward_id, d.dossier_id), (
                    day, d.channel, d.field, d.eligible_fully_online, d.fully_online, d.assisted))
                days.setdefault(d.ward_id, []).append(day)
                _later(marks, d.ward_id, d.received_at)
    touched = sorted({(w, row[0]) for (w, _), row in checkins.items()})
    await store.lock(conn, touched)
    await _touch_days(conn, days, marks)
    await store.execute_rows(conn, store.INSERT_DOSSIERS,
                             [(*k, *row) for k, row in sorted(dossiers.items())], 8)
    await store.execute_rows(conn, store.LINK_DOSSIERS, sorted(links), 2)
    await store.execute_rows(conn, store.INSERT_ASSISTS,
                             [(*k, *row) for k, row in sorted(assists.items())], 11)
    await store.execute_rows(conn, store.UPSERT_CHECKINS,
                             [(*k, *row) for k, row in sorted(checkins.items())], 6)
    await sessions.recompute(runtime, conn, touched)
