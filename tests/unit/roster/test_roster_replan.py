"""Re-planning against stored shifts: what is kept, what changes, and that nothing changes twice."""

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.roster.changes import member_loads
from services.roster.domain import PlanRules, Volunteer, plan_rotation
from services.roster.importer import parse_roster
from services.roster.records import ShiftRecord
from services.roster.reference import CAMPAIGN_END, CAMPAIGN_START, REFERENCE_WARD, reference_roster_csv
from services.roster.replan import continue_rotation, reconcile, replan, stored_plan

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
BEFORE_ALL = datetime(2025, 1, 1, tzinfo=HCM)


@pytest.fixture(scope="module")
def ward():
    roster = parse_roster(reference_roster_csv(), "ban-thach.csv", REFERENCE_WARD)
    teams = [t.team_id for t in roster.teams]
    return teams, [Volunteer(m.member_id, m.team_id, m.unavailable) for m in roster.members]


def stored_from(plan, **changes) -> dict[str, ShiftRecord]:
    """What the service stores after writing `plan`; `changes` maps shift ids to field updates."""
    shifts = {
        s.shift_id: ShiftRecord(
            s.shift_id,
            s.team_id,
            s.date,
            s.period,
            s.starts_at,
            s.ends_at,
            s.location,
            s.min_staff,
            "scheduled",
            None,
            plan.assignments[s.shift_id],
        )
        for s in plan.sessions
    }
    for shift_id, fields in changes.items():
        shifts[shift_id] = replace(shifts[shift_id], **fields)
    return shifts


def replan_campaign(ward, stored, now, rules=PlanRules()):
    teams, volunteers = ward
    plan, locked = replan(REFERENCE_WARD, teams, volunteers, CAMPAIGN_START, CAMPAIGN_END, rules, stored, now)
    return plan, locked, reconcile(stored, plan, locked, CAMPAIGN_START, CAMPAIGN_END)


@pytest.fixture(scope="module")
def first(ward):
    plan, _, change = replan_campaign(ward, {}, BEFORE_ALL)
    return plan, change


def test_a_first_plan_schedules_every_session_and_assigns_every_member_chosen(first):
    plan, change = first
    assert len(change.scheduled) == 202 and len(change.added) == 404
    assert change.rescheduled == change.dropped == change.removed == ()


def test_planning_the_same_period_again_changes_nothing(ward, first):
    plan, _ = first
    _, _, change = replan_campaign(ward, stored_from(plan), BEFORE_ALL)
    assert change.empty


def test_replanning_midway_keeps_the_past_and_changes_nothing_else(ward, first):
    plan, _ = first
    now = datetime(2025, 10, 15, 12, 0, tzinfo=HCM)
    again, locked, change = replan_campaign(ward, stored_from(plan), now)
    assert change.empty
    assert locked == {s.shift_id for s in plan.sessions if s.starts_at <= now}
    assert again.assignments == plan.assignments


def test_a_cancelled_session_in_the_middle_moves_nobody_else(ward, first):
    plan, _ = first
    storm = plan.sessions[100].shift_id
    stored = stored_from(plan, **{storm: {"status": "cancelled", "cancel_reason": "bão"}})
    _, locked, change = replan_campaign(ward, stored, BEFORE_ALL)
    assert change.empty and storm in locked


def test_a_swapped_session_is_kept_and_a_second_replan_is_stable(ward, first):
    plan, _ = first
    session = plan.sessions[60]
    team = [v.member_id for v in ward[1] if v.team_id == session.team_id]
    out_member = plan.assignments[session.shift_id][0]
    in_member = next(m for m in team if m not in plan.assignments[session.shift_id])
    swapped = tuple(sorted([m for m in plan.assignments[session.shift_id] if m != out_member] + [in_member]))
    stored = stored_from(plan, **{session.shift_id: {"members": swapped, "pinned": True}})
    again, locked, change = replan_campaign(ward, stored, BEFORE_ALL)
    assert again.assignments[session.shift_id] == swapped and session.shift_id in locked
    assert all(shift_id != session.shift_id for shift_id, _ in change.added + change.removed)
    loads = member_loads(again.assignments)
    assert max(loads.values()) - min(loads.values()) <= 2
    settled = stored_from(again, **{session.shift_id: {"pinned": True}})
    assert replan_campaign(ward, settled, BEFORE_ALL)[2].empty


def test_a_checked_in_session_is_kept_even_when_the_rules_change(ward, first):
    plan, _ = first
    early = plan.sessions[5]
    stored = stored_from(plan, **{early.shift_id: {"checked_in": plan.assignments[early.shift_id][:1]}})
    again, locked, change = replan_campaign(ward, stored, BEFORE_ALL, PlanRules(min_staff=3))
    assert early.shift_id in locked
    assert again.assignments[early.shift_id] == plan.assignments[early.shift_id]
    assert len(change.rescheduled) == 201 and early.shift_id not in {s.shift_id for s in change.rescheduled}
    assert all(
        len(again.assignments[s.shift_id]) == 3 for s in again.sessions if s.shift_id != early.shift_id
    )


def test_future_shifts_on_days_no_longer_worked_are_dropped_but_past_ones_kept(ward, first):
    plan, _ = first
    stored = stored_from(plan)
    closed = {date(2025, 8, 11), date(2025, 12, 31)}
    rules = PlanRules(holidays=PlanRules().holidays | closed)
    now = datetime(2025, 10, 1, tzinfo=HCM)
    _, _, change = replan_campaign(ward, stored, now, rules)
    assert [s.shift_id for s in change.dropped] == [
        "ban-thach-20251231-morning",
        "ban-thach-20251231-afternoon",
    ]


def test_a_team_that_owns_a_stored_future_day_is_rescheduled_when_the_rotation_changes(ward, first):
    plan, _ = first
    teams, volunteers = ward
    rules = PlanRules(team_order=tuple(reversed(teams)))
    _, _, change = replan_campaign(ward, stored_from(plan), BEFORE_ALL, rules)
    assert change.rescheduled and not change.scheduled
    assert {s.team_id for s in change.rescheduled} <= set(teams)


def test_the_rotation_continues_after_the_team_that_owned_the_last_planned_day():
    volunteers = [Volunteer(f"{t}-a", t) for t in ("doan-trai", "kim-doi", "an-ha")]
    teams = ["doan-trai", "kim-doi", "an-ha"]
    rules = continue_rotation(PlanRules(), teams, volunteers, "kim-doi")
    assert rules.team_order == ("an-ha", "doan-trai", "kim-doi")
    assert continue_rotation(PlanRules(), teams, volunteers, None).team_order == tuple(teams)
    assert continue_rotation(PlanRules(), teams, volunteers, "gone-team").team_order == tuple(teams)
    october = plan_rotation("ban-thach", teams, volunteers, date(2025, 10, 6), date(2025, 10, 6), rules)
    assert october.sessions[0].team_id == "an-ha"


def test_a_stored_plan_leaves_cancelled_shifts_out(first):
    plan, _ = first
    stored = stored_from(plan, **{plan.sessions[0].shift_id: {"status": "cancelled"}})
    rebuilt = stored_plan(stored.values())
    assert len(rebuilt.sessions) == 201 and plan.sessions[0].shift_id not in rebuilt.assignments
    assert rebuilt.sessions == tuple(sorted(rebuilt.sessions, key=lambda s: s.starts_at))
    assert rebuilt.sessions[0].starts_at - plan.sessions[0].starts_at == timedelta(hours=6)
