"""The reference campaign as data: who checks in, which citizens are helped, which dossiers arrive.

Pure and seeded: the same plan and seed give the same campaign, so a demo run and the national
simulator (benchmarks) are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

# Procedures by field: (procedure code, can be done fully online). Codes follow the national
# procedure catalogue's shape; fields are CONTRACT.md's.
PROCEDURES: dict[str, list[tuple[str, bool]]] = {
    "civil_status": [("1.001193", True), ("1.000894", True), ("1.001022", True)],
    "residence": [("1.004194", True), ("1.004222", True)],
    "land": [("1.004227", False), ("2.000889", False)],
    "social_insurance": [("1.011741", True), ("2.000746", True)],
    "business": [("2.001612", True)],
    "justice": [("2.000635", True), ("2.000843", False)],
    "other": [("1.009994", False)],
}
FIELD_WEIGHTS = {"civil_status": 34, "residence": 26, "land": 12, "social_insurance": 12,
                 "business": 6, "justice": 6, "other": 4}
AGE_BANDS = ["18_29", "30_44", "45_59", "60_74", "75_plus"]
NOT_COMPLETED_REASONS = ["no_vneid_level2", "missing_documents", "portal_unavailable",
                         "citizen_declined", "other"]


@dataclass(frozen=True)
class PlannedShift:
    shift_id: str
    date: date
    period: str
    starts_at: datetime
    ends_at: datetime
    member_ids: tuple[str, ...]


@dataclass(frozen=True)
class CheckIn:
    shift_id: str
    member_id: str
    at: datetime
    out_at: datetime | None  # None: forgot to check out (closed by the service)


@dataclass(frozen=True)
class Assist:
    shift_id: str | None
    member_ids: tuple[str, ...]
    venue: str
    field: str
    procedure_code: str
    actions: tuple[str, ...]
    outcome: str
    reason: str | None
    dossier_id: str | None
    started_at: datetime
    ended_at: datetime
    satisfaction: int | None
    vneid_level: str
    citizen_age_band: str
    citizen_vulnerable: bool


@dataclass(frozen=True)
class Dossier:
    dossier_id: str
    procedure_code: str
    field: str
    channel: str
    received_at: datetime
    eligible_fully_online: bool
    fully_online: bool
    fee_due: bool
    paid_online: bool | None
    assisted: bool


@dataclass
class Day:
    date: date
    checkins: list[CheckIn] = field(default_factory=list)
    assists: list[Assist] = field(default_factory=list)
    dossiers: list[Dossier] = field(default_factory=list)


def online_share(progress: float) -> float:
    """Share of walk-in dossiers filed online: with the desk's help on top, the ward's share
    starts near 45% and passes 80% by December."""
    return 0.37 + 0.48 * min(max(progress, 0.0), 1.0) ** 0.8


def _pick_field(rng: random.Random) -> str:
    return rng.choices(list(FIELD_WEIGHTS), weights=list(FIELD_WEIGHTS.values()))[0]


def _checkins(rng: random.Random, shift: PlannedShift) -> list[CheckIn]:
    result = []
    for member in shift.member_ids:
        roll = rng.random()
        if roll < 0.02:
            continue  # a no-show
        if roll < 0.05:
            at = shift.starts_at + timedelta(minutes=rng.randint(16, 50))  # late
        else:
            at = shift.starts_at + timedelta(minutes=rng.randint(-20, 5))
        out = None if rng.random() < 0.05 else shift.ends_at + timedelta(minutes=rng.randint(-10, 10))
        result.append(CheckIn(shift.shift_id, member, at, out))
    return result


class DossierNumbers:
    """Dossier codes as the provincial system issues them: prefix-yymmdd-sequence."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._seq: dict[date, int] = {}

    def next(self, day: date) -> str:
        self._seq[day] = self._seq.get(day, 0) + 1
        return f"{self.prefix}-{day:%y%m%d}-{self._seq[day]:04d}"


