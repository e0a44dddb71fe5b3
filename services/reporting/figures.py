"""The read models' figures for one ward or all, read with the same SQL by /metrics and reports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg

from services.reporting import domain

# {where}: nothing (every ward) or a filter on a list of wards. Ordered by primary key: an index
# scan, stable output.
SOME_WARDS = "WHERE ward_id = ANY($1::text[])"
WARDS = "SELECT ward_id FROM rp_wards {where} ORDER BY ward_id"
DOSSIER_TOTALS = """
SELECT ward_id, channel, field, dossiers, eligible, fully_online, assisted FROM rp_dossier_totals
{where} ORDER BY ward_id, channel, field
"""
ASSIST_TOTALS = """
SELECT ward_id, venue, outcome, assists, duration_ms, rated, satisfied, vneid_blocked
FROM rp_assist_totals {where} ORDER BY ward_id, venue, outcome
"""
DURATIONS = "SELECT ward_id, le, assists FROM rp_assist_durations {where} ORDER BY ward_id, le"
SHIFT_TOTALS = """
SELECT ward_id, scheduled, staffed, understaffed, cancelled, seconds FROM rp_ward_shift_totals
{where} ORDER BY ward_id
"""
# One row per ward: a digest of every total /metrics shows of it (3,321 rows instead of about
# 100,000), so that a refresh reads and renders again only the wards whose digest changed.
# Keep the columns in step with the queries above and with exposition.py.
WARD_DIGESTS = """
WITH d AS (SELECT ward_id, string_agg(concat_ws(' ', channel, field, dossiers, eligible,
                  fully_online), ',' ORDER BY channel, field) AS t
           FROM rp_dossier_totals GROUP BY ward_id),
     a AS (SELECT ward_id, string_agg(concat_ws(' ', venue, outcome, assists, duration_ms, rated,
                  satisfied), ',' ORDER BY venue, outcome) AS t
           FROM rp_assist_totals GROUP BY ward_id),
     h AS (SELECT ward_id, string_agg(concat_ws(' ', le, assists), ',' ORDER BY le) AS t
           FROM rp_assist_durations GROUP BY ward_id),
     s AS (SELECT ward_id, concat_ws(' ', scheduled, staffed, understaffed, cancelled, seconds) AS t
           FROM rp_ward_shift_totals),
     ids AS (SELECT ward_id FROM rp_wards UNION SELECT ward_id FROM d UNION SELECT ward_id FROM a
             UNION SELECT ward_id FROM h UNION SELECT ward_id FROM s)
SELECT ids.ward_id, md5(concat(d.t, '|', a.t, '|', h.t, '|', s.t)) AS digest
FROM ids LEFT JOIN d USING (ward_id) LEFT JOIN a USING (ward_id) LEFT JOIN h USING (ward_id)
     LEFT JOIN s USING (ward_id)
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


@dataclass
class TotalsRows:
    """The rows of the totals tables for some wards (asyncpg records, read by position)."""

    wards: list
    dossiers: list
    assists: list
    durations: list
    shifts: list


async def fetch_rows(conn: asyncpg.Connection, ward_ids: list[str] | None = None) -> TotalsRows:
    """The totals of the given wards, or of every ward (None); run it in one transaction."""
    where, args = ("", ()) if ward_ids is None else (SOME_WARDS, (ward_ids,))
    return TotalsRows(*[await conn.fetch(sql.format(where=where), *args) for sql in
                        (WARDS, DOSSIER_TOTALS, ASSIST_TOTALS, DURATIONS, SHIFT_TOTALS)])


async def read_totals(conn: asyncpg.Connection, ward_id: str | None = None) -> Snapshot:
    """Every ward's campaign totals (or one ward's), as /metrics exports them."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await fetch_rows(conn, None if ward_id is None else [ward_id])
    return snapshot(rows)


def snapshot(rows: TotalsRows) -> Snapshot:
    """The wards' totals from their rows: pure, so that /metrics can run it off the event loop."""
    wards: dict[str, WardTotals] = defaultdict(WardTotals)
    for (ward_id,) in rows.wards:
        wards[ward_id]  # noqa: B018 - a known ward, even with no figures yet
    for ward_id, channel, field_, dossiers, eligible, fully_online, assisted in rows.dossiers:
        w = wards[ward_id]
        w.dossiers[(channel, field_)] = dossiers
        w.eligible += eligible
        w.fully_online += fully_online
        if channel == "online":
            w.assisted_online += assisted
    for ward_id, venue, outcome, assists, duration_ms, rated, satisfied, blocked in rows.assists:
        w = wards[ward_id]
        w.assists[(venue, outcome)] = assists
        w.duration_ms += duration_ms
        w.rated += rated
        w.satisfied += satisfied
        w.vneid_blocked += blocked
    for ward_id, le, assists in rows.durations:
        wards[ward_id].durations.append((le, assists))
    for ward_id, scheduled, staffed, understaffed, cancelled, seconds in rows.shifts:
        w = wards[ward_id]
        w.shifts = dict(zip(domain.SHIFT_STATUSES, (scheduled, staffed, understaffed, cancelled),
                            strict=True))
        w.seconds = seconds
    return Snapshot(dict(sorted(wards.items())))
