"""The national simulator's record stream: limits, days played, and the volume it reports."""

from __future__ import annotations

from cdt.demo import national
from services.roster.reference import CAMPAIGN_END, CAMPAIGN_START

WARDS = national.ward_profiles(national.COUNTRY_WARDS)[:3]


def _types(records) -> list[str]:
    return [dict(headers)["ce_type"].decode() for _, _, _, headers in records]


def test_limit_stops_the_stream_and_the_volume_counts_what_was_yielded() -> None:
    volume = national.Volume()
    records = list(national.province_records(WARDS, CAMPAIGN_START, CAMPAIGN_END, limit=5000,
                                             volume=volume))
    assert len(records) == 5000 == volume.events == sum(volume.by_type.values())
    types = _types(records)
    roster = [i for i, t in enumerate(types) if ".roster." in t]
    assert roster == list(range(len(roster)))  # every ward's roster first, then the days
    assert volume.wards == 3 and volume.days >= 1


def test_days_bound_the_days_played_and_the_sessions_planned() -> None:
    volume = national.Volume()
    records = list(national.province_records(WARDS, CAMPAIGN_START, CAMPAIGN_END, days=2,
                                             volume=volume))
    assert volume.days == 2 and volume.events == len(records)
    scheduled = _types(records).count("vn.cdt.roster.shift.scheduled.v1")
    assert scheduled == 3 * 2 * 2  # 3 wards, 2 days, a morning and an afternoon each
