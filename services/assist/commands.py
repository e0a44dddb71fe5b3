"""Desk writes: each opens one transaction, changes state and puts its events in the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.assist import domain, records, store
from services.assist.config import AssistSettings
from services.assist.domain import AssistError, AssistRequest, CheckIn, Rules
from shared import outbox
from shared.events import assist
from shared.events.assist import (
    AssistCompleted,
    AssistCompletedData,
    DeskCheckedIn,
    DeskCheckedInData,
    DeskCheckedOut,
    DeskCheckedOutData,
    DossierReceived,
    DossierReceivedData,
)
from shared.service import Runtime

_AROUND = timedelta(hours=12)  # sessions considered when finding the current one


def rules_of(settings: AssistSettings) -> Rules:
    return Rules(checkin_early=timedelta(minutes=settings.assist_checkin_early_minutes),
                 max_future=timedelta(seconds=settings.assist_max_future_seconds),
                 max_assist=timedelta(hours=settings.assist_max_duration_hours),
                 default_assist=timedelta(minutes=settings.assist_default_duration_minutes))


def stable_id(kind: str, key: str) -> str:
    """An event id derived from what it is about: published once, the same if ever again."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cdt:assist:{kind}:{key}"))


def _checked_in_event(c: CheckIn, now: datetime) -> DeskCheckedIn:
    data = DeskCheckedInData(checkin_id=c.checkin_id, shift_id=c.shift_id, ward_id=c.ward_id,
                             member_id=c.member_id, at=c.at)
    return DeskCheckedIn.create(data, service=assist.SERVICE, time=now,
                                event_id=stable_id("checkin", c.checkin_id))


def _checked_out_event(c: CheckIn, now: datetime) -> DeskCheckedOut:
    assert c.checked_out_at is not None
    data = DeskCheckedOutData(checkin_id=c.checkin_id, shift_id=c.shift_id, ward_id=c.ward_id,
                              member_id=c.member_id, at=c.checked_out_at)
    return DeskCheckedOut.create(data, service=assist.SERVICE, time=now,
                                 event_id=stable_id("checkout", c.checkin_id))


@dataclass(frozen=True)
class Written:
    """The outcome of a write: the record, and whether this request created it."""

    record: object
    created: bool


async def check_in(runtime: Runtime, *, ward_id: str, member_id: str, shift_id: str | None,
                   at: datetime | None) -> Written:
    rules, now = rules_of(runtime.settings), runtime.clock()  # type: ignore[arg-type]
    at = at or now
    domain.refuse_future(at, now, rules, field="at")
    async with runtime.pool.acquire() as conn, conn.transaction():
        if shift_id is None:
            sessions = await store.sessions_between(conn, ward_id=ward_id, start=at - _AROUND,
                                                    end=at + _AROUND)
            mine = await store.checked_in_shifts(conn, ward_id=ward_id, member_ids=[member_id],
                                                 shift_ids=[s.shift_id for s in sessions])
            chosen = domain.choose_session(sessions, at=at, member_ids=[member_id],
                                           checked_in=mine, rules=rules)
            if chosen is None:
                raise AssistError("no_current_session", "no session of this ward is open at "
                                  "that time; give shift_id", field="shift_id", kind="not_found")
            shift_id = chosen.shift_id
        session = await store.session(conn, ward_id=ward_id, shift_id=shift_id)
        existing = await store.checkin_of(conn, ward_id=ward_id, shift_id=shift_id,
                                          member_id=member_id)
        known = await store.members(conn, ward_id=ward_id, member_ids=[member_id])
        if not domain.check_in(session, shift_id=shift_id, member=known.get(member_id),
                               member_id=member_id, at=at, existing=existing, rules=rules):
            return Written(existing, created=False)
        assert session is not None
        new = await store.add_checkin(conn, CheckIn(
            checkin_id=str(uuid.uuid4()), ward_id=ward_id, shift_id=shift_id,
            member_id=member_id, at=at, stand_in=domain.is_stand_in(session, member_id)))
        if new is None:  # a concurrent tap won
            return Written(await store.checkin_of(conn, ward_id=ward_id, shift_id=shift_id,
                                                  member_id=member_id), created=False)
        await outbox.add(conn, assist.TOPIC, [_checked_in_event(new, now)])
        await store.advance_clock(conn, {ward_id: at})
    return Written(new, created=True)


async def check_out(runtime: Runtime, *, ward_id: str, checkin_id: str,
                    at: datetime | None) -> Written:
    rules, now = rules_of(runtime.settings), runtime.clock()  # type: ignore[arg-type]
    at = at or now
    domain.refuse_future(at, now, rules, field="at")
    async with runtime.pool.acquire() as conn, conn.transaction():
        current = await store.checkin(conn, ward_id=ward_id, checkin_id=checkin_id)
        if current is None:
            raise AssistError("unknown_checkin", f"no check-in {checkin_id} in this ward",
                              field="checkin_id", kind="not_found")
        session = await store.session(conn, ward_id=ward_id, shift_id=current.shift_id)
        recorded = domain.check_out(current, session, at)
        if recorded is None:
            return Written(current, created=False)
        done = await store.check_out(conn, ward_id=ward_id, checkin_id=checkin_id, at=recorded,
                                     auto=False)
        if done is None:  # closed meanwhile (by the session-end job)
            return Written(await store.checkin(conn, ward_id=ward_id, checkin_id=checkin_id),
                           created=False)
        await outbox.add(conn, assist.TOPIC, [_checked_out_event(done, now)])
        await store.advance_clock(conn, {ward_id: recorded})
    return Written(done, created=True)


