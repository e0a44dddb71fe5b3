"""A ward's own planning settings (stored as JSON), turned into the planner's PlanRules."""

from dataclasses import replace
from datetime import date, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.roster.domain import PlanRules, RosterRuleError, SessionTemplate


class SessionTimes(BaseModel):
    """One session of a working day, in the ward's local time."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    period: Literal["morning", "afternoon", "evening"]
    starts: time
    ends: time


class WardRules(BaseModel):
    """Overrides of the default planning rules; a field left out keeps the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    workdays: list[int] | None = Field(
        default=None, description="Working weekdays, 0 = Monday .. 6 = Sunday; default 0-4")
    sessions: list[SessionTimes] | None = Field(
        default=None, description="Sessions of a working day; default morning 07:30-11:30 and "
        "afternoon 13:30-17:00")
    min_staff: int | None = Field(default=None, ge=1, le=20,
                                  description="Members each session needs; default 2")
    max_per_week: int | None = Field(default=None, ge=1, le=14,
                                     description="Most sessions a member takes in a week; default none")
    team_order: list[str] | None = Field(
        default=None, description="Team ids in rotation order; default the order teams were "
        "registered in (teams left out follow in that order)")
    holidays: list[date] | None = Field(
        default=None, description="Closed days replacing Vietnam's 2025-2026 public holidays "
        "(needed to plan other years)")
    extra_holidays: list[date] = Field(
        default_factory=list, description="Closed days added to the holiday calendar (storms, "
        "local festivals)")
    makeup_workdays: list[date] | None = Field(
        default=None, description="Weekend days the office works to make up a holiday; default "
        "those decided for 2025-2026")
    location: Literal["service_center", "cultural_house", "other"] | None = Field(
        default=None, description="Where the desk is; default service_center")

    @model_validator(mode="after")
    def _valid_rules(self) -> "WardRules":
        if self.workdays is not None and any(d < 0 or d > 6 for d in self.workdays):
            raise ValueError("workdays are 0 (Monday) to 6 (Sunday)")
        try:
            plan_rules(self)
        except RosterRuleError as error:
            raise ValueError(str(error)) from None
        return self

    def stored(self) -> dict:
        """The JSON kept in the wards table: only what differs from the defaults."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def plan_rules(rules: WardRules, team_ids: list[str] | None = None) -> PlanRules:
    """The planner's rules for a ward; `team_ids` (registration order) completes team_order."""
    base = PlanRules()
    changes: dict = {}
    if rules.workdays is not None:
        changes["workdays"] = frozenset(rules.workdays)
    if rules.sessions is not None:
        changes["sessions"] = tuple(SessionTemplate(s.period, s.starts, s.ends) for s in rules.sessions)
    if rules.min_staff is not None:
        changes["min_staff"] = rules.min_staff
    if rules.max_per_week is not None:
        changes["max_per_week"] = rules.max_per_week
    if rules.holidays is not None or rules.extra_holidays:
        holidays = base.holidays if rules.holidays is None else frozenset(rules.holidays)
        changes["holidays"] = holidays | frozenset(rules.extra_holidays)
    if rules.makeup_workdays is not None:
        changes["makeup_workdays"] = frozenset(rules.makeup_workdays)
    if rules.location is not None:
        changes["location"] = rules.location
    if rules.team_order is not None:
        rest = [t for t in team_ids or () if t not in rules.team_order]
        changes["team_order"] = tuple(dict.fromkeys([*rules.team_order, *rest]))
    return replace(base, **changes)


def check_calendar(rules: WardRules, start: date, end: date) -> None:
    """Refuse to plan a year the national holiday calendar does not cover, unless the ward
    gave its own closed days: a missing Tết would otherwise open the desk on a holiday."""
    from services.roster.holidays import COVERED_YEARS

    if rules.holidays is not None:
        return
    outside = sorted({start.year, end.year} - COVERED_YEARS)
    if outside:
        raise RosterRuleError(
            f"không có lịch nghỉ lễ năm {outside[0]} (no holiday calendar for {outside[0]}: "
            "set the ward's holidays in its settings first)")
