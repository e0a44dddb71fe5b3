"""The cdt_* business metrics of CONTRACT.md: each ward's text kept, re-rendered when its totals change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

from services.reporting import exposition, figures

render = exposition.render  # the text of a whole snapshot, for tests and tools


class WardTexts:
    """Every ward's lines of each family, as of the last refresh, and the exposition made of them.

    The truth is the database: another replica may have applied a ward's events, so a refresh
    compares each ward's digest of totals (figures.WARD_DIGESTS) with the one its text was
    rendered from, reads the rows of the wards that changed (in the same snapshot), and renders
    only those, in a thread. With the country's 3,321 wards a refresh where a few wards changed
    reads 3,321 short rows and renders a few wards; the first one renders them all.
    """

    def __init__(self, target_for: Callable[[str], float]) -> None:
        self.target_for = target_for
        self.digests: dict[str, str] = {}
        self.fragments: dict[str, tuple[bytes, ...]] = {}
        self.order: list[str] = []  # ward ids, sorted
        self.chunks: list[bytes] = exposition.chunks([])
        self.rendered = 0  # wards rendered by the last refresh that changed something

    async def refresh(self, conn: asyncpg.Connection) -> list[bytes]:
        """The exposition's chunks; the same list object while nothing has changed."""
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            digests = {ward: digest for ward, digest in await conn.fetch(figures.WARD_DIGESTS)}
            changed = [w for w, d in digests.items() if self.digests.get(w) != d]
            gone = self.digests.keys() - digests.keys()
            if not changed and not gone:
                return self.chunks
            # Most wards changed (the first refresh, a rebuild): one scan beats a long ANY().
            some = changed if len(changed) < len(digests) // 2 else None
            rows = await figures.fetch_rows(conn, some) if changed else None
        await asyncio.to_thread(self._apply, digests, set(changed), rows, gone)
        return self.chunks

    def _apply(self, digests: dict[str, str], changed: set[str],
               rows: figures.TotalsRows | None, gone: set[str]) -> None:
        wards = figures.snapshot(rows).wards if rows is not None else {}
        for ward in changed:
            self.fragments[ward] = exposition.ward_fragments(ward, wards[ward],
                                                             self.target_for(ward))
        for ward in gone:
            self.fragments.pop(ward, None)
        if gone or not changed <= self.digests.keys():
            self.order = sorted(self.fragments)
        self.digests = digests
        self.rendered = len(changed)
        self.chunks = exposition.chunks([self.fragments[w] for w in self.order])


def install(runtime: Any) -> WardTexts:
    """The ServiceSpec metrics hook: the business families join the /metrics answer."""
    texts = WardTexts(runtime.settings.target_for)

    async def business_text() -> list[bytes]:
        async with runtime.pool.acquire() as conn:
            return await texts.refresh(conn)

    runtime.exposition.append(business_text)
    return texts

