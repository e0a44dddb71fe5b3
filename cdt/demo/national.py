"""The national simulator: the demo's campaign for many wards of different sizes, with morning
peaks and an online share per ward drifting over time, as events the services publish.

Pure and seeded like `cdt.demo.scenario`, whose helpers it reuses (check-ins, assists, dossier
numbers); it adds ward profiles, roster files per ward, the plan from the real planner, walk-in
arrival times peaking in the morning, and the Kafka records of every event. The benchmarks
(`tests/bench/`) use it for a province (100 wards) and the country (3,321 wards).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cdt.demo import scenario
from cdt.demo.scenario import Day, Dossier, DossierNumbers, PlannedShift
from services.roster.domain import Plan, PlanRules, Volunteer, plan_rotation
from services.roster.reference import FAMILY_NAMES, GIVEN_NAMES, MIDDLE_NAMES
from services.roster.values import slugify
from shared.events import Event
from shared.events import assist as a
from shared.events import roster as r

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
COUNTRY_WARDS = 3321
PROVINCE_WARDS = 100
DOSSIERS_PER_YEAR = 100_000_000  # the country, all channels (order of magnitude, 2025)
WORKING_DAYS_PER_YEAR = 250
# An average ward: 100M dossiers / 3,321 wards / 250 working days ~ 120 a day.
MEAN_DOSSIERS_PER_DAY = DOSSIERS_PER_YEAR / COUNTRY_WARDS / WORKING_DAYS_PER_YEAR
OCCUPATIONS = ("teacher", "retiree", "youth_union", "ward_official", "other")
OCCUPATION_WEIGHTS = (30, 25, 22, 13, 10)

# When walk-in citizens file dossiers, as (weight, earliest, mode, latest) local hours: a morning
# peak around 9:00, a smaller one after lunch, and online filings from home in the evening.
ARRIVALS = ((0.58, 7.0, 8.9, 11.5), (0.32, 13.3, 14.6, 17.0), (0.10, 17.0, 20.0, 23.0))


@dataclass(frozen=True)
class WardProfile:
    """One ward: its size, how many dossiers a day, how its online share drifts."""

    ward_id: str
    size: float  # relative to an average ward (1.0)
    teams: int
    members_per_team: int
    dossiers_per_day: int  # mean walk-in dossiers on a working day
    share_start: float  # online share of walk-in dossiers at the start of the campaign
    share_end: float  # ... and at its end
    seed: int

    def online_share(self, progress: float, rng: random.Random | None = None) -> float:
        """The ward's online share at `progress` (0..1) of the campaign, with daily noise."""
        p = min(max(progress, 0.0), 1.0)
        share = self.share_start + (self.share_end - self.share_start) * p ** 0.8
        if rng is not None:
            share += rng.gauss(0, 0.02)
        return min(max(share, 0.05), 0.97)


def ward_profiles(count: int, *, seed: int = 2025, prefix: str = "xa") -> list[WardProfile]:
    """`count` wards with log-normal sizes (mean 1): small rural communes to dense city wards."""
    rng = random.Random(f"wards:{seed}:{count}:{prefix}")
    sigma = 0.6
    wards = []
    for index in range(count):
        size = min(max(rng.lognormvariate(-sigma * sigma / 2, sigma), 0.2), 5.0)
        start = rng.uniform(0.28, 0.55)
        wards.append(WardProfile(
            ward_id=f"{prefix}-{index + 1:04d}",
            size=round(size, 3),
            teams=max(4, min(40, round(14 * size ** 0.6))),
            members_per_team=rng.randint(5, 9),
            dossiers_per_day=max(15, round(MEAN_DOSSIERS_PER_DAY * 0.9 * size)),
            share_start=round(start, 3),
            share_end=round(min(start + rng.uniform(0.15, 0.45), 0.93), 3),
            seed=rng.randrange(1 << 30),
        ))
    return wards


def _name(rng: random.Random) -> str:
    sex = rng.choice(("male", "female"))
    return (f"{rng.choice(FAMILY_NAMES)} {rng.choice(MIDDLE_NAMES[sex])} "
            f"{rng.choice(GIVEN_NAMES[sex])}")


def roster_rows(ward: WardProfile) -> list[dict[str, str]]:
    """The ward's roster file as rows (team, hamlet, member, occupation, is_leader, phone)."""
    rng = random.Random(f"roster:{ward.ward_id}:{ward.seed}")
    rows = []
    for t in range(ward.teams):
        team = f"Tổ dân phố số {t + 1}"
        slugs: set[str] = set()
        names = []
        while len(names) < ward.members_per_team:
            name = _name(rng)
            if slugify(name) in slugs:  # twins in a team are refused by the import
                name = f"{name} {chr(ord('A') + len(names))}"
            slugs.add(slugify(name))
            names.append(name)
        for i, name in enumerate(names):
            rows.append({"team": team, "hamlet": f"Khu phố {t // 3 + 1}", "member": name,
                         "occupation": rng.choices(OCCUPATIONS, OCCUPATION_WEIGHTS)[0],
                         "is_leader": "yes" if i == 0 else "no",
                         "phone": f"09{rng.randrange(10 ** 8):08d}", "unavailable": ""})
    return rows


