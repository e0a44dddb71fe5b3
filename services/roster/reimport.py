"""What a re-imported roster file changes beyond new and removed members (pure)."""

from collections.abc import Mapping, Sequence
from datetime import date

from services.roster.importer import MemberRow, TeamRow
from services.roster.records import MemberRecord, TeamRecord


def changed_teams(stored: Mapping[str, TeamRecord], incoming: Sequence[TeamRow]) -> list[TeamRow]:
    """Known teams whose name spelling, hamlet or leader the file changes: registered again."""
    return [
        t for t in incoming
        if t.team_id in stored
        and (stored[t.team_id].name, stored[t.team_id].hamlet, stored[t.team_id].leader_member_id)
        != (t.name, t.hamlet, t.leader_member_id)
    ]


def republished_members(current: Mapping[str, MemberRecord], updated: Sequence[MemberRow]) -> list[MemberRow]:
    """Updated members whose public fields changed (name, occupation, leader): registered again.

    A changed phone or unavailability is not on the bus, so it changes the database only.
    """
    return [
        m for m in updated
        if (current[m.member_id].name, current[m.member_id].occupation, current[m.member_id].is_leader)
        != (m.name, m.occupation, m.is_leader)
    ]


def newly_unavailable(current: Mapping[str, MemberRecord],
                      updated: Sequence[MemberRow]) -> dict[str, frozenset[date]]:
    """The dates each updated member has become unavailable on (to release them from)."""
    added = {m.member_id: m.unavailable - current[m.member_id].unavailable for m in updated}
    return {member_id: days for member_id, days in added.items() if days}


def next_positions(stored: Mapping[str, TeamRecord], new_teams: Sequence[TeamRow]) -> dict[str, int]:
    """Registration positions for new teams, after the known ones, in file order."""
    start = max((t.position for t in stored.values()), default=-1) + 1
    return {t.team_id: start + i for i, t in enumerate(new_teams)}
