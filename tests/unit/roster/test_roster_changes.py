"""Changing a plan once made: diffs, a member released from future sessions, swaps."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.roster.changes import diff_assignments, member_loads, release_member, swap
from services.roster.domain import PlanRules, RosterRuleError, Volunteer, plan_rotation
from services.roster.importer import slugify

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY, FRIDAY = date(2025, 9, 8), date(2025, 9, 12)


def member(team: str, name: str, *unavailable: date) -> Volunteer:
    team_id = slugify(team)
    return Volunteer(f"{team_id}-{slugify(name)}", team_id, frozenset(unavailable))


DOAN_TRAI = [
    member("Đoan Trai", n)
    for n in ("Nguyễn Văn An", "Trần Thị Bích", "Lê Văn Cường", "Phạm Thị Dung", "Huỳnh Văn Đạt")
]
KIM_DOI = [member("Kim Đới", n) for n in ("Võ Thị Hà", "Đặng Văn Hùng", "Bùi Thị Lan")]
WARD = DOAN_TRAI + KIM_DOI
AN = DOAN_TRAI[0].member_id


@pytest.fixture
def plan():
    return plan_rotation("ban-thach", ["doan-trai", "kim-doi"], WARD, MONDAY, FRIDAY)


def sessions_of(plan, member_id):
    return [s for s in plan.sessions if member_id in plan.assignments[s.shift_id]]


def test_diff_lists_only_the_pairs_that_changed():
    old = {"ca-1": ("an", "binh"), "ca-2": ("cuong",)}
    new = {"ca-1": ("an", "dung"), "ca-2": ("cuong",), "ca-3": ("binh",)}
    assert diff_assignments(old, new) == ([("ca-1", "dung"), ("ca-3", "binh")], [("ca-1", "binh")])
    assert diff_assignments(new, new) == ([], [])


def test_releasing_a_member_clears_their_future_sessions_and_refills_from_their_team(plan):
    before = sessions_of(plan, AN)
    assert len(before) >= 2
    after = datetime.combine(before[0].date, before[0].ends_at.timetz())
    change = release_member(plan, AN, after, WARD[1:])
    future = [s for s in before if s.starts_at > after]
    assert sessions_of(change.plan, AN) == [s for s in before if s.starts_at <= after]
    assert set(change.removed) == {(s.shift_id, AN) for s in future}
    assert len(change.added) == len(future)
    team_of = {v.member_id: v.team_id for v in WARD}
    for shift_id, newcomer in change.added:
        session = change.plan.session(shift_id)
        assert team_of[newcomer] == session.team_id
        assert len(change.plan.assignments[shift_id]) == 2
    assert change.plan.unstaffable == ()


def test_a_released_member_is_replaced_from_another_team_when_their_team_has_nobody_free(plan):
    kim_doi_day = next(s for s in plan.sessions if s.team_id == "kim-doi")
    outgoing = plan.assignments[kim_doi_day.shift_id][0]
    on_leave = [member("Kim Đới", n, kim_doi_day.date) for n in ("Võ Thị Hà", "Đặng Văn Hùng", "Bùi Thị Lan")]
    others = DOAN_TRAI + [v for v in on_leave if v.member_id != outgoing]
    start_of_week = datetime(2025, 9, 7, tzinfo=HCM)
    change = release_member(plan, outgoing, start_of_week, others, dates={kim_doi_day.date})
    newcomers = [m for shift, m in change.added if shift == kim_doi_day.shift_id]
    assert newcomers and all(m.startswith("doan-trai-") for m in newcomers)
    assert all(s.date == kim_doi_day.date for s in map(change.plan.session, dict(change.removed)))


def test_when_nobody_can_replace_a_released_member_the_session_is_reported_short(plan):
    first = plan.sessions[0]
    everyone_busy = [Volunteer(v.member_id, v.team_id, frozenset({first.date})) for v in WARD]
    leaving = plan.assignments[first.shift_id][0]
    change = release_member(
        plan, leaving, datetime(2025, 9, 1, tzinfo=HCM), everyone_busy, dates={first.date}
    )
    short = {u.shift_id: u for u in change.plan.unstaffable}
    assert short[first.shift_id].assigned == 1
    assert "only 1 of 2" in short[first.shift_id].reason


def test_release_needs_an_aware_time(plan):
    with pytest.raises(RosterRuleError, match="time zone"):
        release_member(plan, AN, datetime(2025, 9, 8, 12), WARD)


def test_a_swap_puts_the_incoming_member_in_the_outgoing_members_place(plan):
    s = next(s for s in plan.sessions if AN in plan.assignments[s.shift_id])
    incoming = next(
        v.member_id
        for v in WARD
        if v.member_id
        not in {m for x in plan.sessions if x.date == s.date for m in plan.assignments[x.shift_id]}
    )
    change = swap(plan, s.shift_id, AN, incoming, WARD)
    assert change.added == ((s.shift_id, incoming),)
    assert change.removed == ((s.shift_id, AN),)
    assert member_loads(change.plan.assignments)[AN] == member_loads(plan.assignments)[AN] - 1


def test_a_swap_that_breaks_a_rule_is_refused_with_the_reason(plan):
    s = next(s for s in plan.sessions if AN in plan.assignments[s.shift_id])
    partner = next(m for m in plan.assignments[s.shift_id] if m != AN)
    busy = member("Kim Đới", "Võ Thị Hà", s.date)
    cases = [
        (AN, partner, WARD, "already on session"),
        ("kim-doi-bui-thi-lan", AN, WARD, "is not on session"),
        (AN, "kim-doi-nguoi-la", WARD, "not an active member"),
        (AN, busy.member_id, [busy, *WARD[:5]], "unavailable on 2025-09"),
    ]
    for out_member, in_member, volunteers, message in cases:
        with pytest.raises(RosterRuleError, match=message):
            swap(plan, s.shift_id, out_member, in_member, volunteers)
    with pytest.raises(RosterRuleError, match="no session"):
        swap(plan, "ban-thach-20250101-morning", AN, partner, WARD)


def test_a_swap_respects_the_weekly_cap():
    rules = PlanRules(min_staff=1, max_per_week=1)
    two = [member("Phú Sơn", "Trương Văn Toàn"), member("Phú Sơn", "Đinh Thị Thảo")]
    plan = plan_rotation("ban-thach", ["phu-son"], two, MONDAY, date(2025, 9, 9), rules)
    first, second = plan.sessions[0], plan.sessions[1]
    taken = plan.assignments[first.shift_id][0]
    other = plan.assignments[second.shift_id][0]
    with pytest.raises(RosterRuleError, match="cap"):
        swap(plan, second.shift_id, other, taken, two, rules)
