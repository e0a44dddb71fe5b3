"""Reading an operator's roster file into teams and members, reporting every bad row at once."""

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from services.roster.sheets import Cell, RowError, SheetError, read_table
from services.roster.values import (
    ALLOWED_OCCUPATIONS,
    cell_text,
    header_key,
    parse_flag,
    parse_occupation,
    parse_phone,
    parse_unavailable,
    slugify,
)

__all__ = [
    "MemberRow", "RosterChanges", "RosterFile", "RosterFileError", "RowError", "TeamRow",
    "diff_roster", "parse_roster", "slugify",
]  # fmt: skip

WARD_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
REQUIRED = ("team", "hamlet", "member", "occupation")
OPTIONAL = ("is_leader", "phone", "unavailable")


@dataclass(frozen=True)
class MemberRow:
    row: int
    team_id: str
    team: str
    hamlet: str
    member_id: str
    name: str
    occupation: str
    is_leader: bool
    phone: str | None
    unavailable: frozenset[date]


@dataclass(frozen=True)
class TeamRow:
    team_id: str
    name: str
    hamlet: str
    leader_member_id: str | None


@dataclass(frozen=True)
class RosterFile:
    teams: tuple[TeamRow, ...]
    members: tuple[MemberRow, ...]
    ward_id: str


