"""Bookkeeping while planning: each member's load, week and bookings, and why a session is short."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.roster.domain import Session, Volunteer


class Ledger:
    """Who is booked where, so that each choice sees the load and bookings made so far."""

    def __init__(self, prior_load: Mapping[str, int], max_per_week: int | None) -> None:
        self.load: Counter[str] = Counter(prior_load)
        self.week: Counter[tuple[str, tuple[int, int]]] = Counter()
        self.booked: dict[tuple[str, date], list[Session]] = {}
        self.max_per_week = max_per_week

    def book(self, member_id: str, session: Session) -> None:
        self.load[member_id] += 1
        self.week[member_id, session.date.isocalendar()[:2]] += 1
        self.booked.setdefault((member_id, session.date), []).append(session)

    def unbook(self, member_id: str, session: Session) -> None:
        self.load[member_id] -= 1
        self.week[member_id, session.date.isocalendar()[:2]] -= 1
        self.booked[member_id, session.date].remove(session)

    def blocker(self, volunteer: Volunteer, session: Session) -> str | None:
        """Why this volunteer cannot take the session, or None when they can."""
        if session.date in volunteer.unavailable:
            return "unavailable"
        if self.max_per_week is not None and (
            self.week[volunteer.member_id, session.date.isocalendar()[:2]] >= self.max_per_week
        ):
            return "weekly_cap"
        for other in self.booked.get((volunteer.member_id, session.date), ()):
            if other.starts_at < session.ends_at and session.starts_at < other.ends_at:
                return "busy"
        return None

    def sessions_on(self, member_id: str, day: date) -> int:
        return len(self.booked.get((member_id, day), ()))


def shortage_reason(needed: int, found: int, blockers: Counter[str], cap: int | None) -> str:
    """The sentence an operator reads when a session cannot get enough members."""
    parts = [
        f"chỉ có {found}/{needed} thành viên rảnh trong cả phường "
        f"(only {found} of {needed} members available in the whole ward)"
    ]
    if blockers["unavailable"]:
        parts.append(f"{blockers['unavailable']} bận ngày này (unavailable that day)")
    if blockers["weekly_cap"]:
        parts.append(f"{blockers['weekly_cap']} đã đủ {cap} buổi trong tuần (at the weekly cap)")
    if blockers["busy"]:
        parts.append(f"{blockers['busy']} đang trực buổi trùng giờ (in an overlapping session)")
    return "; ".join(parts)


def locked_reason(needed: int, kept: int) -> str:
    return f"buổi đã khóa với {kept}/{needed} thành viên (session locked with {kept} of {needed})"
