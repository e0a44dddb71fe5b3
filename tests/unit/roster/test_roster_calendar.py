"""The working calendar: Vietnam's closures and make-up Saturdays, and the sessions they leave."""

from datetime import date

import pytest

from services.roster.domain import PlanRules, RosterRuleError, shift_id_for, working_days, working_sessions
from services.roster.holidays import vietnam_holidays, vietnam_makeup_workdays
from services.roster.reference import CAMPAIGN_END, CAMPAIGN_START, REFERENCE_WARD


def test_the_campaign_has_101_working_days_and_202_sessions():
    assert len(working_days(CAMPAIGN_START, CAMPAIGN_END)) == 101
    assert len(working_sessions(REFERENCE_WARD, CAMPAIGN_START, CAMPAIGN_END)) == 202


def test_national_day_2025_closes_monday_1_and_tuesday_2_september():
    days = working_days(date(2025, 8, 29), date(2025, 9, 3))
    assert days == [date(2025, 8, 29), date(2025, 9, 3)]
    assert vietnam_holidays([2025])[date(2025, 9, 2)] == "Quốc khánh"


def test_tet_closes_the_weekdays_of_each_years_official_break():
    assert working_days(date(2025, 1, 24), date(2025, 2, 3)) == [date(2025, 1, 24), date(2025, 2, 3)]
    assert working_days(date(2026, 2, 13), date(2026, 2, 23)) == [date(2026, 2, 13), date(2026, 2, 23)]


def test_hung_kings_day_on_a_sunday_in_2026_closes_the_following_monday():
    assert date(2026, 4, 27) not in working_days(date(2026, 4, 27), date(2026, 4, 28))
    assert vietnam_holidays([2026])[date(2026, 4, 26)] == "Giỗ Tổ Hùng Vương"


def test_a_make_up_saturday_is_a_working_day_and_its_swapped_weekday_is_not():
    assert date(2025, 4, 26) in vietnam_makeup_workdays([2025])
    days = working_days(date(2025, 4, 25), date(2025, 5, 5))
    assert days == [date(2025, 4, d) for d in (25, 26, 28, 29)] + [date(2025, 5, 5)]
    assert date(2026, 8, 22) in working_days(date(2026, 8, 22), date(2026, 8, 22))
    assert working_days(date(2026, 8, 31), date(2026, 9, 2)) == []


def test_culture_day_is_offered_as_pending_until_it_is_law():
    assert date(2026, 11, 24) not in vietnam_holidays([2026])
    assert vietnam_holidays([2026], include_pending=True)[date(2026, 11, 24)] == ("Ngày Văn hóa Việt Nam")


def test_a_year_without_an_official_calendar_needs_the_closed_days_given():
    with pytest.raises(RosterRuleError, match="2027"):
        working_days(date(2027, 1, 4), date(2027, 1, 8))
    rules = PlanRules(holidays=frozenset({date(2027, 1, 1)}))
    assert len(working_days(date(2027, 1, 1), date(2027, 1, 8), rules)) == 5


def test_shift_ids_are_stable_so_replanning_finds_the_same_sessions():
    assert shift_id_for("ban-thach", date(2025, 8, 11), "morning") == "ban-thach-20250811-morning"


def test_a_period_ending_before_it_starts_is_refused():
    with pytest.raises(RosterRuleError, match="before it starts"):
        working_days(date(2025, 9, 10), date(2025, 9, 1))
