"""Inbox: an event is applied at most once, claimed by ce_source + ce_id in the consumer's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

import asyncpg

from shared.events import Event

# The batch's keys travel as one bytea of 16-byte digests (one parameter, no array to encode
# element by element); the fresh ones come back as bytes.
CLAIM = """
INSERT INTO inbox (key)
SELECT encode(substring($1::bytea FROM n * 16 + 1 FOR 16), 'hex')::uuid
FROM generate_series(0, length($1::bytea) / 16 - 1) AS n
ON CONFLICT DO NOTHING
RETURNING uuid_send(key)
"""


def key(source: str, event_id: str) -> bytes:
    """The inbox key of an event: the first 128 bits of SHA-256 over source, NUL, id (as
    migration 002 computes it). Neither part can hold a NUL, so distinct pairs never share an
    input; 128 bits make a collision practically impossible (~1e-20 at a billion events)."""
    return sha256(f"{source}\x00{event_id}".encode()).digest()[:16]


async def claim(conn: asyncpg.Connection, events: Sequence[Event]) -> list[Event]:
    """The events not applied before, in their order; each is claimed in this transaction.

    An event redelivered in the same batch is kept once.
    """
    if not events:
        return []
    keys = [key(e.source, e.id) for e in events]
    fresh = {row[0] for row in await conn.fetch(CLAIM, b"".join(keys))}
    claimed = []
    for event, k in zip(events, keys, strict=True):
        if k in fresh:
            fresh.discard(k)
            claimed.append(event)
    return claimed
