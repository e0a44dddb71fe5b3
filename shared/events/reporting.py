"""Events of the reporting service: alerts and daily summaries."""

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field

from .envelope import WARD_ID_PATTERN, Event, EventData
from .roster import Period

TOPIC = "cdt.reporting.events"
SERVICE = "reporting"


class ShiftUnderstaffedData(EventData):
    shift_id: str
    ward_id: str = Field(pattern=WARD_ID_PATTERN)
    date: date
    period: Period
    min_staff: int
    checked_in: int
    detected_at: AwareDatetime


class ShiftUnderstaffed(Event):
    TYPE = "vn.cdt.reporting.shift.understaffed.v1"
    SUBJECT = "shift/{shift_id}"
    type: Literal["vn.cdt.reporting.shift.understaffed.v1"] = TYPE
    data: ShiftUnderstaffedData


class WardDailySummaryData(EventData):
    ward_id: str = Field(pattern=WARD_ID_PATTERN)
    date: date
    dossiers_total: int
    dossiers_online: int
    online_ratio: float
    assists: int
    assists_submitted_online: int
    sessions_scheduled: int
    sessions_staffed: int
    volunteer_hours: float


class WardDailySummary(Event):
    TYPE = "vn.cdt.reporting.ward.daily_summary.v1"
    type: Literal["vn.cdt.reporting.ward.daily_summary.v1"] = TYPE
    data: WardDailySummaryData


EVENT_TYPES: tuple[type[Event], ...] = (ShiftUnderstaffed, WardDailySummary)