def roster_csv(ward: WardProfile) -> bytes:
    """The roster file as an operator uploads it (CSV UTF-8 with a BOM)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=("team", "hamlet", "member", "occupation",
                                             "is_leader", "phone", "unavailable"),
                            lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(roster_rows(ward))
    return out.getvalue().encode("utf-8-sig")


@dataclass(frozen=True)
class Roster:
    """What the roster service knows of a ward after its import: teams and active members."""

    teams: tuple[tuple[str, str, str], ...]  # (team_id, name, hamlet)
    members: tuple[tuple[str, str, str, str, bool], ...]  # (member_id, team_id, name, job, leader)

    @property
    def volunteers(self) -> list[Volunteer]:
        return [Volunteer(m[0], m[1]) for m in self.members]


def roster_of(ward: WardProfile) -> Roster:
    teams: dict[str, tuple[str, str, str]] = {}
    members = []
    for row in roster_rows(ward):
        team_id = slugify(row["team"])
        teams.setdefault(team_id, (team_id, row["team"], row["hamlet"]))
        members.append((f"{team_id}-{slugify(row['member'])}", team_id, row["member"],
                        row["occupation"], row["is_leader"] == "yes"))
    return Roster(tuple(teams.values()), tuple(members))


def plan_campaign(ward: WardProfile, start: date, end: date, roster: Roster | None = None,
                  rules: PlanRules = PlanRules()) -> Plan:
    """The rotation the roster service would plan (its pure planner, default rules)."""
    roster = roster or roster_of(ward)
    return plan_rotation(ward.ward_id, [t[0] for t in roster.teams], roster.volunteers, start,
                         end, rules)


def planned_shifts(plan: Plan) -> list[PlannedShift]:
    return [PlannedShift(s.shift_id, s.date, s.period, s.starts_at, s.ends_at,
                         plan.assignments[s.shift_id]) for s in plan.sessions]


def _hour(rng: random.Random) -> float:
    weights = [w for w, *_ in ARRIVALS]
    _, low, mode, high = rng.choices(ARRIVALS, weights=weights)[0]
    return rng.triangular(low, high, mode)


def _walk_ins(rng: random.Random, day: date, count: int, share: float,
              numbers: DossierNumbers) -> list[Dossier]:
    """Dossiers received without desk help, arriving with the morning peak."""
    result = []
    for _ in range(count):
        kind = scenario._pick_field(rng)
        code, eligible = rng.choice(scenario.PROCEDURES[kind])
        hour = _hour(rng)
        channel = "online" if hour >= 17 else rng.choices(
            ["online", "in_person", "postal"],
            weights=[share, (1 - share) * 0.92, (1 - share) * 0.08])[0]
        online = channel == "online"
        at = datetime.combine(day, time(0), TZ) + timedelta(seconds=round(hour * 3600))
        fee = rng.random() < 0.35
        result.append(Dossier(numbers.next(day), code, kind, channel, at, eligible,
                              online and eligible, fee,
                              (rng.random() < share) if fee and online else None, False))
    return result


def campaign(ward: WardProfile, shifts: Sequence[PlannedShift]) -> Iterator[Day]:
    """Day by day, what happens at the ward (the demo's day, with this ward's volumes)."""
    rng = random.Random(f"campaign:{ward.ward_id}:{ward.seed}")
    numbers = DossierNumbers(f"{ward.ward_id.upper()}")
    by_day: dict[date, list[PlannedShift]] = {}
    for shift in sorted(shifts, key=lambda s: s.starts_at):
        by_day.setdefault(shift.date, []).append(shift)
    days = sorted(by_day)
    helped = (max(2, round(5 * ward.size ** 0.5)), max(4, round(12 * ward.size ** 0.5)))
    for index, day in enumerate(days):
        share = ward.online_share(index / max(len(days) - 1, 1), rng)
        result = Day(day)
        for shift in by_day[day]:
            checkins = scenario._checkins(rng, shift)
            result.checkins.extend(checkins)
            present = [c.member_id for c in checkins] or list(shift.member_ids[:1])
            span = int((shift.ends_at - shift.starts_at).total_seconds() / 60 - 40)
            count = min(rng.randint(*helped), span - 10)
            for minute in sorted(rng.sample(range(10, span), k=count)):
                assist, dossier = scenario._assist(rng, shift, present,
                                                   shift.starts_at + timedelta(minutes=minute),
                                                   share, numbers)
                result.assists.append(assist)
                if dossier is not None:
                    result.dossiers.append(dossier)
        # Monday mornings are busier; a day varies by +-25% around the ward's mean.
        mean = ward.dossiers_per_day * (1.15 if day.weekday() == 0 else 1.0)
        count = max(0, round(rng.uniform(0.75, 1.25) * mean))
        result.dossiers.extend(_walk_ins(rng, day, count, share, numbers))
        result.dossiers.sort(key=lambda d: d.received_at)
        yield result


def stable_id(*parts: object) -> str:
    """A UUID-shaped id derived from its parts (the same on every run; cheaper than uuid5)."""
    h = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def roster_events(ward: WardProfile, plan: Plan, roster: Roster | None = None,
                  at: datetime | None = None) -> list[Event]:
    """What the roster service publishes for the ward's import and plan."""
    roster = roster or roster_of(ward)
    first = plan.sessions[0].starts_at if plan.sessions else datetime.now(UTC)
    at = at or first - timedelta(days=3)
    w = ward.ward_id
    events: list[Event] = []

    def add(cls: type[Event], data: object, key: str) -> None:
        events.append(cls.create(data, service="roster", time=at,  # type: ignore[arg-type]
                                 event_id=stable_id(w, cls.TYPE, key)))

    leaders = {m[1]: m[0] for m in roster.members if m[4]}
    for team_id, name, hamlet in roster.teams:
        add(r.TeamRegistered, r.TeamRegisteredData(ward_id=w, team_id=team_id, name=name,
                                                   hamlet=hamlet, leader_member_id=leaders.get(team_id)),
            team_id)
    for member_id, team_id, name, job, leader in roster.members:
        add(r.MemberRegistered, r.MemberRegisteredData(ward_id=w, member_id=member_id,
                                                       team_id=team_id, display_name=name,
                                                       occupation=job, is_leader=leader), member_id)
    for s in plan.sessions:
        add(r.ShiftScheduled, r.ShiftScheduledData(
            ward_id=w, shift_id=s.shift_id, team_id=s.team_id, location=s.location, date=s.date,
            period=s.period, starts_at=s.starts_at, ends_at=s.ends_at, min_staff=s.min_staff),
            s.shift_id)
        for member_id in plan.assignments[s.shift_id]:
            add(r.ShiftAssigned, r.ShiftAssignedData(ward_id=w, shift_id=s.shift_id,
                                                     member_id=member_id),
                f"{s.shift_id}/{member_id}")
    return events