class RosterFileError(Exception):
    """A roster file that cannot be imported; `errors` lists every bad row, in row order."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.row, e.field or ""))
        super().__init__("\n".join(str(e) for e in self.errors))


def _columns(row: list[Cell]) -> tuple[dict[str, int], list[RowError]]:
    columns: dict[str, int] = {}
    errors: list[RowError] = []
    for index, cell in enumerate(row):
        key = header_key(cell)
        if key in columns:
            errors.append(RowError(1, None, f"cột '{cell_text(cell)}' bị lặp (duplicate column)"))
        elif key:
            columns[key] = index
    missing = [key for key in REQUIRED if key not in columns]
    if missing:
        why = f"missing required header; expected {','.join(REQUIRED + OPTIONAL)}"
        errors.append(RowError(1, None, f"thiếu cột {', '.join(missing)} ({why})"))
    return columns, errors


def _member(number: int, get: Callable[[str], str], errors: list[RowError]) -> MemberRow | None:
    def bad(field: str, reason: str) -> None:
        errors.append(RowError(number, field, reason))

    team, name = get("team"), get("member")
    if not team:
        bad("team", "thiếu tên tổ (missing team)")
    elif not slugify(team):
        bad("team", f"tên tổ '{team}' không có chữ hay số (the team name has no letters)")
    if not name:
        bad("member", "thiếu họ và tên (missing member name)")
    elif not slugify(name):
        bad("member", f"tên '{name}' không có chữ hay số (the name has no letters)")
    occupation = parse_occupation(get("occupation"))
    if occupation is None:
        bad(
            "occupation",
            f"nghề nghiệp '{get('occupation')}' không hợp lệ (unknown occupation; "
            f"allowed: {ALLOWED_OCCUPATIONS})",
        )
    is_leader = parse_flag(get("is_leader"))
    if is_leader is None:
        bad(
            "is_leader",
            f"'{get('is_leader')}' không hợp lệ (is_leader must be yes/no, true/false, 1/0 or có/không)",
        )
    phone = parse_phone(get("phone")) if get("phone") else None
    if get("phone") and phone is None:
        bad(
            "phone",
            f"'{get('phone')}' không phải số điện thoại (not a Vietnamese phone number, e.g. 0905123456)",
        )
    unavailable, problems = parse_unavailable(get("unavailable"))
    for problem in problems:
        bad("unavailable", problem)
    team_id, name_id = slugify(team), slugify(name)
    if not (team_id and name_id):
        return None
    # A row with a bad value still takes part in the cross-row checks (duplicates, leaders).
    return MemberRow(
        row=number,
        team_id=team_id,
        team=team,
        hamlet=get("hamlet"),
        member_id=f"{team_id}-{name_id}",
        name=name,
        occupation=occupation or "",
        is_leader=bool(is_leader),
        phone=phone,
        unavailable=unavailable,
    )


def _teams(members: list[MemberRow], errors: list[RowError]) -> list[MemberRow]:
    """Cross-row rules: one spelling and one hamlet per team, no twins, one leader."""
    first: dict[str, MemberRow] = {}
    hamlet: dict[str, MemberRow] = {}
    leader: dict[str, MemberRow] = {}
    seen: dict[str, MemberRow] = {}
    kept: list[MemberRow] = []
    for m in members:
        other = first.setdefault(m.team_id, m)
        if m.team != other.team:
            why = f"spelled differently from row {other.row}"
            errors.append(RowError(m.row, "team", f"'{m.team}' viết khác '{other.team}' ({why})"))
        if m.hamlet and hamlet.setdefault(m.team_id, m).hamlet != m.hamlet:
            other = hamlet[m.team_id]
            why = f"the team is in '{other.hamlet}' on row {other.row}; a team belongs to one hamlet"
            errors.append(RowError(m.row, "hamlet", f"tổ '{m.team}' chỉ thuộc một thôn ({why})"))
        if m.member_id in seen:
            other = seen[m.member_id]
            why = f"duplicate of row {other.row}: same member in team '{m.team}'"
            errors.append(RowError(m.row, "member", f"trùng với dòng {other.row} ({why})"))
            continue
        seen[m.member_id] = m
        if m.is_leader and leader.setdefault(m.team_id, m) is not m:
            other = leader[m.team_id]
            why = f"team '{m.team}' already has a leader: {other.name}"
            errors.append(RowError(m.row, "is_leader", f"tổ đã có tổ trưởng ở dòng {other.row} ({why})"))
        kept.append(m)
    return kept


def parse_roster(content: bytes, filename: str, ward_id: str) -> RosterFile:
    """The teams and members of a roster file; raises RosterFileError naming every bad row."""
    if not WARD_ID.match(ward_id):
        raise ValueError(f"not a ward id: {ward_id!r}")
    try:
        table = read_table(content, filename)
    except SheetError as error:
        raise RosterFileError([error.error]) from None
    columns, errors = _columns(table[0])
    if errors:
        raise RosterFileError(errors)
    members: list[MemberRow] = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(cell_text(c) for c in cells):
            continue

        def get(key: str, cells: list[Cell] = cells) -> str:
            index = columns.get(key)
            return cell_text(cells[index]) if index is not None and index < len(cells) else ""

        member = _member(number, get, errors)
        if member is not None:
            members.append(member)
    members = _teams(members, errors)
    if not members and not errors:
        errors.append(RowError(2, None, "không có thành viên nào (the file has no member rows)"))
    if errors:
        raise RosterFileError(errors)
    # A blank hamlet cell means the team's hamlet; a team with none is named after its hamlet.
    hamlet_of: dict[str, str] = {}
    for m in members:
        if m.hamlet:
            hamlet_of.setdefault(m.team_id, m.hamlet)
    members = [replace(m, hamlet=hamlet_of.get(m.team_id, m.team)) for m in members]
    leaders = {m.team_id: m.member_id for m in members if m.is_leader}
    teams = {m.team_id: TeamRow(m.team_id, m.team, m.hamlet, leaders.get(m.team_id)) for m in members}
    return RosterFile(tuple(teams.values()), tuple(members), ward_id)


@dataclass(frozen=True)
class RosterChanges:
    """What an import changes: teams and members to register, deactivate and update."""

    new_teams: tuple[TeamRow, ...]
    new_members: tuple[MemberRow, ...]
    deactivated_member_ids: tuple[str, ...]
    updated_members: tuple[MemberRow, ...]

    @property
    def empty(self) -> bool:
        return not (self.new_teams or self.new_members or self.deactivated_member_ids or self.updated_members)


_COMPARED = ("name", "team_id", "occupation", "is_leader", "unavailable", "phone")
_MISSING = object()


def _field(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(name, _MISSING)
    return getattr(record, name, _MISSING)


def _changed(current: Any, incoming: MemberRow) -> bool:
    for name in _COMPARED:
        value = _field(current, name)
        if value is _MISSING:
            continue
        if name == "unavailable":
            value = frozenset(value or ())
        if value != getattr(incoming, name):
            return True
    return False


def diff_roster(
    current_members: Mapping[str, Any],
    incoming: RosterFile,
    *,
    current_team_ids: Collection[str] = (),
) -> RosterChanges:
    """The changes that bring the ward's members in line with a re-imported file.

    `current_members` maps member_id to a record with name, team_id, occupation, is_leader,
    unavailable, active (and phone, compared when present). A deactivated member who is back
    in the file is a new member again: registering is what makes a member active.
    """
    active = {m_id: m for m_id, m in current_members.items() if _field(m, "active") is not False}
    known_teams = set(current_team_ids) | {_field(m, "team_id") for m in current_members.values()}
    listed = {m.member_id for m in incoming.members}
    return RosterChanges(
        new_teams=tuple(t for t in incoming.teams if t.team_id not in known_teams),
        new_members=tuple(m for m in incoming.members if m.member_id not in active),
        deactivated_member_ids=tuple(sorted(m_id for m_id in active if m_id not in listed)),
        updated_members=tuple(
            m for m in incoming.members if m.member_id in active and _changed(active[m.member_id], m)
        ),
    )
