"""Sessions recomputed from their facts and the clock, the ward totals adjusted, alerts emitted."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.reporting import domain, store
from shared import outbox
from shared.events import reporting

UNDERSTAFFED = "shift.understaffed"
DAILY_SUMMARY = "ward.daily_summary"
_ALERT_NAMESPACE = uuid.UUID("6f0b7f7e-4d1c-5b8e-9a43-0cd7e0000001")


def alert_event_id(kind: str, ward_id: str, key: str) -> str:
    """Stable: a re-emitted alert would carry the same id, so consumers drop it."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{kind}/{ward_id}/{key}"))


def grace(runtime: Any) -> timedelta:
    return timedelta(minutes=runtime.settings.reporting_staffed_grace_minutes)


async def now_by_ward(runtime: Any, conn: asyncpg.Connection,
                      wards: Iterable[str]) -> dict[str, datetime | None]:
    """'Now' per ward: the wall clock, or in watermark mode the latest data time of the ward."""
    wards = sorted(set(wards))
    if runtime.settings.clock == "watermark":
        marks = await store.watermarks(conn, wards)
        return {w: marks.get(w) for w in wards}
    now = runtime.clock()
    return dict.fromkeys(wards, now)


# Taken exclusively by a rebuild's start (rebuild.start) before it empties the read models, and
# shared by every transaction that decides alerts from the read models as a whole (alerts_open).
ALERTS_GATE = 0x0CD7_0104


async def rebuilding(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM rp_rebuild WHERE state = 'running')"))


