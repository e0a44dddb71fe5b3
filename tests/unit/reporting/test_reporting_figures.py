"""A simulated week applied to the read models: metrics, reports and alerts equal what the events say."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from reporting_harness import apply_stream, fake_runtime, metrics_text, tick

from services.reporting import rebuild
from services.reporting.figures import read_totals
from services.reporting.report import build_report, to_csv
from tests.integration.reporting.simulation import TZ, expected_figures, simulate_week

MONDAY = date(2025, 9, 15)
WARD = "my-thach"
WEEK = simulate_week(WARD, MONDAY, seed=11)


async def _play(conn, db_url: str, clock: str, now: datetime | None = None):
    runtime = fake_runtime(clock, now or datetime(2030, 1, 1, tzinfo=TZ))
    await apply_stream(runtime, conn, WEEK.roster, [])
    for i in range(0, len(WEEK.assist), 40):  # the desk's day, batch by batch, ticking between
        await apply_stream(runtime, conn, WEEK.assist[i:i + 40], [])
        await tick(runtime, db_url)
    await tick(runtime, db_url)
    return runtime


async def _outbox(conn) -> list[tuple[str, dict]]:
    rows = await conn.fetch("SELECT event_type, event_id, value FROM outbox ORDER BY id")
    return [(r["event_type"], r["event_id"], json.loads(r["value"])) for r in rows]


async def test_metrics_and_the_campaign_report_equal_the_figures_of_the_events(conn, db_url) -> None:
    runtime = await _play(conn, db_url, "watermark")
    expected = expected_figures(WEEK.roster, WEEK.assist, now=expected_watermark())
    ward = (await read_totals(conn)).wards[WARD]
    assert ward.dossiers == expected["dossiers"]
    assert ward.online_ratio == expected["online_ratio"]
    assert ward.fully_online_ratio == expected["fully_online_ratio"]
    assert ward.assists == expected["assists"]
    assert ward.duration_ms / 1000 == expected["duration_sum"]
    assert dict(ward.durations) == expected["buckets"]
    assert ward.satisfaction_ratio == expected["satisfaction_ratio"]
    assert {k: ward.shifts[k] for k in ("scheduled", "staffed", "understaffed", "cancelled")} == {
        k: expected["shifts"][k] for k in ("scheduled", "staffed", "understaffed", "cancelled")}
    assert ward.seconds == expected["volunteer_seconds"]
    report = await build_report(conn, WARD, target=0.8)
    assert report["period"] == {"from": MONDAY.isoformat(), "to": "2025-09-20"}
    assert report["online"]["dossiers"] == expected["dossiers_total"] == ward.dossiers_total
    assert report["online"]["online_ratio"] == ward.online_ratio
    assert report["online"]["fully_online_ratio"] == ward.fully_online_ratio
    assert report["staffing"] == {**expected["shifts"], "staffed_ratio": expected["shifts"]["staffed"]
                                  / (expected["shifts"]["staffed"] + expected["shifts"]["understaffed"])}
    assert report["volunteers"]["hours"] == ward.volunteer_hours
    assert report["volunteers"]["dossiers_online_assisted"] == expected["assisted_online"]
    assert report["assists"]["total"] == expected["assists_total"]
    assert {r["reason"]: r["assists"] for r in report["not_online_reasons"]} == expected["reasons"]
    members = {m["member_id"]: m for m in report["members"]}
    for member_id, seconds in expected["member_seconds"].items():
        assert members[member_id]["hours"] == seconds / 3600
        assert members[member_id]["sessions"] == expected["member_sessions"][member_id]
    assert sum(t["hours"] for t in report["teams"]) == pytest.approx(ward.volunteer_hours)
    assert sum(w["dossiers"] for w in report["by_week"]) == ward.dossiers_total
    assert sum(m["dossiers"] for m in report["by_month"]) == ward.dossiers_total
    assert sum(m["online"] for m in report["by_month"]) == report["online"]["online"]
    assert sum(f["dossiers"] for f in report["by_field"]) == ward.dossiers_total
    assert [t["name"] for t in report["teams"] if t["name"]] and "Đoan Trai" in to_csv(report)
    text = await metrics_text(conn, runtime.settings.target_for)
    assert f'cdt_volunteer_seconds_total{{ward="{WARD}"}} {ward.volunteer_hours * 3600!r}' in text


def expected_watermark() -> datetime:
    return expected_figures(WEEK.roster, WEEK.assist, now=datetime.max.replace(tzinfo=TZ))["watermark"]


async def test_each_alert_is_emitted_once_and_summaries_equal_the_day_report(conn, db_url) -> None:
    runtime = await _play(conn, db_url, "watermark")
    expected = expected_figures(WEEK.roster, WEEK.assist, now=expected_watermark())
    await tick(runtime, db_url)
    emitted = await _outbox(conn)
    understaffed = [data["shift_id"] for kind, _, data in emitted if kind.endswith("understaffed.v1")]
    assert sorted(understaffed) == expected["understaffed"] and understaffed
    summaries = {data["date"]: data for kind, _, data in emitted if kind.endswith("summary.v1")}
    ended = [d.isoformat() for d in expected["days"] if d < expected["watermark"].astimezone(TZ).date()]
    assert sorted(summaries) == ended  # Monday to Friday; not Saturday, still going
    for day, data in summaries.items():
        report = await build_report(conn, WARD, target=0.8, start=date.fromisoformat(day),
                                    end=date.fromisoformat(day))
        assert data["dossiers_total"] == report["online"]["dossiers"]
        assert data["dossiers_online"] == report["online"]["online"]
        assert data["assists"] == report["assists"]["total"]
        assert data["sessions_staffed"] == report["staffing"]["staffed"]
        assert data["sessions_scheduled"] == report["staffing"]["scheduled"]
        assert data["volunteer_hours"] == report["volunteers"]["hours"]
    # a rebuild empties the read models, but what was emitted stays emitted
    await rebuild.start(conn)
    await conn.execute("UPDATE rp_rebuild SET state = 'done'")
    await _play(conn, db_url, "watermark")
    assert await _outbox(conn) == emitted


async def test_on_the_wall_clock_a_session_is_understaffed_only_after_its_grace(conn, db_url) -> None:
    first = WEEK.roster
    session = next(e.data for e in first if e.type.endswith("shift.scheduled.v1"))
    runtime = fake_runtime("wall", session.starts_at + timedelta(minutes=15))
    await apply_stream(runtime, conn, first, [])
    await tick(runtime, db_url)
    assert not await _outbox(conn)
    runtime.clock = lambda: session.starts_at + timedelta(minutes=15, seconds=1)
    await tick(runtime, db_url)
    await tick(runtime, db_url)
    alerts = [d for kind, _, d in await _outbox(conn) if kind.endswith("understaffed.v1")]
    assert [a["shift_id"] for a in alerts] == [session.shift_id]
    assert alerts[0]["checked_in"] == 0 and alerts[0]["min_staff"] == 2