def _assist(rng: random.Random, shift: PlannedShift, present: Sequence[str], at: datetime,
            share: float, numbers: DossierNumbers) -> tuple[Assist, Dossier | None]:
    kind = _pick_field(rng)
    code, eligible = rng.choice(PROCEDURES[kind])
    duration = timedelta(minutes=rng.randint(6, 35))
    level = rng.choices(["level2", "level1", "none"], weights=[share * 100, 12, 10])[0]
    if kind == "land" or not eligible and rng.random() < 0.7:
        outcome, reason = "referred_to_counter", None
        actions: tuple[str, ...] = ("information_only",)
    elif level != "level2" and rng.random() < 0.6:
        outcome, reason = "not_completed", "no_vneid_level2"
        actions = ("vneid_activation",) if level == "level1" else ("account_setup",)
    elif rng.random() < 0.1:
        outcome = "not_completed"
        reason = rng.choice(NOT_COMPLETED_REASONS[1:])
        actions = ("vneid_login", "form_filling")
    else:
        outcome, reason = "submitted_online", None
        actions = ("vneid_login", "form_filling", "document_upload")
        if rng.random() < 0.3:
            actions += ("online_payment",)
    dossier = None
    dossier_id = None
    if outcome == "submitted_online":
        dossier_id = numbers.next(at.date())
        dossier = Dossier(dossier_id, code, kind, "online", at + duration + timedelta(seconds=40),
                          eligible, eligible, "online_payment" in actions,
                          True if "online_payment" in actions else None, True)
    helpers = tuple(rng.sample(list(present), k=min(len(present), rng.choice([1, 1, 1, 2]))))
    assist = Assist(
        shift_id=shift.shift_id, member_ids=helpers, venue="service_center", field=kind,
        procedure_code=code, actions=actions, outcome=outcome, reason=reason,
        dossier_id=dossier_id, started_at=at, ended_at=at + duration,
        satisfaction=rng.choices([None, 5, 4, 3, 2], weights=[30, 40, 20, 7, 3])[0],
        vneid_level=level, citizen_age_band=rng.choice(AGE_BANDS),
        citizen_vulnerable=rng.random() < 0.12)
    return assist, dossier


def _walk_ins(rng: random.Random, day: date, starts: datetime, count: int, share: float,
              numbers: DossierNumbers) -> list[Dossier]:
    """Dossiers the ward receives without desk help: online from home, at the counter, by post."""
    result = []
    for _ in range(count):
        kind = _pick_field(rng)
        code, eligible = rng.choice(PROCEDURES[kind])
        channel = rng.choices(["online", "in_person", "postal"],
                              weights=[share, (1 - share) * 0.92, (1 - share) * 0.08])[0]
        online = channel == "online"
        at = starts + timedelta(minutes=rng.randint(0, 9 * 60))
        fee = rng.random() < 0.35
        result.append(Dossier(numbers.next(day), code, kind, channel, at, eligible,
                              online and eligible, fee, (rng.random() < share) if fee and online
                              else None, False))
    return result


def campaign(ward_id: str, shifts: Sequence[PlannedShift], *, seed: int = 2025,
             citizens_per_session: tuple[int, int] = (6, 14),
             walk_ins_per_day: tuple[int, int] = (60, 110),
             dossier_prefix: str = "H49.25") -> Iterator[Day]:
    """Day by day, what happens at the ward: check-ins, assists, dossiers (time-ordered)."""
    rng = random.Random(f"{ward_id}:{seed}")
    numbers = DossierNumbers(dossier_prefix)
    by_day: dict[date, list[PlannedShift]] = {}
    for shift in sorted(shifts, key=lambda s: s.starts_at):
        by_day.setdefault(shift.date, []).append(shift)
    days = sorted(by_day)
    for index, day in enumerate(days):
        progress = index / max(len(days) - 1, 1)
        share = online_share(progress)
        result = Day(day)
        for shift in by_day[day]:
            checkins = _checkins(rng, shift)
            result.checkins.extend(checkins)
            present = [c.member_id for c in checkins] or list(shift.member_ids[:1])
            count = rng.randint(*citizens_per_session)
            span = (shift.ends_at - shift.starts_at).total_seconds() / 60 - 40
            for minute in sorted(rng.sample(range(10, int(span)), k=min(count, int(span) - 10))):
                assist, dossier = _assist(rng, shift, present,
                                          shift.starts_at + timedelta(minutes=minute), share,
                                          numbers)
                result.assists.append(assist)
                if dossier is not None:
                    result.dossiers.append(dossier)
        first = by_day[day][0].starts_at
        result.dossiers.extend(_walk_ins(rng, day, first, rng.randint(*walk_ins_per_day),
                                         share, numbers))
        result.dossiers.sort(key=lambda d: d.received_at)
        yield result