async def alerts_open(conn: asyncpg.Connection) -> bool:
    """Whether this transaction may decide alerts from the read models: no rebuild is running,
    and none can start (empty them) until it ends. Its first statement, before any read: a
    rebuild's start in progress is waited for, and then seen."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", ALERTS_GATE)
    return not await rebuilding(conn)


async def recompute(runtime: Any, conn: asyncpg.Connection,
                    keys: Sequence[tuple[str, str]]) -> None:
    """Re-derive the given sessions (ward, shift) from their facts; the caller holds their locks."""
    keys = sorted(set(keys))
    if not keys:
        return
    wards, ids = [k[0] for k in keys], [k[1] for k in keys]
    facts = {(r["ward_id"], r["shift_id"]): r for r in await conn.fetch(store.SESSION_FACTS, wards, ids)}
    assigned: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in await conn.fetch(store.SESSION_ASSIGNED, wards, ids):
        assigned[(r["ward_id"], r["shift_id"])].add(r["member_id"])
    checkins: dict[tuple[str, str], list[domain.CheckIn]] = defaultdict(list)
    for r in await conn.fetch(store.SESSION_CHECKINS, wards, ids):
        checkins[(r["ward_id"], r["shift_id"])].append(
            domain.CheckIn(r["member_id"], r["checked_in_at"], r["checked_out_at"]))
    nows = await now_by_ward(runtime, conn, wards)
    updates, members, newly_understaffed = [], [], []
    deltas: dict[str, dict[str, int]] = {}
    for key in keys:
        row = facts.get(key)
        if row is None:
            continue  # only check-ins so far: nothing to derive until the session is known
        session = domain.Session(row["scheduled"], row["cancelled"], row["starts_at"],
                                 row["ends_at"], row["min_staff"] or 2, row["day"])
        old = domain.SessionState(row["status"], row["on_time"], row["seconds"], row["ended"],
                                  row["decide_at"])
        new = domain.evaluate_session(session, assigned[key], checkins[key], now=nows[key[0]],
                                      grace=grace(runtime))
        updates.append((*key, new.status, new.on_time, new.seconds, new.ended, new.decide_at))
        members += [(*key, member, session.day, seconds, on_time)
                    for member, (seconds, on_time) in sorted(new.members.items())]
        before, after = old.counts(), new.counts()
        delta = deltas.setdefault(key[0], dict.fromkeys(after, 0))
        for name in after:
            delta[name] += after[name] - before[name]
        if new.status == "understaffed" and old.status != "understaffed":
            newly_understaffed.append((key, row, new, nows[key[0]]))
    await store.execute_rows(conn, store.UPDATE_SESSIONS, updates)
    await conn.execute(store.DELETE_MEMBER_SESSIONS, wards, ids)
    await store.execute_rows(conn, store.INSERT_MEMBER_SESSIONS, members)
    changed = [(w, d["scheduled"], d["staffed"], d["understaffed"], d["cancelled"], d["seconds"])
               for w, d in sorted(deltas.items()) if any(d.values())]
    await store.execute_rows(conn, store.ADD_WARD_SHIFT_TOTALS, changed, 6)
    # Atomic with the facts read above: a rebuild's start truncates the tables this transaction
    # holds locks on, so it commits before the reads (and 'running' is seen here) or after this
    # transaction; and the rebuild ends only after applying every fact of these sessions, whose
    # advisory locks this transaction holds. Held back ones are swept at the rebuild's end.
    if newly_understaffed and not await rebuilding(conn):
        await emit_understaffed(runtime, conn, newly_understaffed)


async def emit_understaffed(runtime: Any, conn: asyncpg.Connection, found: Sequence[Any]) -> None:
    """One shift.understaffed per session, ever: recorded with the outbox row, same transaction."""
    items = [(w, s, alert_event_id(UNDERSTAFFED, w, s)) for (w, s), *_ in found]
    fresh = await store.record_alerts(conn, UNDERSTAFFED, items)
    events = []
    for (ward_id, shift_id), row, state, now in found:
        if (ward_id, shift_id) not in fresh:
            continue
        data = reporting.ShiftUnderstaffedData(
            shift_id=shift_id, ward_id=ward_id, date=row["day"], period=row["period"],
            min_staff=row["min_staff"], checked_in=state.on_time,
            detected_at=now or runtime.clock())
        events.append(reporting.ShiftUnderstaffed.create(
            data, service="reporting", time=runtime.clock(),
            event_id=alert_event_id(UNDERSTAFFED, ward_id, shift_id)))
    await outbox.add(conn, reporting.TOPIC, events)


async def recompute_due(runtime: Any, pool: asyncpg.Pool, limit: int = 500) -> int:
    """Sessions whose grace period or end has come by the clock; returns how many were redone."""
    async with pool.acquire() as conn, conn.transaction():
        if runtime.settings.clock == "watermark":
            rows = await conn.fetch(store.DUE_SESSIONS_WATERMARK, limit)
        else:
            rows = await conn.fetch(store.DUE_SESSIONS_WALL, runtime.clock(), limit)
        keys = [(r["ward_id"], r["shift_id"]) for r in rows]
        await store.lock(conn, keys)
        await recompute(runtime, conn, keys)
    return len(keys)


async def sweep_understaffed(runtime: Any, conn: asyncpg.Connection) -> None:
    """After a rebuild, in the transaction that marks it done, once every consumed topic has been
    read to its end: alert the understaffed sessions never alerted (recorded ones stay quiet)."""
    rows = await conn.fetch(
        "SELECT s.*, w.watermark FROM rp_shifts s LEFT JOIN rp_wards w USING (ward_id) "
        "WHERE s.status = 'understaffed' AND NOT EXISTS (SELECT 1 FROM rp_alerts a WHERE "
        "a.kind = $1 AND a.ward_id = s.ward_id AND a.key = s.shift_id)", UNDERSTAFFED)
    found = [((r["ward_id"], r["shift_id"]), r,
              domain.SessionState("understaffed", r["on_time"], r["seconds"], r["ended"], None),
              r["watermark"] if runtime.settings.clock == "watermark" else runtime.clock())
             for r in rows]
    if found:
        await emit_understaffed(runtime, conn, found)
