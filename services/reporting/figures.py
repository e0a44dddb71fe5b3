"""The read models' figures for one ward or all, read with the same SQL by /metrics and reports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg

from services.reporting import domain

# $1: one ward, or NULL for every ward. Ordered by primary key: an index scan, stable output.
DOSSIER_TOTALS = """
SELECT ward_id, channel, field, dossiers, eligible, fully_online, assisted FROM rp_dossier_totals
WHERE $1::text IS NULL OR ward_id = $1 ORDER BY ward_id, channel, field
"""
ASSIST_TOTALS = """
SELECT ward_id, venue, outcome, assists, duration_ms, rated, satisfied, vneid_blocked
FROM rp_assist_totals WHERE $1::text IS NULL OR ward_id = $1 ORDER BY ward_id, venue, outcome
"""
DURATIONS = """
SELECT ward_id, le, assists FROM rp_assist_durations
WHERE $1::text IS NULL OR ward_id = $1 ORDER BY ward_id, le
"""
SHIFT_TOTALS = """
SELECT ward_id, scheduled, staffed, understaffed, cancelled, seconds FROM rp_ward_shift_totals
WHERE $1::text IS NULL OR ward_id = $1 ORDER BY ward_id
"""
WARDS = """
SELECT ward_id, first_day, last_day, watermark FROM rp_wards
WHERE $1::text IS NULL OR ward_id = $1 ORDER BY ward_id
"""


@dataclass
class WardTotals:
    """A ward's figures over the whole campaign (all its data)."""

    dossiers: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, field) -> n
    eligible: int = 0
    fully_online: int = 0
    assisted_online: int = 0
    assists: dict[tuple[str, str], int] = field(default_factory=dict)  # (venue, outcome) -> n
    duration_ms: int = 0
    rated: int = 0
    satisfied: int = 0
    vneid_blocked: int = 0
    durations: list[tuple[float, int]] = field(default_factory=list)  # (le, n), not cumulative
    shifts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(domain.SHIFT_STATUSES, 0))
    seconds: int = 0

    @property
    def dossiers_total(self) -> int:
        return sum(self.dossiers.values())

    @property
    def dossiers_online(self) -> int:
        return sum(n for (channel, _), n in self.dossiers.items() if channel == "online")

    @property
    def online_ratio(self) -> float | None:
        return domain.ratio(self.dossiers_online, self.dossiers_total)

    @property
    def fully_online_ratio(self) -> float | None:
        return domain.ratio(self.fully_online, self.eligible)

    @property
    def assists_total(self) -> int:
        return sum(self.assists.values())

    @property
    def satisfaction_ratio(self) -> float | None:
        return domain.ratio(self.satisfied, self.rated)

    @property
    def volunteer_hours(self) -> float:
        return domain.hours(self.seconds)


@dataclass
class Snapshot:
    wards: dict[str, WardTotals] = field(default_factory=dict)


async def read_totals(conn: asyncpg.Connection, ward_id: str | None = None) -> Snapshot:
    """Every ward's campaign totals (or one ward's), as /metrics exports them."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _read_totals(conn, ward_id)


async def _read_totals(conn: asyncpg.Connection, ward_id: str | None) -> Snapshot:
    wards: dict[str, WardTotals] = defaultdict(WardTotals)
    for r in await conn.fetch(WARDS, ward_id):
        wards[r["ward_id"]]  # noqa: B018 - a known ward, even with no figures yet
    for r in await conn.fetch(DOSSIER_TOTALS, ward_id):
        w = wards[r["ward_id"]]
        w.dossiers[(r["channel"], r["field"])] = r["dossiers"]
        w.eligible += r["eligible"]
        w.fully_online += r["fully_online"]
        if r["channel"] == "online":
            w.assisted_online += r["assisted"]
    for r in await conn.fetch(ASSIST_TOTALS, ward_id):
        w = wards[r["ward_id"]]
        w.assists[(r["venue"], r["outcome"])] = r["assists"]
        w.duration_ms += r["duration_ms"]
        w.rated += r["rated"]
        w.satisfied += r["satisfied"]
        w.vneid_blocked += r["vneid_blocked"]
    for r in await conn.fetch(DURATIONS, ward_id):
        wards[r["ward_id"]].durations.append((r["le"], r["assists"]))
    for r in await conn.fetch(SHIFT_TOTALS, ward_id):
        w = wards[r["ward_id"]]
        w.shifts = {s: r[s] for s in domain.SHIFT_STATUSES}
        w.seconds = r["seconds"]
    return Snapshot(dict(sorted(wards.items())))
