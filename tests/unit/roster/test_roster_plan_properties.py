"""Properties every plan keeps, whatever the roster: checked over random wards with hypothesis."""

from collections import Counter
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.roster.changes import release_member
from services.roster.domain import Plan, PlanRules, Volunteer, plan_rotation
from services.roster.importer import slugify
from services.roster.reference import TEAM_NAMES

TEAMS = [slugify(name) for name in TEAM_NAMES[:10]]
NAMES = [
    slugify(name)
    for name in ("Nguyễn Văn An", "Trần Thị Bích", "Lê Văn Cường", "Phạm Thị Dung",
                 "Huỳnh Văn Đạt", "Võ Thị Hà", "Đặng Văn Hùng", "Bùi Thị Lan", "Đỗ Văn Long")
]  # fmt: skip
LAST_DAY = date(2026, 12, 31)
SETTINGS = settings(max_examples=200, deadline=None)


@st.composite
def wards(draw):
    start = draw(st.dates(date(2025, 1, 1), LAST_DAY))
    end = min(start + timedelta(days=draw(st.integers(0, 20))), LAST_DAY)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    sizes = draw(st.lists(st.integers(1, 9), min_size=1, max_size=10))
    busy = st.frozensets(st.sampled_from(days), max_size=len(days))
    volunteers = [
        Volunteer(f"{team}-{name}", team, draw(busy))
        for team, size in zip(TEAMS, sizes, strict=False)
        for name in NAMES[:size]
    ]
    rules = PlanRules(min_staff=draw(st.integers(1, 3)), max_per_week=draw(st.none() | st.integers(1, 5)))
    return TEAMS[: len(sizes)], volunteers, start, end, rules


def blocked(member: Volunteer, session, plan: Plan, rules: PlanRules) -> bool:
    """True when the finished plan shows why this member could not take this session."""
    if session.date in member.unavailable:
        return True
    week = session.date.isocalendar()[:2]
    booked = [s for s in plan.sessions if member.member_id in plan.assignments[s.shift_id]]
    if rules.max_per_week is not None:
        if sum(s.date.isocalendar()[:2] == week for s in booked) >= rules.max_per_week:
            return True
    return any(s.starts_at < session.ends_at and session.starts_at < s.ends_at for s in booked)


def assert_keeps_the_rules(plan: Plan, volunteers, rules: PlanRules, *, maximal=True) -> None:
    by_id = {v.member_id: v for v in volunteers}
    weekly: Counter = Counter()
    for s in plan.sessions:
        members = plan.assignments[s.shift_id]
        assert len(set(members)) == len(members)
        for m in members:
            assert s.date not in by_id[m].unavailable
            weekly[m, s.date.isocalendar()[:2]] += 1
        if maximal and len(members) < s.min_staff:
            # Short only because nobody else could come: everyone left out was blocked.
            for v in volunteers:
                if v.member_id not in members:
                    assert blocked(v, s, plan, rules)
    if rules.max_per_week is not None:
        assert max(weekly.values(), default=0) <= rules.max_per_week
    short = {s.shift_id for s in plan.sessions if len(plan.assignments[s.shift_id]) < s.min_staff}
    assert {u.shift_id for u in plan.unstaffable} == short
    for u in plan.unstaffable:
        assert u.assigned == len(plan.assignments[u.shift_id]) < u.needed
        assert u.reason


@SETTINGS
@given(wards())
def test_every_session_is_staffed_within_the_rules_or_listed_as_unstaffable(ward):
    teams, volunteers, start, end, rules = ward
    plan = plan_rotation("ban-thach", teams, volunteers, start, end, rules)
    assert set(plan.assignments) == {s.shift_id for s in plan.sessions}
    assert all(len(ms) <= rules.min_staff for ms in plan.assignments.values())
    assert_keeps_the_rules(plan, volunteers, rules)


@SETTINGS
@given(wards(), st.data())
def test_replanning_keeps_locked_sessions_exactly(ward, data):
    teams, volunteers, start, end, rules = ward
    first = plan_rotation("ban-thach", teams, volunteers, start, end, rules)
    cut = data.draw(st.integers(0, len(first.sessions)))
    locked = {s.shift_id: first.assignments[s.shift_id] for s in first.sessions[:cut]}
    again = plan_rotation("ban-thach", teams, volunteers, start, end, rules, locked=locked)
    assert {k: again.assignments[k] for k in locked} == locked
    assert_keeps_the_rules(again, volunteers, rules, maximal=False)


@SETTINGS
@given(wards(), st.data())
def test_releasing_a_member_keeps_every_rule(ward, data):
    teams, volunteers, start, end, rules = ward
    plan = plan_rotation("ban-thach", teams, volunteers, start, end, rules)
    leaving = data.draw(st.sampled_from(volunteers)).member_id
    moments = [s.starts_at for s in plan.sessions] or [datetime.now().astimezone()]
    after = data.draw(st.sampled_from(moments)) - timedelta(minutes=1)
    change = release_member(plan, leaving, after, volunteers, rules)
    for s in change.plan.sessions:
        if s.starts_at > after:
            assert leaving not in change.plan.assignments[s.shift_id]
    assert_keeps_the_rules(change.plan, volunteers, rules, maximal=False)
