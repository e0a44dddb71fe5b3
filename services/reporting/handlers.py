"""Applying batches of roster and assist events to the read models: a few statements per batch.

Each topic's apply is two steps: `*_rows` builds the batch's rows from its events alone (pure,
run by the consumer before the previous batch has committed), `write_*` writes them in the
batch's transaction. Dossiers and assists are facts with ids of their own (`KEYED`): they skip
the inbox, and `write_assist` answers which of their events it applied (`inbox.apply_once`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from services.reporting import domain, sessions, store
from shared.events import Event
from shared.events import assist as a
from shared.events import roster as r

# Kept once by their fact's key (the dossier's, the assist's id), not by the inbox.
KEYED: tuple[type[Event], ...] = (a.DossierReceived, a.AssistCompleted)


def _newest(rows: dict, key: tuple, row: tuple, version: tuple) -> None:
    """Keep the last writer by (event time, event id): the same whatever the arrival order."""
    if key not in rows or version > rows[key][0]:
        rows[key] = (version, row)


@dataclass(frozen=True)
class WardDays:
    """The wards' campaign range and watermark (merged LEAST/GREATEST), their days with data."""

    wards: list[tuple]
    days: list[tuple[str, date]]

    @classmethod
    def of(cls, days: dict[str, list[date]], marks: dict[str, datetime]) -> WardDays:
        wards = sorted(set(days) | set(marks))
        return cls([(w, min(days.get(w, []), default=None), max(days.get(w, []), default=None),
                     marks.get(w)) for w in wards],
                   sorted({(w, d) for w, ds in days.items() for d in ds}))

    async def write(self, conn: asyncpg.Connection) -> None:
        await store.execute_rows(conn, store.UPSERT_WARDS, self.wards, 4)
        await store.execute_rows(conn, store.INSERT_WARD_DAYS, self.days, 2)


@dataclass(frozen=True)
class RosterRows:
    touched: list[tuple[str, str]]
    teams: list[tuple]
    members: list[tuple]
    deactivated: list[tuple[str, str]]
    shifts: list[tuple]
    cancelled: list[tuple[str, str]]
    assignments: list[tuple]
    days: WardDays


def roster_rows(events: list[Event]) -> RosterRows:
    """Teams, members, sessions, assignments and cancellations of a batch, newest writer kept."""
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
    return RosterRows(
        touched=sorted(touched),
        teams=[(*k, *row, *v) for k, (v, row) in sorted(teams.items())],
        members=[(*k, *row, *v) for k, (v, row) in sorted(members.items())],
        deactivated=sorted(deactivated),
        shifts=[(*k, *row, *v) for k, (v, row) in sorted(shifts.items())],
        cancelled=sorted(cancelled),
        assignments=[(*k, *row, *v) for k, (v, row) in sorted(assignments.items())],
        days=WardDays.of(days, {}))


async def write_roster(runtime: Any, conn: asyncpg.Connection, rows: RosterRows) -> None:
    """The batch's roster rows; then the touched sessions, recomputed under their locks."""
    await store.lock(conn, rows.touched)
    await store.execute_rows(conn, store.UPSERT_TEAMS, rows.teams, 6)
    await store.execute_rows(conn, store.UPSERT_MEMBERS, rows.members, 7)
    await store.execute_rows(conn, store.DEACTIVATE_MEMBERS, rows.deactivated, 2)
    await store.execute_rows(conn, store.UPSERT_SHIFTS, rows.shifts)
    await store.execute_rows(conn, store.CANCEL_SHIFTS, rows.cancelled, 2)
    await store.execute_rows(conn, store.UPSERT_ASSIGNMENTS, rows.assignments)
    await rows.days.write(conn)
    await sessions.recompute(runtime, conn, rows.touched)


@dataclass(frozen=True)
class AssistRows:
    touched: list[tuple[str, str]]
    days: WardDays
    dossiers: list[tuple]
    links: list[tuple[str, str]]
    assists: list[tuple]
    checkins: list[tuple]
    dossier_events: list[Event]  # the event of each dossier row, in the same order
    assist_events: list[Event]


