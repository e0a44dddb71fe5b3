"""Inbox: an event is applied at most once, claimed by ce_source + ce_id in the consumer's transaction.

Events that create a fact with an identity of its own (reporting's dossiers and assists) may skip
it: their write inserts the fact only when its key is new, so the fact's table is their inbox
(`apply_once`, `keyed`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from hashlib import sha256
from typing import Any

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


async def apply_once(conn: asyncpg.Connection, events: Sequence[Event], *,
                     prepare: Callable[[list[Event]], Any],
                     write: Callable[[asyncpg.Connection, Any], Awaitable[Any]],
                     prepared: Any = None, keyed: tuple[type[Event], ...] = ()) -> list[Event]:
    """Apply a batch at most once, in the caller's transaction; returns the events applied.

    Events of the `keyed` types skip the inbox: `write` inserts each one's fact only when its key
    (a dossier's id) is new, and returns those it applied. Every other event is claimed in the
    inbox first, and `write` is given the rows of the fresh ones only: `prepared` (built from all
    `events` ahead of the transaction) when every event is fresh, otherwise `prepare` again.
    """
    inboxed = [e for e in events if not isinstance(e, keyed)]
    fresh = await claim(conn, inboxed)
    if len(fresh) < len(inboxed):
        events, prepared = _with_fresh(events, fresh, keyed), None
    if not events:
        return []
    written = await write(conn, prepare(list(events)) if prepared is None else prepared)
    return [*fresh, *written] if keyed else fresh


def _with_fresh(events: Sequence[Event], fresh: list[Event],
                keyed: tuple[type[Event], ...]) -> list[Event]:
    """`events` in order, keeping the keyed ones and, of the others, only the claimed ones (each
    once: `fresh` holds the first occurrence of each, in order)."""
    claimed = iter(fresh)
    following = next(claimed, None)
    kept = []
    for event in events:
        if isinstance(event, keyed):
            kept.append(event)
        elif event is following:
            kept.append(event)
            following = next(claimed, None)
    return kept