async def close_missing_checkouts(runtime: Runtime, *, batch: int = 500) -> int:
    """Close the check-outs members forgot, at their session's end, once it is over."""
    closed = 0
    while True:
        async with runtime.pool.acquire() as conn, conn.transaction():
            due = await store.due_checkouts(conn, clock=runtime.settings.clock,
                                            now=runtime.clock(), limit=batch)
            events = []
            for checkin, session_end, now in due:
                at = domain.close_missing_checkout(checkin, session_end=session_end, now=now)
                if at is None:
                    continue
                done = await store.check_out(conn, ward_id=checkin.ward_id,
                                             checkin_id=checkin.checkin_id, at=at, auto=True)
                if done is not None:
                    events.append(_checked_out_event(done, runtime.clock()))
            await outbox.add(conn, assist.TOPIC, events)
        closed += len(events)
        if len(due) < batch:
            return closed


async def log_assist(runtime: Runtime, *, ward_id: str, request: AssistRequest) -> Written:
    rules, now = rules_of(runtime.settings), runtime.clock()  # type: ignore[arg-type]
    started, ended = domain.assist_times(request, wall_now=now, rules=rules)
    domain.check_outcome(request)
    assist_id = request.assist_id or str(uuid.uuid4())
    async with runtime.pool.acquire() as conn, conn.transaction():
        if request.assist_id:
            owner = await records.assist_ward(conn, assist_id=assist_id)
            if owner == ward_id:  # a retried request: logged once
                return Written(await records.assist(conn, ward_id=ward_id, assist_id=assist_id),
                               created=False)
            if owner is not None:
                raise AssistError("assist_id_taken", "this assist_id is already used",
                                  field="assist_id", kind="conflict")
        known = await store.members(conn, ward_id=ward_id, member_ids=request.member_ids)
        domain.check_members(request.member_ids, known, field="member_ids")
        if request.shift_id:
            one = await store.session(conn, ward_id=ward_id, shift_id=request.shift_id)
            sessions = [one] if one else []
        else:
            sessions = await store.sessions_between(conn, ward_id=ward_id,
                                                    start=started - _AROUND, end=ended + _AROUND)
        mine = await store.checked_in_shifts(conn, ward_id=ward_id, member_ids=request.member_ids,
                                             shift_ids=[s.shift_id for s in sessions])
        session = domain.assist_session(request, sessions=sessions, started=started, ended=ended,
                                        checked_in=mine, rules=rules)
        data = domain.assist_data(request, ward_id=ward_id, assist_id=assist_id, session=session,
                                  started=started, ended=ended)
        await _add_assist(conn, data)
        event = AssistCompleted.create(data, service=assist.SERVICE, time=now,
                                       event_id=stable_id("assist", assist_id))
        await outbox.add(conn, assist.TOPIC, [event])
        await store.advance_clock(conn, {ward_id: ended})
        return Written(await records.assist(conn, ward_id=ward_id, assist_id=assist_id),
                       created=True)


async def _add_assist(conn: asyncpg.Connection, data: AssistCompletedData) -> None:
    if data.dossier_id:
        other = await records.assist_of_dossier(conn, ward_id=data.ward_id,
                                                dossier_id=data.dossier_id)
        if other is not None:
            raise AssistError("dossier_already_logged", f"dossier {data.dossier_id} was logged "
                              f"with assist {other}", field="dossier_id", kind="conflict")
    try:
        async with conn.transaction():
            added = await records.add_assist(conn, data)
    except asyncpg.UniqueViolationError:
        added = False
    if not added:
        raise AssistError("concurrent_write", "the same assist or dossier was logged "
                          "meanwhile; read it back", kind="conflict")
    if data.dossier_id:
        # Received before its assist: the link is recorded here; its dossier.received stays
        # as published, and assist.completed carries the dossier_id for consumers to join.
        await records.link_dossier(conn, ward_id=data.ward_id, dossier_id=data.dossier_id,
                                   assist_id=data.assist_id)


async def accept_dossiers(conn: asyncpg.Connection, dossiers: Sequence[DossierReceivedData], *,
                          via: str, now: datetime) -> tuple[int, int]:
    """Record the dossiers not received before, linked to their assist when it is known, and
    publish each once; returns (accepted, duplicates)."""
    unique = domain.first_per_dossier(dossiers)
    known = await records.links(conn, unique) if unique else {}
    linked = [domain.link_dossier(d, known.get((d.ward_id, d.dossier_id))) for d in unique]
    inserted = await records.add_dossiers(conn, linked, via=via)
    accepted = [d for d in linked if (d.ward_id, d.dossier_id) in inserted]
    await outbox.add(conn, assist.TOPIC, [
        DossierReceived.create(d, service=assist.SERVICE, time=now,
                               event_id=stable_id("dossier", f"{d.ward_id}/{d.dossier_id}"))
        for d in accepted])
    latest: dict[str, datetime] = {}
    for d in accepted:
        latest[d.ward_id] = max(latest.get(d.ward_id, d.received_at), d.received_at)
    await store.advance_clock(conn, latest)
    return len(accepted), len(dossiers) - len(accepted)
