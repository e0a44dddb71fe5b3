"""A simulated week of one ward (roster, check-ins, assists, dossiers) and its expected figures,
computed here from the events alone, independently of the reporting service's code."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.events import Event
from shared.events import assist as a
from shared.events import roster as r

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TEAMS = [("Đoan Trai", "Thôn Đoan Trai"), ("Mỹ Thạch Tây", "Tổ Mỹ Thạch Tây"),
         ("Trường Đồng", "Tổ Trường Đồng")]
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Minh Châu", "Phạm Thu Dung", "Hoàng Đức Em",
         "Võ Thị Giang", "Đặng Quốc Huy", "Bùi Thị Lan", "Đỗ Văn Minh", "Huỳnh Thị Ngọc",
         "Phan Văn Phúc", "Vũ Thị Quyên", "Trương Văn Sơn", "Ngô Thị Thảo", "Dương Văn Uy",
         "Lý Thị Vân", "Mai Xuân Yên", "Tạ Thị Ánh", "Cao Văn Bảo", "Lưu Thị Cúc", "Hồ Văn Đạt"]
OCCUPATIONS = ["teacher", "retiree", "youth_union", "ward_official", "other"]
FIELDS = ["civil_status", "residence", "land", "social_insurance", "business", "justice", "other"]
BUCKETS = (60.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, float("inf"))


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), TZ)


@dataclass
class Week:
    ward_id: str
    roster: list[Event] = field(default_factory=list)
    assist: list[Event] = field(default_factory=list)  # in data-time order, as a desk sends them


def data_time(event: Event) -> datetime:
    d = event.data
    return getattr(d, "at", None) or getattr(d, "ended_at", None) or d.received_at


def simulate_week(ward_id: str, monday: date, *, seed: int = 7, days: int = 5,
                  dossiers_per_day: int = 30, assists_per_shift: int = 4,
                  extra_day: bool = True) -> Week:
    rnd = random.Random(seed)
    week = Week(ward_id)
    published = local(monday - timedelta(days=3), 9)

    def roster_event(cls, data_cls, when: datetime, **fields) -> None:
        week.roster.append(cls.create(data_cls(ward_id=ward_id, **fields), service="roster",
                                      time=when + timedelta(milliseconds=len(week.roster))))

    members: dict[str, list[str]] = {}
    for t, (name, hamlet) in enumerate(TEAMS):
        team_id = f"team-{t + 1}"
        roster_event(r.TeamRegistered, r.TeamRegisteredData, published, team_id=team_id, name=name,
                     hamlet=hamlet)
        members[team_id] = []
        for m in range(7):
            member_id = f"m-{t + 1}-{m + 1}"
            members[team_id].append(member_id)
            roster_event(r.MemberRegistered, r.MemberRegisteredData, published, member_id=member_id,
                         team_id=team_id, display_name=NAMES[t * 7 + m],
                         occupation=OCCUPATIONS[m % 5], is_leader=m == 0)
    roster_event(r.MemberDeactivated, r.MemberDeactivatedData, published, member_id="m-3-7",
                 reason="chuyển công tác")
    shifts = []
    for d in range(days):
        day = monday + timedelta(days=d)
        for p, (period, start, end) in enumerate([("morning", (7, 30), (11, 30)),
                                                   ("afternoon", (13, 30), (17, 0))]):
            index = len(shifts)
            team_id = f"team-{(2 * d + p) % 3 + 1}"
            shift_id = f"s-{day.isoformat()}-{period}"
            starts, ends = local(day, *start), local(day, *end)
            roster_event(r.ShiftScheduled, r.ShiftScheduledData, published, shift_id=shift_id,
                         team_id=team_id, location="service_center", date=day, period=period,
                         starts_at=starts, ends_at=ends, min_staff=2)
            assigned = [members[team_id][(index + k) % 6] for k in range(3)]
            for member_id in assigned:
                roster_event(r.ShiftAssigned, r.ShiftAssignedData, published, shift_id=shift_id,
                             member_id=member_id)
            shifts.append({"id": shift_id, "day": day, "starts": starts, "ends": ends,
                           "assigned": list(assigned), "team": team_id, "index": index})
    change = published + timedelta(days=2)
    if len(shifts) > 1:  # someone cannot come: unassigned, replaced by a teammate
        s = shifts[1]
        out, sub = s["assigned"][0], members[s["team"]][6 if s["team"] != "team-3" else 5]
        roster_event(r.ShiftUnassigned, r.ShiftUnassignedData, change, shift_id=s["id"],
                     member_id=out, reason="ốm")
        roster_event(r.ShiftAssigned, r.ShiftAssignedData, change, shift_id=s["id"],
                     member_id=sub)
        s["assigned"] = [m for m in s["assigned"] if m != out] + [sub]
        s["unassigned"] = out
    cancelled = {shifts[3]["id"]} if len(shifts) > 3 else set()
    for shift_id in cancelled:
        roster_event(r.ShiftCancelled, r.ShiftCancelledData, change, shift_id=shift_id,
                     reason="mất điện")

    events: list[Event] = []
    counter = 0

    def assist_event(cls, data_cls, when: datetime, **fields) -> None:
        events.append(cls.create(data_cls(ward_id=ward_id, **fields), service="assist",
                                 time=when + timedelta(seconds=1)))

    dossier_no = 0
    for s in shifts:
        if s["id"] in cancelled:
            continue
        present = []
        for k, member_id in enumerate(s["assigned"] + ([s.get("unassigned")] if s.get("unassigned")
                                                       else []) + [None]):
            if member_id is None:  # sometimes a teammate who was not assigned helps out
                if rnd.random() < 0.5:
                    continue
                member_id = members[s["team"]][6 if s["team"] != "team-3" else 5]
                if member_id in s["assigned"]:
                    continue
            kind = rnd.choices(["on_time", "late", "absent"], [6, 2, 2])[0]
            if s["index"] == 2:  # a session that ends understaffed
                kind = "on_time" if k == 0 else "late"
            if s["index"] == 0:
                kind = "on_time"
            if kind == "absent":
                continue
            offset = rnd.randint(-12, 14) if kind == "on_time" else rnd.randint(20, 70)
            at_in = s["starts"] + timedelta(minutes=offset)
            counter += 1
            checkin_id = f"c-{counter}"
            assist_event(a.DeskCheckedIn, a.DeskCheckedInData, at_in, checkin_id=checkin_id,
                         shift_id=s["id"], member_id=member_id, at=at_in)
            present.append(member_id)
            if rnd.random() < 0.8:
                at_out = s["ends"] + timedelta(minutes=rnd.randint(-40, 20))
                assist_event(a.DeskCheckedOut, a.DeskCheckedOutData, at_out, checkin_id=checkin_id,
                             shift_id=s["id"], member_id=member_id, at=at_out)
        for _ in range(assists_per_shift if present else 0):
            started = s["starts"] + timedelta(minutes=rnd.randint(15, 190))
            ended = started + timedelta(seconds=rnd.randint(40, 2400))
            dossier_no = _assist(assist_event, rnd, ward_id, s["id"], [rnd.choice(present)],
                                 "service_center", started, ended, dossier_no)
    for d in range(days):
        day = monday + timedelta(days=d)
        helper = members[f"team-{d % 3 + 1}"][0]
        for h in range(2):  # outreach: cultural house and household visits, no session
            started = local(day, 18 + h, 5)
            dossier_no = _assist(assist_event, rnd, ward_id, None, [helper],
                                 "household_visit" if h else "cultural_house", started,
                                 started + timedelta(minutes=25 + 10 * h), dossier_no)
        share = 0.45 + 0.08 * d
        for _ in range(dossiers_per_day):
            dossier_no += 1
            received = local(day, 7) + timedelta(minutes=rnd.randint(0, 600))
            channel = "online" if rnd.random() < share else rnd.choice(["in_person", "postal"])
            eligible = rnd.random() < 0.7
            assist_event(a.DossierReceived, a.DossierReceivedData, received,
                         dossier_id=f"d-{dossier_no}", procedure_code=f"1.00{rnd.randint(1, 9)}",
                         field=rnd.choice(FIELDS), channel=channel, received_at=received,
                         assisted=channel == "online" and rnd.random() < 0.2,
                         eligible_fully_online=eligible,
                         fully_online=eligible and channel == "online" and rnd.random() < 0.7)
    # a provincial re-send of two dossiers: new event ids, same dossier ids: counted once
    resent = [e for e in events if isinstance(e, a.DossierReceived)][:2]
    for e in resent:
        events.append(a.DossierReceived.create(e.data, service="assist",
                                               time=e.data.received_at + timedelta(hours=2)))
    if extra_day:  # a Saturday online dossier: the data clock passes the end of Friday
        saturday = monday + timedelta(days=days)
        while saturday.weekday() < 5:
            saturday += timedelta(days=1)
        received = local(saturday, 8)
        assist_event(a.DossierReceived, a.DossierReceivedData, received, dossier_id="d-weekend",
                     procedure_code="1.001", field="civil_status", channel="online",
                     received_at=received, eligible_fully_online=True, fully_online=True)
    events.sort(key=lambda e: (data_time(e), e.time))
    week.assist = events
    return week


def _assist(emit, rnd: random.Random, ward_id: str, shift_id: str | None, member_ids: list[str],
            venue: str, started: datetime, ended: datetime, dossier_no: int) -> int:
    outcome = rnd.choices(["submitted_online", "referred_to_counter", "not_completed"], [6, 2, 2])[0]
    reason = rnd.choice(["no_vneid_level2", "missing_documents", "portal_unavailable",
                         "citizen_declined", "other"]) if outcome == "not_completed" else None
    dossier_id = None
    if outcome == "submitted_online":
        dossier_no += 1
        dossier_id = f"d-{dossier_no}"
    assist_id = f"a-{dossier_no}-{rnd.randint(0, 10**9)}"
    emit(a.AssistCompleted, a.AssistCompletedData, ended, assist_id=assist_id, shift_id=shift_id,
         member_ids=member_ids, venue=venue, procedure_code="1.001", field=rnd.choice(FIELDS),
         actions=["vneid_login", "form_filling"], outcome=outcome, reason=reason,
         dossier_id=dossier_id, started_at=started, ended_at=ended,
         satisfaction=rnd.choice([None, 2, 3, 4, 5, 5]),
         vneid_level=rnd.choice([None, "none", "level1", "level2"]),
         citizen_vulnerable=venue == "household_visit")
    if dossier_id:
        received = ended + timedelta(minutes=1)
        emit(a.DossierReceived, a.DossierReceivedData, received, dossier_id=dossier_id,
             procedure_code="1.001", field=rnd.choice(FIELDS), channel="online",
             received_at=received, assisted=True, assist_id=assist_id,
             eligible_fully_online=True, fully_online=rnd.random() < 0.8)
    return dossier_no


# --- expected figures, computed from the events alone ------------------------------------------

def expected_figures(roster: list[Event], assist: list[Event], *, now: datetime,
                     grace_minutes: int = 15) -> dict:
    """What every metric and report figure must be after all events, at `now`."""
    grace = timedelta(minutes=grace_minutes)
    dossiers: dict[str, object] = {}
    assists: dict[str, object] = {}
    for e in assist:  # first wins, by dossier id / assist id
        if isinstance(e, a.DossierReceived):
            dossiers.setdefault(e.data.dossier_id, e.data)
        elif isinstance(e, a.AssistCompleted):
            assists.setdefault(e.data.assist_id, e.data)
    by_channel_field = Counter((d.channel, d.field) for d in dossiers.values())
    online = sum(1 for d in dossiers.values() if d.channel == "online")
    eligible = sum(1 for d in dossiers.values() if d.eligible_fully_online)
    fully = sum(1 for d in dossiers.values() if d.eligible_fully_online and d.fully_online)
    assisted_online = sum(1 for d in dossiers.values() if d.channel == "online" and d.assisted)
    durations = [(x.ended_at - x.started_at).total_seconds() for x in assists.values()]
    buckets = Counter(next(b for b in BUCKETS if s <= b) for s in durations)
    rated = [x.satisfaction for x in assists.values() if x.satisfaction is not None]
    reasons = Counter((x.reason or x.outcome) for x in assists.values()
                      if x.outcome != "submitted_online")

    shifts, cancelled, assignment = {}, set(), {}
    for e in sorted(roster, key=lambda e: (e.time, e.id)):
        d = e.data
        if isinstance(e, r.ShiftScheduled):
            shifts[d.shift_id] = d
        elif isinstance(e, r.ShiftCancelled):
            cancelled.add(d.shift_id)
        elif isinstance(e, r.ShiftAssigned | r.ShiftUnassigned):
            assignment[(d.shift_id, d.member_id)] = isinstance(e, r.ShiftAssigned)
    checkins: dict[str, dict] = defaultdict(dict)
    for e in assist:
        if isinstance(e, a.DeskCheckedIn | a.DeskCheckedOut):
            c = checkins[e.data.checkin_id]
            c.update(shift=e.data.shift_id, member=e.data.member_id)
            c["in" if isinstance(e, a.DeskCheckedIn) else "out"] = e.data.at
    status, member_seconds, member_sessions, understaffed = {}, Counter(), defaultdict(set), []
    for shift_id, s in shifts.items():
        if shift_id in cancelled:
            status[shift_id] = "cancelled"
            continue
        on_time, ended = set(), now >= s.ends_at
        for c in checkins.values():
            if c["shift"] != shift_id or "in" not in c:
                continue
            if assignment.get((shift_id, c["member"])) and c["in"] <= s.starts_at + grace:
                on_time.add(c["member"])
            out = c.get("out") or (s.ends_at if ended else None)
            seconds = 0
            if out is not None:
                seconds = max(0, int((min(out, s.ends_at) - max(c["in"], s.starts_at))
                                     .total_seconds()))
            member_seconds[c["member"]] += seconds
            member_sessions[c["member"]].add(shift_id)
        if len(on_time) >= s.min_staff:
            status[shift_id] = "staffed"
        elif now > s.starts_at + grace:
            status[shift_id] = "understaffed"
            understaffed.append(shift_id)
        else:
            status[shift_id] = "pending"
    counts = Counter(status.values())
    marks = [e.data.at if hasattr(e.data, "at") else getattr(e.data, "ended_at", None)
             or e.data.received_at for e in assist]
    days = ({d.received_at.astimezone(TZ).date() for d in dossiers.values()}
            | {x.started_at.astimezone(TZ).date() for x in assists.values()}
            | {s.date for s in shifts.values()})
    return {
        "dossiers": dict(by_channel_field), "dossiers_total": len(dossiers), "online": online,
        "online_ratio": online / len(dossiers) if dossiers else None,
        "eligible": eligible, "fully_online": fully,
        "fully_online_ratio": fully / eligible if eligible else None,
        "assisted_online": assisted_online,
        "assists": dict(Counter((x.venue, x.outcome) for x in assists.values())),
        "assists_total": len(assists),
        "submitted_online": sum(1 for x in assists.values() if x.outcome == "submitted_online"),
        "duration_sum": sum(round(s * 1000) for s in durations) / 1000,
        "buckets": dict(buckets), "rated": len(rated), "satisfied": sum(1 for x in rated if x >= 4),
        "satisfaction_ratio": sum(1 for x in rated if x >= 4) / len(rated) if rated else None,
        "reasons": dict(reasons),
        "shifts": {"scheduled": counts["staffed"] + counts["understaffed"] + counts["pending"],
                   "staffed": counts["staffed"], "understaffed": counts["understaffed"],
                   "cancelled": counts["cancelled"], "pending": counts["pending"]},
        "status": status, "understaffed": sorted(understaffed),
        "member_seconds": dict(member_seconds),
        "member_sessions": {m: len(s) for m, s in member_sessions.items()},
        "volunteer_seconds": sum(member_seconds.values()),
        "watermark": max(marks) if marks else None,
        "days": sorted(days),
    }
