"""Desk rules: check-in windows, check-outs, the current session, assists and dossiers."""

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from services.assist import domain
from services.assist.domain import (
    WARD_TZ,
    AssistError,
    AssistRequest,
    CheckIn,
    Member,
    Rules,
    Session,
)
from shared.events.assist import DossierReceivedData

RULES = Rules()
WARD = "ban-thach"
START = datetime(2025, 9, 8, 7, 30, tzinfo=WARD_TZ)
END = datetime(2025, 9, 8, 11, 30, tzinfo=WARD_TZ)
MORNING = Session(WARD, "ban-thach-20250908-morning", START, END, "service_center",
                  assigned=frozenset({"doan-trai-nguyen-thi-hoa", "doan-trai-le-van-binh"}))
AFTERNOON = Session(WARD, "ban-thach-20250908-afternoon", START + timedelta(hours=6),
                    END + timedelta(hours=5, minutes=30), "service_center",
                    assigned=frozenset({"my-thach-tay-tran-van-an"}))
HOA = "doan-trai-nguyen-thi-hoa"
MEMBER = Member(HOA)


def checkin(at: datetime, out: datetime | None = None) -> CheckIn:
    return CheckIn("c-1", WARD, MORNING.shift_id, HOA, at, stand_in=False, checked_out_at=out)


def decide(session: Session | None, at: datetime, *, existing: CheckIn | None = None,
           member: Member | None = MEMBER) -> bool:
    return domain.check_in(session, shift_id=MORNING.shift_id, member=member,
                           member_id=member.member_id if member else "nobody", at=at,
                           existing=existing, rules=RULES)


class TestCheckIn:
    def test_opens_thirty_minutes_before_the_start(self) -> None:
        assert decide(MORNING, START - timedelta(minutes=30)) is True

    def test_a_minute_earlier_is_refused_with_the_opening_time(self) -> None:
        with pytest.raises(AssistError) as refused:
            decide(MORNING, START - timedelta(minutes=31))
        assert refused.value.code == "too_early"
        assert "07:00" in refused.value.message
        assert refused.value.field == "at"

    def test_is_allowed_until_the_end_and_refused_after(self) -> None:
        assert decide(MORNING, END) is True
        with pytest.raises(AssistError) as refused:
            decide(MORNING, END + timedelta(seconds=1))
        assert refused.value.code == "session_over"

    def test_the_window_is_configurable(self) -> None:
        rules = Rules(checkin_early=timedelta(minutes=10))
        with pytest.raises(AssistError):
            domain.check_in(MORNING, shift_id=MORNING.shift_id, member=MEMBER, member_id=HOA,
                            at=START - timedelta(minutes=11), existing=None, rules=rules)

    def test_a_second_check_in_is_a_repeat_not_an_error(self) -> None:
        first = checkin(START)
        assert decide(MORNING, START + timedelta(minutes=5), existing=first) is False
        # even after the session ended, the repeat answers with the first one
        assert decide(MORNING, END + timedelta(hours=1), existing=first) is False

    def test_a_member_not_assigned_stands_in(self) -> None:
        assert domain.is_stand_in(MORNING, "my-thach-bac-pham-thi-lan") is True
        assert domain.is_stand_in(MORNING, HOA) is False

    def test_a_cancelled_session_is_refused_with_its_reason(self) -> None:
        cancelled = Session(WARD, MORNING.shift_id, START, END, cancelled=True,
                            cancel_reason="mưa bão / storm")
        with pytest.raises(AssistError) as refused:
            decide(cancelled, START)
        assert refused.value.code == "session_cancelled"
        assert "storm" in refused.value.message
        assert refused.value.kind == "conflict"

    def test_a_cancellation_known_before_the_schedule_still_refuses(self) -> None:
        with pytest.raises(AssistError) as refused:
            decide(Session(WARD, MORNING.shift_id, None, None, cancelled=True), START)
        assert refused.value.code == "unknown_session"  # never scheduled: nothing to join

    def test_an_unknown_session_is_refused(self) -> None:
        with pytest.raises(AssistError) as refused:
            decide(None, START)
        assert (refused.value.code, refused.value.kind) == ("unknown_session", "not_found")

    def test_an_unknown_or_deactivated_member_is_refused(self) -> None:
        with pytest.raises(AssistError) as unknown:
            decide(MORNING, START, member=None)
        assert unknown.value.code == "unknown_member"
        with pytest.raises(AssistError) as gone:
            decide(MORNING, START, member=Member(HOA, active=False))
        assert gone.value.code == "member_deactivated"

    def test_a_time_in_the_future_is_refused_beyond_five_minutes(self) -> None:
        now = START
        domain.refuse_future(now + timedelta(minutes=5), now, RULES, field="at")
        with pytest.raises(AssistError) as refused:
            domain.refuse_future(now + timedelta(minutes=6), now, RULES, field="at")
        assert refused.value.code == "in_future"


