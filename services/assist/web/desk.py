"""What the desk page shows and how its forms become requests, pure (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from services.assist.domain import WARD_TZ, AssistError, CheckIn, Session
from services.assist.web.texts import TEXTS


@dataclass(frozen=True)
class Person:
    member_id: str
    name: str


@dataclass(frozen=True)
class Present:
    """A check-in as the page lists it."""

    person: Person
    at: str
    out: str | None
    stand_in: bool


@dataclass(frozen=True)
class SessionView:
    shift_id: str
    period: str
    starts: str
    ends: str
    location: str
    state: str  # upcoming | open | over | cancelled
    opens: str
    cancel_reason: str | None
    assigned: list[Person]
    present: list[Present]
    mine: Present | None  # the volunteer's own check-in to this session
    mine_id: str | None


@dataclass(frozen=True)
class DeskView:
    sessions: list[SessionView]
    today_people: list[Person]
    all_people: list[Person]
    me: Person | None
    names: dict[str, str] = field(default_factory=dict)


def _hm(at: datetime | None) -> str:
    return at.astimezone(WARD_TZ).strftime("%H:%M") if at else ""


def period_of(starts_at: datetime) -> str:
    hour = starts_at.astimezone(WARD_TZ).hour
    return "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


def build_view(*, sessions: Sequence[Session], checkins: Sequence[CheckIn],
               members: Mapping[str, tuple[str | None, bool]], me: str | None, now: datetime,
               checkin_early: timedelta) -> DeskView:
    """Today's sessions with who is assigned and checked in, and the people to pick from.

    `members` maps member_id to (display name, active); assigned members the roster has not
    named yet show by their id.
    """
    names = {m: (n or m) for m, (n, _) in members.items()}

    def person(member_id: str) -> Person:
        return Person(member_id, names.get(member_id, member_id))

    views, today = [], []
    for s in sessions:
        if not s.scheduled:
            continue
        assert s.starts_at and s.ends_at
        opens = s.starts_at - checkin_early
        state = ("cancelled" if s.cancelled else "upcoming" if now < opens
                 else "over" if now > s.ends_at else "open")
        own = sorted((c for c in checkins if c.shift_id == s.shift_id), key=lambda c: c.at)
        present = [Present(person(c.member_id), _hm(c.at), _hm(c.checked_out_at) or None,
                           c.stand_in) for c in own]
        mine = next((i for i, c in enumerate(own) if c.member_id == me), None)
        assigned = sorted((person(m) for m in s.assigned), key=lambda p: _key(p.name))
        today += [p for p in assigned if p not in today]
        views.append(SessionView(
            shift_id=s.shift_id, period=period_of(s.starts_at), starts=_hm(s.starts_at),
            ends=_hm(s.ends_at), location=s.location or "other", state=state, opens=_hm(opens),
            cancel_reason=s.cancel_reason, assigned=assigned,
            present=present, mine=None if mine is None else present[mine],
            mine_id=None if mine is None else own[mine].checkin_id))
    everyone = sorted((person(m) for m, (_, active) in members.items() if active),
                      key=lambda p: _key(p.name))
    known = set(names) | {p.member_id for p in today}
    return DeskView(views, today, everyone, person(me) if me and me in known else None, names)


def _key(name: str) -> tuple[str, str]:
    """Vietnamese names sort by the given name (the last word), then the whole name."""
    import unicodedata

    plain = unicodedata.normalize("NFD", name.casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).replace("đ", "d")
    return (plain.split()[-1] if plain.split() else "", plain)


def _first(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


def assist_body(form: Mapping[str, list[str]], member_id: str | None) -> dict[str, Any]:
    """The POST /assists body of the desk form: the reason only when not completed, the
    dossier code only when there can be one (so a hidden, stale value is never refused)."""
    outcome = _first(form, "outcome")
    body: dict[str, Any] = {
        "assist_id": _first(form, "assist_id") or None,
        "member_ids": [member_id] if member_id else [],
        "field": _first(form, "field") or None,
        "actions": [a for a in form.get("actions", []) if a],
        "outcome": outcome or None,
        "satisfaction": _first(form, "satisfaction") or None,
    }
    if outcome == "not_completed":
        body["reason"] = _first(form, "reason") or None
    else:
        body["dossier_id"] = "".join(_first(form, "dossier_id").split()) or None
    return {k: v for k, v in body.items() if v is not None}


_GENERAL = {"shift_id", "at", "started_at", "ended_at", "checkin_id", "assist_id", "venue", "body"}


def _place(field_name: str | None) -> str:
    """Where an error shows: next to its field, or at the top of the form."""
    if field_name in ("member_ids", "member_id"):
        return "member"
    if not field_name or field_name.split(".")[0] in _GENERAL:
        return "general"
    return field_name.split(".")[0]


def _message_key(code: str | None, place: str) -> str:
    if code and TEXTS.has(f"err.{code}"):
        return f"err.{code}"
    if TEXTS.has(f"err.field.{place}"):
        return f"err.field.{place}"
    return "err.invalid"


def errors_of(exc: ValidationError | AssistError) -> dict[str, str]:
    """{place: text key} of a refused request: the API's field decides the place."""
    if isinstance(exc, AssistError):
        place = _place(exc.field)
        return {place: _message_key(exc.code, place)}
    found: dict[str, str] = {}
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in error["loc"]]
        place = _place(loc[0] if loc else None)
        found.setdefault(place, _message_key(None, place))
    return found


def form_values(form: Mapping[str, list[str]]) -> dict[str, Any]:
    """What the volunteer entered, to fill the form again next to the errors."""
    return {"assist_id": _first(form, "assist_id"), "field": _first(form, "field"),
            "actions": list(form.get("actions", [])), "outcome": _first(form, "outcome"),
            "reason": _first(form, "reason"), "dossier_id": _first(form, "dossier_id"),
            "satisfaction": _first(form, "satisfaction")}


def blank_values(assist_id: str) -> dict[str, Any]:
    return {"assist_id": assist_id, "field": "", "actions": [], "outcome": "", "reason": "",
            "dossier_id": "", "satisfaction": ""}