def day_events(ward: WardProfile, day: Day) -> list[Event]:
    """What the assist service publishes for one day of the ward, in time order."""
    w = ward.ward_id
    events: list[tuple[datetime, Event]] = []
    for c in day.checkins:
        checkin_id = stable_id(w, "checkin", c.shift_id, c.member_id)
        data = a.DeskCheckedInData(ward_id=w, checkin_id=checkin_id, shift_id=c.shift_id,
                                   member_id=c.member_id, at=c.at)
        events.append((c.at, a.DeskCheckedIn.create(data, service="assist", time=c.at,
                                                    event_id=stable_id(checkin_id, "in"))))
        if c.out_at is not None:
            out = a.DeskCheckedOutData(ward_id=w, checkin_id=checkin_id, shift_id=c.shift_id,
                                       member_id=c.member_id, at=c.out_at)
            events.append((c.out_at, a.DeskCheckedOut.create(
                out, service="assist", time=c.out_at, event_id=stable_id(checkin_id, "out"))))
    for s in day.assists:
        assist_id = stable_id(w, "assist", s.shift_id, s.started_at.isoformat())
        data = a.AssistCompletedData(
            ward_id=w, assist_id=assist_id, shift_id=s.shift_id, member_ids=list(s.member_ids),
            venue=s.venue, procedure_code=s.procedure_code, field=s.field,
            actions=list(s.actions), outcome=s.outcome, reason=s.reason,
            dossier_id=s.dossier_id, started_at=s.started_at, ended_at=s.ended_at,
            satisfaction=s.satisfaction, vneid_level=s.vneid_level,
            citizen_age_band=s.citizen_age_band, citizen_vulnerable=s.citizen_vulnerable)
        events.append((s.ended_at, a.AssistCompleted.create(data, service="assist",
                                                            time=s.ended_at,
                                                            event_id=stable_id(assist_id))))
    for d in day.dossiers:
        data = a.DossierReceivedData(
            ward_id=w, dossier_id=d.dossier_id, procedure_code=d.procedure_code, field=d.field,
            channel=d.channel, received_at=d.received_at, assisted=d.assisted,
            eligible_fully_online=d.eligible_fully_online, fully_online=d.fully_online,
            fee_due=d.fee_due, paid_online=d.paid_online)
        events.append((d.received_at, a.DossierReceived.create(
            data, service="assist", time=d.received_at,
            event_id=stable_id(w, "dossier", d.dossier_id))))
    events.sort(key=lambda pair: pair[0])
    return [e for _, e in events]


Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # (topic, key, value, headers)