class TestCheckOut:
    def test_is_recorded_at_the_given_time(self) -> None:
        at = START + timedelta(hours=2)
        assert domain.check_out(checkin(START), MORNING, at) == at

    def test_after_the_end_is_recorded_at_the_end(self) -> None:
        assert domain.check_out(checkin(START), MORNING, END + timedelta(hours=3)) == END

    def test_a_repeat_changes_nothing(self) -> None:
        assert domain.check_out(checkin(START, out=END), MORNING, END) is None

    def test_before_the_check_in_is_refused(self) -> None:
        with pytest.raises(AssistError) as refused:
            domain.check_out(checkin(START), MORNING, START - timedelta(minutes=1))
        assert refused.value.code == "before_check_in"


class TestClosingMissingCheckOuts:
    def test_not_before_the_session_is_over(self) -> None:
        assert domain.close_missing_checkout(checkin(START), session_end=END,
                                             now=END - timedelta(seconds=1)) is None

    def test_once_over_it_closes_at_the_sessions_end(self) -> None:
        assert domain.close_missing_checkout(checkin(START), session_end=END,
                                             now=END + timedelta(hours=5)) == END

    def test_a_checked_out_member_is_left_alone(self) -> None:
        assert domain.close_missing_checkout(checkin(START, out=END - timedelta(hours=1)),
                                             session_end=END, now=END + timedelta(hours=1)) is None

    def test_a_ward_without_data_has_no_now_in_watermark_mode(self) -> None:
        assert domain.ward_now("watermark", END, None) is None
        assert domain.close_missing_checkout(checkin(START), session_end=END, now=None) is None
        assert domain.ward_now("wall", END, None) == END
        assert domain.ward_now("watermark", START, END) == END


class TestCurrentSession:
    def test_the_open_session_is_chosen(self) -> None:
        chosen = domain.choose_session([MORNING, AFTERNOON], at=START + timedelta(hours=1),
                                       member_ids=[HOA], checked_in=set(), rules=RULES)
        assert chosen == MORNING

    def test_none_between_sessions(self) -> None:
        assert domain.choose_session([MORNING, AFTERNOON], at=END + timedelta(hours=1),
                                     member_ids=[HOA], checked_in=set(), rules=RULES) is None

    def test_a_checked_in_session_wins_over_an_assigned_one(self) -> None:
        overlap = Session(WARD, "ban-thach-20250908-extra", START, END, "cultural_house")
        chosen = domain.choose_session([MORNING, overlap], at=START, member_ids=[HOA],
                                       checked_in={overlap.shift_id}, rules=RULES)
        assert chosen == overlap

    def test_cancelled_sessions_are_never_current(self) -> None:
        cancelled = Session(WARD, MORNING.shift_id, START, END, cancelled=True)
        assert domain.choose_session([cancelled], at=START, member_ids=[HOA], checked_in=set(),
                                     rules=RULES) is None


