"""The figures the reporting service must show, computed here from the driver's truth alone
(independently of the reporting code), and the same figures read from its report and /metrics.

The rules are CONTRACT.md's: a session is staffed when `min_staff` distinct assigned members
checked in no later than the grace (15 min) after its start, understaffed once that time has
passed (by the ward's data clock) without it, pending before; volunteer time is check-in to
check-out within the session, an open check-in counting to the session's end once it is over
(the assist service closes it there); a dossier is assisted when its record says so.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client.parser import text_string_to_metric_families

from tests.reliability.driver import WardTruth

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
GRACE = timedelta(minutes=15)
BUCKETS = (60.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, float("inf"))
CHANNELS = ("online", "in_person", "postal")
OUTCOMES = ("submitted_online", "referred_to_counter", "not_completed")


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(TZ).date().isocalendar()
    return f"{year}-W{week:02d}"


def expected(truth: WardTruth) -> dict[str, Any]:
    """Every figure of the ward's report and metrics, keyed like `actual`."""
    f: dict[str, Any] = {}
    now = truth.watermark()
    dossiers = list(truth.dossiers.values())
    online = [d for d in dossiers if d.channel == "online"]
    eligible = sum(d.eligible_fully_online for d in dossiers)
    fully = sum(d.fully_online for d in dossiers)
    f["report.online.dossiers"] = len(dossiers)
    f["report.online.online"] = len(online)
    f["report.online.eligible"] = eligible
    f["report.online.fully_online"] = fully
    f["report.online.online_ratio"] = _ratio(len(online), len(dossiers))
    f["report.online.fully_online_ratio"] = _ratio(fully, eligible)
    for c in CHANNELS:
        f[f"report.by_channel.{c}"] = sum(d.channel == c for d in dossiers)
    by_field: dict[str, list] = defaultdict(list)
    weeks: dict[str, list] = defaultdict(list)
    for d in dossiers:
        by_field[d.field].append(d)
        weeks[_week(d.received_at)].append(d)
    for name, rows in by_field.items():
        f[f"report.by_field.{name}.dossiers"] = len(rows)
        f[f"report.by_field.{name}.online"] = sum(d.channel == "online" for d in rows)
        f[f"report.by_field.{name}.eligible"] = sum(d.eligible_fully_online for d in rows)
        f[f"report.by_field.{name}.fully_online"] = sum(d.fully_online for d in rows)
    for week, rows in weeks.items():
        f[f"report.by_week.{week}.dossiers"] = len(rows)
        f[f"report.by_week.{week}.online"] = sum(d.channel == "online" for d in rows)
    counts = Counter((d.channel, d.field) for d in dossiers)
    for (channel, name), n in counts.items():
        f[f"metrics.cdt_dossiers_total.{channel}.{name}"] = n
    f["metrics.cdt_online_dossier_ratio"] = _ratio(len(online), len(dossiers))
    f["metrics.cdt_fully_online_dossier_ratio"] = _ratio(fully, eligible)
    f["report.volunteers.dossiers_online_assisted"] = sum(d.assisted for d in online)

    assists = list(truth.assists.values())
    f["report.assists.total"] = len(assists)
    for o in OUTCOMES:
        f[f"report.assists.{o}"] = sum(a.outcome == o for a in assists)
    f["report.volunteers.assists_submitted_online"] = f["report.assists.submitted_online"]
    venues = Counter(a.venue for a in assists)
    for v, n in venues.items():
        f[f"report.assists.by_venue.{v}"] = n
    durations = [round((a.ended_at - a.started_at).total_seconds() * 1000) for a in assists]
    f["report.assists.duration_seconds"] = sum(durations) / 1000
    rated = [a for a in assists if a.satisfaction is not None]
    satisfied = sum(a.satisfaction >= 4 for a in rated)
    f["report.assists.rated"] = len(rated)
    f["report.assists.satisfied"] = satisfied
    f["metrics.cdt_citizen_satisfaction_ratio"] = _ratio(satisfied, len(rated))
    f["report.assists.vneid_blocked"] = sum(
        a.outcome != "submitted_online"
        and (a.reason == "no_vneid_level2" or a.vneid_level in ("none", "level1"))
        for a in assists)
    reasons = Counter(a.reason or a.outcome for a in assists if a.outcome != "submitted_online")
    for r, n in reasons.items():
        f[f"report.not_online_reasons.{r}"] = n
    for (venue, outcome), n in Counter((a.venue, a.outcome) for a in assists).items():
        f[f"metrics.cdt_assists_total.{venue}.{outcome}"] = n
    if assists:
        f["metrics.cdt_assist_duration_seconds_count"] = len(assists)
        f["metrics.cdt_assist_duration_seconds_sum"] = sum(durations) / 1000
        for le in BUCKETS:
            f[f"metrics.cdt_assist_duration_seconds_bucket.{_le(le)}"] = sum(
                (a.ended_at - a.started_at).total_seconds() <= le for a in assists)

    status: Counter = Counter()
    seconds = 0
    member_sessions = 0
    checkins: dict[str, list] = defaultdict(list)
    for c in truth.checkins.values():
        checkins[c.shift_id].append(c)
    for shift_id, shift in truth.shifts.items():
        if shift_id in truth.cancelled:
            status["cancelled"] += 1
            continue
        ended = now is not None and now >= shift.ends_at
        deadline = shift.starts_at + GRACE
        on_time = {c.member_id for c in checkins[shift_id]
                   if c.member_id in shift.member_ids and c.at <= deadline}
        if len(on_time) >= truth.min_staff[shift_id]:
            status["staffed"] += 1
        elif now is not None and now > deadline:
            status["understaffed"] += 1
        else:
            status["pending"] += 1
        members = set()
        for c in checkins[shift_id]:
            members.add(c.member_id)
            out = c.out_recorded
            if out is None:
                if not ended:
                    continue
                out = shift.ends_at  # closed at the session's end once it is over
            begin, end = max(c.at, shift.starts_at), min(out, shift.ends_at)
            seconds += max(0, int((end - begin).total_seconds()))
        member_sessions += len(members)
    for s in ("staffed", "understaffed", "pending", "cancelled"):
        f[f"report.staffing.{s}"] = status[s]
    f["report.staffing.scheduled"] = status["staffed"] + status["understaffed"] + status["pending"]
    f["metrics.cdt_shifts_total.scheduled"] = f["report.staffing.scheduled"]
    for s in ("staffed", "understaffed", "cancelled"):
        f[f"metrics.cdt_shifts_total.{s}"] = status[s]
    f["report.volunteers.hours"] = seconds / 3600
    f["metrics.cdt_volunteer_seconds_total"] = seconds
    f["report.volunteers.member_sessions"] = member_sessions
    return f