def record(event: Event) -> Record:
    key, value, headers = event.to_kafka()
    topic = r.TOPIC if event.type.startswith("vn.cdt.roster.") else a.TOPIC
    return topic, key, value, headers


@dataclass
class Volume:
    """What a simulation produced, by event type."""

    events: int = 0
    by_type: dict[str, int] | None = None
    wards: int = 0
    days: int = 0

    def add(self, event: Event) -> None:
        self.events += 1
        self.by_type = self.by_type or {}
        self.by_type[event.type] = self.by_type.get(event.type, 0) + 1


def province_records(wards: Sequence[WardProfile], start: date, end: date, *,
                     limit: int | None = None, days: int | None = None,
                     volume: Volume | None = None) -> Iterator[Record]:
    """Every ward's roster events, then their days interleaved (day 1 of every ward, day 2...),
    until `limit` events or `days` working days; the campaign is planned from start to end."""
    volume = volume if volume is not None else Volume()
    for event in itertools.islice(_province_events(wards, start, end, days, volume), limit):
        volume.add(event)
        yield record(event)


def _province_events(wards: Sequence[WardProfile], start: date, end: date, days: int | None,
                     volume: Volume) -> Iterator[Event]:
    plans = {w.ward_id: plan_campaign(w, start, end) for w in wards}
    for w in wards:
        plan = plans[w.ward_id]
        if days is not None:  # only the sessions of the days played
            keep = {s.date for s in plan.sessions}
            keep = set(sorted(keep)[:days])
            sessions = tuple(s for s in plan.sessions if s.date in keep)
            plan = Plan(sessions, {s.shift_id: plan.assignments[s.shift_id] for s in sessions}, ())
            plans[w.ward_id] = plan
        yield from roster_events(w, plan)
    volume.wards = len(wards)
    calendars = [campaign(w, planned_shifts(plans[w.ward_id])) for w in wards]
    played = 0
    while calendars and (days is None or played < days):
        played += 1
        volume.days = played
        alive = []
        for w, calendar in zip(wards, calendars, strict=True):
            day = next(calendar, None)
            if day is None:
                continue
            alive.append((w, calendar))
            yield from day_events(w, day)
        wards = [w for w, _ in alive]
        calendars = [c for _, c in alive]


def intake_event(ward_id: str, number: int, at: datetime, rng: random.Random) -> Event:
    """A dossier as the provincial dossier system reports it on `cdt.intake.dossiers`."""
    from shared.events.intake import IntakeDossierReceived

    kind = scenario._pick_field(rng)
    code, eligible = rng.choice(scenario.PROCEDURES[kind])
    channel = rng.choices(["online", "in_person", "postal"], weights=[60, 36, 4])[0]
    data = a.DossierReceivedData(
        ward_id=ward_id, dossier_id=f"{ward_id.upper()}-{at:%y%m%d}-{number:06d}",
        procedure_code=code, field=kind, channel=channel, received_at=at,
        eligible_fully_online=eligible, fully_online=eligible and channel == "online")
    return IntakeDossierReceived.create(data, service="dossier-system", time=at,
                                        event_id=stable_id(ward_id, "intake", number))


def arrival_peak_factor(samples: int = 200_000, seed: int = 1) -> float:
    """Busiest quarter-hour's arrival rate over the mean rate of the 7:00-17:00 office day."""
    rng = random.Random(seed)
    slots = [0] * 96
    for _ in range(samples):
        slots[int(_hour(rng) * 4)] += 1
    office = sum(slots[28:68]) / 40
    return max(slots) / office if office else math.nan


def sizes(wards: Iterable[WardProfile]) -> dict[str, float]:
    """Summary of a set of wards: members and dossiers a day, smallest/median/largest."""
    wards = list(wards)
    members = sorted(w.teams * w.members_per_team for w in wards)
    per_day = sorted(w.dossiers_per_day for w in wards)
    mid = len(wards) // 2
    return {"wards": len(wards), "members_min": members[0], "members_median": members[mid],
            "members_max": members[-1], "members_total": sum(members),
            "dossiers_per_day_min": per_day[0], "dossiers_per_day_median": per_day[mid],
            "dossiers_per_day_max": per_day[-1], "dossiers_per_day_total": sum(per_day)}