def request(**overrides: object) -> AssistRequest:
    values: dict = {"member_ids": [HOA], "field": "civil_status", "outcome": "submitted_online",
                    "dossier_id": "H46.25-000123", "actions": ["vneid_login", "form_filling"]}
    values.update(overrides)
    return AssistRequest(**values)


class TestAssistRules:
    def test_times_default_to_now_and_a_usual_duration(self) -> None:
        now = START + timedelta(hours=1)
        started, ended = domain.assist_times(request(), wall_now=now, rules=RULES)
        assert (started, ended) == (now - RULES.default_assist, now)

    def test_ended_at_must_follow_started_at(self) -> None:
        with pytest.raises(AssistError) as refused:
            domain.assist_times(request(started_at=START, ended_at=START), wall_now=END,
                                rules=RULES)
        assert (refused.value.code, refused.value.field) == ("ended_before_start", "ended_at")

    def test_an_assist_lasts_at_most_four_hours(self) -> None:
        domain.assist_times(request(started_at=START, ended_at=START + timedelta(hours=4)),
                            wall_now=END, rules=RULES)
        with pytest.raises(AssistError) as refused:
            domain.assist_times(request(started_at=START, ended_at=START + timedelta(hours=4,
                                                                                     seconds=1)),
                                wall_now=END + timedelta(hours=1), rules=RULES)
        assert refused.value.code == "too_long"

    def test_an_assist_ending_in_the_future_is_refused(self) -> None:
        with pytest.raises(AssistError) as refused:
            domain.assist_times(request(ended_at=START + timedelta(hours=1)), wall_now=START,
                                rules=RULES)
        assert refused.value.code == "in_future"

    @pytest.mark.parametrize(("overrides", "code"), [
        ({"outcome": "not_completed", "dossier_id": None}, "reason_required"),
        ({"outcome": "referred_to_counter", "reason": "other", "dossier_id": None},
         "reason_not_allowed"),
        ({"outcome": "submitted_online", "dossier_id": None}, "dossier_required"),
        ({"outcome": "not_completed", "reason": "missing_documents"}, "dossier_not_allowed"),
    ])
    def test_reason_and_dossier_follow_the_outcome(self, overrides: dict, code: str) -> None:
        with pytest.raises(AssistError) as refused:
            domain.check_outcome(request(**overrides))
        assert refused.value.code == code

    @pytest.mark.parametrize("overrides", [
        {"outcome": "not_completed", "reason": "no_vneid_level2", "dossier_id": None},
        {"outcome": "referred_to_counter", "dossier_id": None},
        {"outcome": "referred_to_counter", "dossier_id": "H46.25-000999"},
        {"outcome": "submitted_online"},
    ])
    def test_valid_outcomes_pass(self, overrides: dict) -> None:
        domain.check_outcome(request(**overrides))

    @pytest.mark.parametrize("satisfaction", [0, 6])
    def test_satisfaction_is_one_to_five(self, satisfaction: int) -> None:
        with pytest.raises(ValidationError):
            request(satisfaction=satisfaction)

    def test_unknown_fields_such_as_a_citizen_name_are_refused(self) -> None:
        with pytest.raises(ValidationError) as refused:
            request(citizen_name="Nguyễn Văn A")
        assert refused.value.errors()[0]["type"] == "extra_forbidden"

    def test_a_desk_assist_belongs_to_the_current_session(self) -> None:
        at = START + timedelta(hours=1)
        session = domain.assist_session(request(), sessions=[MORNING, AFTERNOON], started=at,
                                        ended=at + timedelta(minutes=10), checked_in=set(),
                                        rules=RULES)
        assert session == MORNING

    def test_a_desk_assist_outside_any_session_asks_for_one(self) -> None:
        at = END + timedelta(minutes=30)
        with pytest.raises(AssistError) as refused:
            domain.assist_session(request(), sessions=[MORNING, AFTERNOON], started=at,
                                  ended=at + timedelta(minutes=10), checked_in=set(), rules=RULES)
        assert (refused.value.code, refused.value.field) == ("no_current_session", "shift_id")

    def test_a_named_session_must_contain_the_assist(self) -> None:
        at = START + timedelta(hours=6)
        with pytest.raises(AssistError) as refused:
            domain.assist_session(request(shift_id=MORNING.shift_id), sessions=[MORNING],
                                  started=at, ended=at + timedelta(minutes=5), checked_in=set(),
                                  rules=RULES)
        assert refused.value.code == "outside_session"

    def test_a_household_visit_has_no_session(self) -> None:
        visit = request(venue="household_visit")
        assert domain.assist_session(visit, sessions=[MORNING], started=START, ended=END,
                                     checked_in=set(), rules=RULES) is None
        with pytest.raises(AssistError) as refused:
            domain.assist_session(request(venue="household_visit", shift_id=MORNING.shift_id),
                                  sessions=[MORNING], started=START, ended=END, checked_in=set(),
                                  rules=RULES)
        assert refused.value.code == "no_session_outreach"

    def test_a_cultural_house_assist_has_no_session_unless_named(self) -> None:
        assert domain.assist_session(request(venue="cultural_house"), sessions=[MORNING],
                                     started=START, ended=START + timedelta(minutes=9),
                                     checked_in=set(), rules=RULES) is None

    def test_the_event_data_carries_the_session_and_times(self) -> None:
        data = domain.assist_data(request(satisfaction=5), ward_id=WARD, assist_id="a-1",
                                  session=MORNING, started=START, ended=START + timedelta(minutes=8))
        assert data.shift_id == MORNING.shift_id
        assert data.dossier_id == "H46.25-000123"
        assert data.satisfaction == 5 and data.ended_at - data.started_at == timedelta(minutes=8)


