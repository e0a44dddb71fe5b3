"""A ward's planning settings, what a re-imported file changes, and the events the roster builds."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.roster import messages
from services.roster.api import date_ranges
from services.roster.changes import release_member
from services.roster.domain import DEFAULT_HOLIDAYS, PlanRules, RosterRuleError, Volunteer, plan_rotation
from services.roster.importer import parse_roster
from services.roster.records import MemberRecord, TeamRecord
from services.roster.reimport import changed_teams, newly_unavailable, next_positions, republished_members
from services.roster.wardrules import WardRules, check_calendar, plan_rules
from shared.events import roster

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CSV = (
    "team,hamlet,member,occupation,is_leader,phone,unavailable\r\n"
    "Đoan Trai,TDP Đoan Trai,Nguyễn Văn An,hưu trí,có,0905123456,\r\n"
    "Đoan Trai,TDP Đoan Trai,Trần Thị Bích,giáo viên,không,,2025-09-05..2025-09-07\r\n"
    "Kim Đới,TDP Kim Đới,Võ Thị Hà,đoàn viên,có,,\r\n"
).encode("utf-8-sig")


def test_default_settings_give_the_default_rules_and_store_nothing():
    assert plan_rules(WardRules()) == PlanRules()
    assert WardRules().stored() == {}


def test_settings_override_days_sessions_staff_cap_and_place():
    rules = WardRules(
        workdays=[0, 2, 4, 5],
        min_staff=3,
        max_per_week=2,
        location="cultural_house",
        sessions=[{"period": "evening", "starts": "18:00", "ends": "20:30"}],
    )
    planned = plan_rules(rules)
    assert planned.workdays == frozenset({0, 2, 4, 5}) and planned.min_staff == 3
    assert planned.max_per_week == 2 and planned.location == "cultural_house"
    assert [(s.period, s.starts, s.ends) for s in planned.sessions] == [("evening", time(18), time(20, 30))]
    assert WardRules(**rules.stored()) == rules


def test_extra_closed_days_add_to_the_national_holidays_and_own_holidays_replace_them():
    storm = date(2025, 10, 27)
    assert plan_rules(WardRules(extra_holidays=[storm])).holidays == DEFAULT_HOLIDAYS | {storm}
    assert plan_rules(WardRules(holidays=[storm])).holidays == {storm}


def test_team_order_lists_the_given_teams_first_then_the_rest_in_registration_order():
    rules = plan_rules(WardRules(team_order=["kim-doi"]), ["doan-trai", "kim-doi", "an-ha"])
    assert rules.team_order == ("kim-doi", "doan-trai", "an-ha")


@pytest.mark.parametrize(
    "bad",
    [
        {"workdays": [7]},
        {"min_staff": 0},
        {"sessions": [{"period": "morning", "starts": "11:00", "ends": "07:00"}]},
        {
            "sessions": [
                {"period": "morning", "starts": "07:00", "ends": "11:00"},
                {"period": "morning", "starts": "13:00", "ends": "17:00"},
            ]
        },
        {"lunch_break": True},
    ],
)
def test_settings_that_cannot_plan_are_refused(bad):
    with pytest.raises(ValidationError):
        WardRules(**bad)


def test_a_year_without_a_holiday_calendar_needs_the_wards_own_closed_days():
    with pytest.raises(RosterRuleError, match="2027"):
        check_calendar(WardRules(), date(2026, 12, 1), date(2027, 1, 31))
    check_calendar(WardRules(), date(2025, 8, 11), date(2025, 12, 31))
    check_calendar(WardRules(holidays=[date(2027, 1, 1)]), date(2026, 12, 1), date(2027, 1, 31))


def record(member) -> MemberRecord:
    return MemberRecord(
        member.member_id,
        member.team_id,
        member.name,
        member.occupation,
        member.is_leader,
        member.unavailable,
        True,
        member.phone,
    )


def test_a_reimported_file_republishes_only_what_consumers_see():
    before = parse_roster(CSV, "to.csv", "ban-thach")
    current = {m.member_id: record(m) for m in before.members}
    changed = CSV.replace("Võ Thị Hà,đoàn viên".encode(), "Võ Thị Hà,cán bộ phường".encode())
    changed = changed.replace(b"0905123456", b"0905999999")
    changed = changed.replace(b"2025-09-05..2025-09-07", b"2025-09-05..2025-09-09")
    after = parse_roster(changed, "to.csv", "ban-thach")
    updated = [m for m in after.members if record(m) != current[m.member_id]]
    assert len(updated) == 3
    assert [m.member_id for m in republished_members(current, updated)] == ["kim-doi-vo-thi-ha"]
    assert newly_unavailable(current, updated) == {
        "doan-trai-tran-thi-bich": frozenset({date(2025, 9, 8), date(2025, 9, 9)})
    }


def test_a_team_is_registered_again_when_its_hamlet_or_leader_changes():
    incoming = parse_roster(CSV, "to.csv", "ban-thach").teams
    stored = {
        t.team_id: TeamRecord(t.team_id, t.name, t.hamlet, t.leader_member_id, i)
        for i, t in enumerate(incoming)
    }
    assert changed_teams(stored, incoming) == []
    moved = CSV.replace("TDP Kim Đới".encode(), "Thôn Kim Đới".encode())
    assert [t.team_id for t in changed_teams(stored, parse_roster(moved, "to.csv", "ban-thach").teams)] == [
        "kim-doi"
    ]
    new_leader = CSV.replace("hưu trí,có".encode(), "hưu trí,không".encode())
    new_leader = new_leader.replace("giáo viên,không".encode(), "giáo viên,có".encode())
    teams = parse_roster(new_leader, "to.csv", "ban-thach").teams
    assert [(t.team_id, t.leader_member_id) for t in changed_teams(stored, teams)] == [
        ("doan-trai", "doan-trai-tran-thi-bich")
    ]
    assert next_positions(stored, teams[:1]) == {"doan-trai": 2}


def test_events_carry_the_contract_fields_keyed_by_ward_and_never_a_phone():
    parsed = parse_roster(CSV, "to.csv", "ban-thach")
    plan = plan_rotation(
        "ban-thach",
        ["doan-trai", "kim-doi"],
        [Volunteer(m.member_id, m.team_id, m.unavailable) for m in parsed.members],
        date(2025, 10, 6),
        date(2025, 10, 6),
        PlanRules(min_staff=1),
    )
    events = [
        messages.team_registered("ban-thach", parsed.teams[0]),
        messages.member_registered("ban-thach", parsed.members[0]),
        messages.member_deactivated("ban-thach", parsed.members[1].member_id, "chuyển đi"),
        messages.shift_scheduled("ban-thach", plan.sessions[0]),
        messages.shift_cancelled("ban-thach", plan.sessions[0].shift_id, "bão"),
        *messages.shifts_assigned("ban-thach", [(plan.sessions[0].shift_id, "doan-trai-nguyen-van-an")]),
        *messages.shifts_unassigned("ban-thach", [(plan.sessions[0].shift_id, "x")], "ốm"),
    ]
    assert [type(e) for e in events] == [
        roster.TeamRegistered,
        roster.MemberRegistered,
        roster.MemberDeactivated,
        roster.ShiftScheduled,
        roster.ShiftCancelled,
        roster.ShiftAssigned,
        roster.ShiftUnassigned,
    ]
    assert {e.key for e in events} == {b"ban-thach"}
    assert events[1].data.display_name == "Nguyễn Văn An" and events[1].data.occupation == "retiree"
    assert events[3].data.starts_at == datetime(2025, 10, 6, 7, 30, tzinfo=HCM)
    assert events[3].subject == f"shift/{plan.sessions[0].shift_id}"
    assert not any(b"0905123456" in e.to_kafka()[1] for e in events)


def test_unavailable_dates_are_shown_as_the_file_writes_them():
    days = frozenset({date(2025, 9, 5), date(2025, 9, 6), date(2025, 9, 7), date(2025, 9, 10)})
    assert date_ranges(days) == ["2025-09-05..2025-09-07", "2025-09-10"]
    assert date_ranges(frozenset()) == []


def test_releasing_a_member_from_one_session_leaves_their_other_sessions_that_day():
    volunteers = [Volunteer(f"doan-trai-{n}", "doan-trai") for n in ("an", "binh", "cuong", "dung")]
    plan = plan_rotation(
        "ban-thach", ["doan-trai"], volunteers, date(2025, 10, 6), date(2025, 10, 10), PlanRules(min_staff=2)
    )
    member = plan.assignments[plan.sessions[0].shift_id][0]
    theirs = [s.shift_id for s in plan.sessions if member in plan.assignments[s.shift_id]]
    assert len(theirs) >= 2
    change = release_member(
        plan,
        member,
        datetime(2025, 10, 1, tzinfo=HCM),
        [v for v in volunteers if v.member_id != member],
        shift_ids={theirs[0]},
    )
    assert change.removed == ((theirs[0], member),)
    assert [s for s, _ in change.added] == [theirs[0]]
    assert all(member in change.plan.assignments[s] for s in theirs[1:])