def assist_rows(events: list[Event]) -> AssistRows:
    """Check-ins, assists and dossiers of a batch (first one kept) and the wards' watermarks.

    Dispatched on the exact type, dossiers first (most of the events); times compared as naive
    local times (`domain.local_time`)."""
    dossiers: dict = {}
    assists: dict = {}
    links: set[tuple[str, str]] = set()
    checkins: dict = {}
    marks: dict[str, datetime] = {}  # naive local
    days: set[tuple[str, date]] = set()
    local_time = domain.local_time
    for event in events:
        d = event.data
        kind = type(event)
        if kind is a.DossierReceived:
            moment = local_time(d.received_at)
            day = moment.date()
            key = (d.ward_id, d.dossier_id)
            if key not in dossiers:
                dossiers[key] = ((day, d.channel, d.field, d.eligible_fully_online,
                                  d.fully_online, d.assisted), event)
        elif kind is a.AssistCompleted:
            day = local_time(d.started_at).date()
            moment = local_time(d.ended_at)
            key = (d.ward_id, d.assist_id)
            if key not in assists:
                seconds = (d.ended_at - d.started_at).total_seconds()
                assists[key] = ((
                    day, d.venue, d.outcome, round(seconds * 1000), d.satisfaction is not None,
                    (d.satisfaction or 0) >= 4,
                    domain.vneid_blocked(d.outcome, d.reason, d.vneid_level),
                    domain.not_online_reason(d.outcome, d.reason), domain.duration_bucket(seconds)),
                    event)
            if d.dossier_id:
                links.add((d.ward_id, d.dossier_id))
        elif kind is a.DeskCheckedIn or kind is a.DeskCheckedOut:
            moment = local_time(d.at)
            at_in, at_out = (d.at, None) if kind is a.DeskCheckedIn else (None, d.at)
            old = checkins.get((d.ward_id, d.checkin_id), (d.shift_id, d.member_id, None, None))
            checkins[(d.ward_id, d.checkin_id)] = (
                min(old[0], d.shift_id), min(old[1], d.member_id),
                min(filter(None, (old[2], at_in)), default=None),
                min(filter(None, (old[3], at_out)), default=None))
            mark = marks.get(d.ward_id)
            if mark is None or moment > mark:
                marks[d.ward_id] = moment
            continue
        else:
            continue
        days.add((d.ward_id, day))
        mark = marks.get(d.ward_id)
        if mark is None or moment > mark:
            marks[d.ward_id] = moment
    dossier_items, assist_items = sorted(dossiers.items()), sorted(assists.items())
    by_ward: dict[str, list[date]] = {}
    for ward_id, day in days:
        by_ward.setdefault(ward_id, []).append(day)
    return AssistRows(
        touched=sorted({(w, row[0]) for (w, _), row in checkins.items()}),
        days=WardDays.of(by_ward, {w: domain.aware_local(m) for w, m in marks.items()}),
        dossiers=[(*k, *row) for k, (row, _) in dossier_items],
        links=sorted(links),
        assists=[(*k, *row) for k, (row, _) in assist_items],
        checkins=[(*k, *row) for k, row in sorted(checkins.items())],
        dossier_events=[e for _, (_, e) in dossier_items],
        assist_events=[e for _, (_, e) in assist_items])


async def write_assist(runtime: Any, conn: asyncpg.Connection, rows: AssistRows) -> list[Event]:
    """The batch's assist rows; then the touched sessions, recomputed under their locks.

    Returns the dossier and assist events whose fact was new (the others changed nothing)."""
    await store.lock(conn, rows.touched)
    await rows.days.write(conn)
    dossiers = await store.inserted(conn, store.INSERT_DOSSIERS, rows.dossiers)
    await store.execute_rows(conn, store.LINK_DOSSIERS, rows.links, 2)
    assists = await store.inserted(conn, store.INSERT_ASSISTS, rows.assists)
    await store.execute_rows(conn, store.UPSERT_CHECKINS, rows.checkins)
    await sessions.recompute(runtime, conn, rows.touched)
    return ([rows.dossier_events[i] for i in dossiers]
            + [rows.assist_events[i] for i in assists])