def expected_checkouts(truth: WardTruth) -> int:
    """Check-outs on the bus: the driver's, and those the assist service closes at the end of a
    session that is over by the ward's clock."""
    now = truth.watermark()
    closed = 0
    for c in truth.checkins.values():
        if c.out_recorded is not None:
            closed += 1
        elif now is not None and now >= truth.shifts[c.shift_id].ends_at:
            closed += 1
    return closed


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def from_report(report: dict[str, Any]) -> dict[str, Any]:
    f: dict[str, Any] = {}
    for k in ("dossiers", "online", "eligible", "fully_online", "online_ratio",
              "fully_online_ratio"):
        f[f"report.online.{k}"] = report["online"][k]
    for c, n in report["by_channel"].items():
        f[f"report.by_channel.{c}"] = n
    for row in report["by_field"]:
        for k in ("dossiers", "online", "eligible", "fully_online"):
            f[f"report.by_field.{row['field']}.{k}"] = row[k]
    for row in report["by_week"]:
        f[f"report.by_week.{row['week']}.dossiers"] = row["dossiers"]
        f[f"report.by_week.{row['week']}.online"] = row["online"]
    a = report["assists"]
    for k in ("total", *OUTCOMES, "duration_seconds", "rated", "satisfied", "vneid_blocked"):
        f[f"report.assists.{k}"] = a[k]
    for v, n in a["by_venue"].items():
        f[f"report.assists.by_venue.{v}"] = n
    v = report["volunteers"]
    for k in ("assists_submitted_online", "dossiers_online_assisted", "hours", "member_sessions"):
        f[f"report.volunteers.{k}"] = v[k]
    for k in ("staffed", "understaffed", "pending", "cancelled", "scheduled"):
        f[f"report.staffing.{k}"] = report["staffing"][k]
    for row in report["not_online_reasons"]:
        f[f"report.not_online_reasons.{row['reason']}"] = row["assists"]
    return f


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    samples: dict[str, list] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name].append((s.labels, s.value))
    return samples


def from_metrics(samples: dict[str, list], ward: str) -> dict[str, Any]:
    f: dict[str, Any] = {}
    for labels, value in samples.get("cdt_dossiers_total", []):
        if labels.get("ward") == ward and value:
            f[f"metrics.cdt_dossiers_total.{labels['channel']}.{labels['field']}"] = int(value)
    for name in ("cdt_online_dossier_ratio", "cdt_fully_online_dossier_ratio",
                 "cdt_citizen_satisfaction_ratio", "cdt_volunteer_seconds_total"):
        for labels, value in samples.get(name, []):
            if labels.get("ward") == ward:
                f[f"metrics.{name}"] = value
    for labels, value in samples.get("cdt_assists_total", []):
        if labels.get("ward") == ward and value:
            f[f"metrics.cdt_assists_total.{labels['venue']}.{labels['outcome']}"] = int(value)
    for labels, value in samples.get("cdt_shifts_total", []):
        if labels.get("ward") == ward:
            f[f"metrics.cdt_shifts_total.{labels['status']}"] = int(value)
    for suffix in ("count", "sum"):
        for labels, value in samples.get(f"cdt_assist_duration_seconds_{suffix}", []):
            if labels.get("ward") == ward:
                f[f"metrics.cdt_assist_duration_seconds_{suffix}"] = value
    for labels, value in samples.get("cdt_assist_duration_seconds_bucket", []):
        if labels.get("ward") == ward:
            le = labels["le"]
            key = le if le == "+Inf" else repr(float(le))
            f[f"metrics.cdt_assist_duration_seconds_bucket.{key}"] = int(value)
    return f


def processed(samples: dict[str, list], service: str) -> Counter:
    """cdt_events_processed_total of one service, by event type."""
    out: Counter = Counter()
    for labels, value in samples.get("cdt_events_processed_total", []):
        if labels.get("service") == service:
            out[labels["type"]] += int(value)
    return out


def rejected(samples: dict[str, list], service: str) -> Counter:
    out: Counter = Counter()
    for labels, value in samples.get("cdt_events_rejected_total", []):
        if labels.get("service") == service:
            out[labels["reason"]] += int(value)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(a)))
    return a == b


def compare(want: dict[str, Any], got: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Figures that differ: key -> (expected, actual). Zero counts may be absent either side."""
    diffs = {}
    for key in sorted(set(want) | set(got)):
        w, g = want.get(key), got.get(key)
        if w in (0, None) and g in (0, None):
            continue
        if not _same(w, g):
            diffs[key] = (w, g)
    return diffs
