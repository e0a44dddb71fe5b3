"""The cdt_* business metrics of CONTRACT.md: each ward's text kept, re-rendered when its totals change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

from services.reporting import exposition, figures

render = exposition.render  # the text of a whole snapshot, for tests and tools

# Wards read and rendered at a time: the first refresh (or one after a rebuild) never holds the
# rows of the whole country, about 100,000 records, at once.
BATCH_WARDS = 500


class WardTexts:
    """Every ward's lines of each family, as of the last refresh, and the exposition made of them.

    The truth is the database: another replica may have applied a ward's events, so a refresh
    compares each ward's digest of totals (figures.WARD_DIGESTS) with the one its text was
    rendered from, reads the rows of the wards that changed (in the same snapshot), and renders
    only those, in a thread. With the country's 3,321 wards a refresh where a few wards changed
    reads 3,321 short rows and renders a few wards; the first one renders them all, BATCH_WARDS
    at a time.
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
            digests = dict(await conn.fetch(figures.WARD_DIGESTS))
            changed = sorted(w for w, d in digests.items() if self.digests.get(w) != d)
            gone = self.digests.keys() - digests.keys()
            if not changed and not gone:
                return self.chunks
            fresh: dict[str, tuple[bytes, ...]] = {}
            for i in range(0, len(changed), BATCH_WARDS):
                rows = await figures.fetch_rows(conn, changed[i:i + BATCH_WARDS])
                fresh.update(await asyncio.to_thread(self._render, rows))
        await asyncio.to_thread(self._apply, digests, fresh, gone)
        return self.chunks

    def _render(self, rows: figures.TotalsRows) -> dict[str, tuple[bytes, ...]]:
        return {ward: exposition.ward_fragments(ward, totals, self.target_for(ward))
                for ward, totals in figures.snapshot(rows).wards.items()}

    def _apply(self, digests: dict[str, str], fresh: dict[str, tuple[bytes, ...]],
               gone: set[str]) -> None:
        added = fresh.keys() - self.fragments.keys()
        self.fragments.update(fresh)
        for ward in gone:
            self.fragments.pop(ward, None)
        if gone or added:
            self.order = sorted(self.fragments)
        self.digests = digests
        self.rendered = len(fresh)
        self.chunks = exposition.chunks([self.fragments[w] for w in self.order])


def install(runtime: Any) -> WardTexts:
    """The ServiceSpec metrics hook: the business families join the /metrics answer."""
    texts = WardTexts(runtime.settings.target_for)

    async def business_text() -> list[bytes]:
        async with runtime.pool.acquire() as conn:
            return await texts.refresh(conn)

    runtime.exposition.append(business_text)
    return texts

