"""Pure rules: staffing, volunteer time, no-shows, ratios, weeks and buckets."""

from datetime import date, datetime, timedelta

from services.reporting import domain
from services.reporting.domain import CheckIn, Session, evaluate_session

TZ = domain.LOCAL_TZ
START = datetime(2025, 9, 8, 7, 30, tzinfo=TZ)
END = datetime(2025, 9, 8, 11, 30, tzinfo=TZ)
GRACE = timedelta(minutes=15)
SESSION = Session(scheduled=True, cancelled=False, starts_at=START, ends_at=END, min_staff=2,
                  day=date(2025, 9, 8))


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def test_two_assigned_members_in_within_the_grace_staff_a_session() -> None:
    state = evaluate_session(SESSION, {"an", "bình"}, [CheckIn("an", at(-5), at(240)),
                                                       CheckIn("bình", at(15), at(200))],
                             now=at(16), grace=GRACE)
    assert (state.status, state.on_time) == ("staffed", 2)


def test_a_check_in_after_the_grace_does_not_count_and_the_session_ends_understaffed() -> None:
    checks = [CheckIn("an", at(0), None), CheckIn("bình", at(16), None)]
    assert evaluate_session(SESSION, {"an", "bình"}, checks, now=at(15), grace=GRACE).status \
        == "pending"
    late = evaluate_session(SESSION, {"an", "bình"}, checks, now=at(16), grace=GRACE)
    assert (late.status, late.on_time) == ("understaffed", 1)


def test_only_assigned_members_count_towards_staffing_but_everyone_earns_hours() -> None:
    checks = [CheckIn("an", at(0), at(60)), CheckIn("khách", at(0), at(60))]
    state = evaluate_session(SESSION, {"an", "bình"}, checks, now=END, grace=GRACE)
    assert state.status == "understaffed"
    assert state.members == {"an": (3600, True), "khách": (3600, False)}


def test_the_decision_waits_without_a_clock_reading() -> None:
    state = evaluate_session(SESSION, {"an"}, [], now=None, grace=GRACE)
    assert state.status == "pending" and state.decide_at == at(15) + timedelta(microseconds=1)


def test_cancelled_and_unscheduled_sessions_are_neither_staffed_nor_understaffed() -> None:
    cancelled = Session(True, True, START, END, 2, date(2025, 9, 8))
    assert evaluate_session(cancelled, {"an"}, [CheckIn("an", at(0), at(60))], now=END,
                            grace=GRACE).counts() == {"scheduled": 0, "staffed": 0,
                                                      "understaffed": 0, "cancelled": 1, "seconds": 0}
    unknown = evaluate_session(Session(False, False), {"an"}, [], now=END, grace=GRACE)
    assert unknown.status == "unknown" and unknown.counts()["scheduled"] == 0


def test_hours_are_capped_at_the_session() -> None:
    early_and_late = CheckIn("an", at(-60), END + timedelta(hours=2))
    assert domain.capped_seconds(early_and_late, START, END, ended=True) == 4 * 3600


def test_an_open_check_in_counts_until_the_end_only_once_the_session_is_over() -> None:
    open_check = CheckIn("an", at(30), None)
    assert domain.capped_seconds(open_check, START, END, ended=False) == 0
    assert domain.capped_seconds(open_check, START, END, ended=True) == 3 * 3600 + 1800


def test_a_session_is_decided_again_at_its_end_then_never() -> None:
    checks = [CheckIn("an", at(0), None), CheckIn("bình", at(0), None)]
    running = evaluate_session(SESSION, {"an", "bình"}, checks, now=at(30), grace=GRACE)
    assert running.decide_at == END and running.seconds == 0
    over = evaluate_session(SESSION, {"an", "bình"}, checks, now=END, grace=GRACE)
    assert over.decide_at is None and over.ended and over.seconds == 2 * 4 * 3600


def test_no_shows_are_assigned_members_of_sessions_over_who_never_checked_in() -> None:
    assignments = [("s1", "an"), ("s1", "bình"), ("s2", "an"), ("s3", "an")]
    missed = domain.no_shows(assignments, [("s1", "an")], over_sessions=["s1", "s2"])
    assert missed == {"bình": 1, "an": 1}


def test_ratios_weeks_days_and_buckets() -> None:
    assert domain.ratio(4, 5) == 0.8 and domain.ratio(1, 0) is None
    assert domain.iso_week(date(2025, 8, 11)) == "2025-W33"
    assert domain.week_bounds(date(2025, 8, 14)) == (date(2025, 8, 11), date(2025, 8, 17))
    late_evening_utc = datetime(2025, 9, 8, 18, 30, tzinfo=domain.LOCAL_TZ).astimezone(
        datetime.now().astimezone().tzinfo)
    assert domain.local_day(late_evening_utc) == date(2025, 9, 8)
    assert domain.local_day(datetime.fromisoformat("2025-09-08T17:30:00+00:00")) == date(2025, 9, 9)
    assert domain.day_end(date(2025, 9, 8)).isoformat() == "2025-09-09T00:00:00+07:00"
    assert [domain.duration_bucket(s) for s in (60, 61, 4000)] == [60.0, 180.0, float("inf")]


def test_reasons_and_the_vneid_blocker() -> None:
    assert domain.not_online_reason("submitted_online", None) is None
    assert domain.not_online_reason("referred_to_counter", None) == "referred_to_counter"
    assert domain.not_online_reason("not_completed", "missing_documents") == "missing_documents"
    assert domain.vneid_blocked("not_completed", "no_vneid_level2", None)
    assert domain.vneid_blocked("referred_to_counter", None, "level1")
    assert not domain.vneid_blocked("submitted_online", None, "none")
