"""Inbox: an event is applied at most once, claimed by ce_source + ce_id in the consumer's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.events import Event

CLAIM = """
INSERT INTO inbox (source, id)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT DO NOTHING
RETURNING source, id
"""


async def claim(conn: asyncpg.Connection, events: Sequence[Event]) -> list[Event]:
    """The events not applied before, in their order; each is claimed in this transaction.

    An event redelivered in the same batch is kept once.
    """
    if not events:
        return []
    rows = await conn.fetch(CLAIM, [e.source for e in events], [e.id for e in events])
    fresh = {(source, id_) for source, id_ in rows}
    claimed = []
    for event in events:
        key = (event.source, event.id)
        if key in fresh:
            fresh.discard(key)
            claimed.append(event)
    return claimed