def dossier(**overrides: object) -> DossierReceivedData:
    values: dict = {"dossier_id": "H46.25-000123", "ward_id": WARD, "procedure_code": "1.001193",
                    "field": "civil_status", "channel": "online", "received_at": START,
                    "eligible_fully_online": True, "fully_online": True}
    values.update(overrides)
    return DossierReceivedData(**values)


class TestDossierRules:
    def test_a_good_dossier_passes(self) -> None:
        assert domain.check_dossier(dossier(), ward_id=WARD, wall_now=END, rules=RULES) is None

    @pytest.mark.parametrize(("overrides", "code"), [
        ({"ward_id": "tam-ky"}, "wrong_ward"),
        ({"received_at": END + timedelta(minutes=6)}, "received_in_future"),
        ({"eligible_fully_online": False}, "fully_online_not_eligible"),
        ({"channel": "in_person"}, "fully_online_not_online"),
        ({"fully_online": False, "fee_due": False, "paid_online": True}, "paid_without_fee"),
    ])
    def test_broken_rules_are_named(self, overrides: dict, code: str) -> None:
        problem = domain.check_dossier(dossier(**overrides), ward_id=WARD, wall_now=END,
                                       rules=RULES)
        assert problem is not None and problem[0] == code

    def test_a_dossier_whose_assist_is_known_is_published_as_assisted(self) -> None:
        linked = domain.link_dossier(dossier(), "a-1")
        assert (linked.assisted, linked.assist_id) == (True, "a-1")
        assert domain.link_dossier(dossier(), None).assisted is False

    def test_duplicates_by_dossier_id_keep_the_first(self) -> None:
        first, again = dossier(channel="online"), dossier(channel="postal", fully_online=False)
        assert domain.first_per_dossier([first, again, dossier(dossier_id="X-2")]) == [
            first, dossier(dossier_id="X-2")]


def test_the_ward_day_is_the_local_day() -> None:
    start, end = domain.ward_day(datetime(2025, 9, 8, 20, 0, tzinfo=WARD_TZ))
    assert start == datetime(2025, 9, 8, tzinfo=WARD_TZ) and end - start == timedelta(days=1)
