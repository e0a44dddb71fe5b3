"""/metrics keeps each ward's text and renders again only the wards whose totals changed in the database."""

from __future__ import annotations

import asyncpg
from reporting_harness import reset

from services.reporting.figures import read_totals
from services.reporting.metrics import WardTexts, render

WARDS = ("bến-nghé", "đa-kao", "tân-định")


def target_for(ward: str) -> float:
    return 0.9 if ward == "đa-kao" else 0.8


async def add_ward(conn: asyncpg.Connection, ward: str, n: int) -> None:
    """A ward's totals, written as another replica's consumer would leave them."""
    await conn.execute("INSERT INTO rp_wards (ward_id) VALUES ($1)", ward)
    await conn.executemany(
        "INSERT INTO rp_dossier_totals VALUES ($1, $2, $3, $4, $5, $6, 0)",
        [(ward, "online", "civil_status", n, n, n // 2), (ward, "in_person", "land", n + 1, 0, 0)])
    await conn.execute("INSERT INTO rp_assist_totals VALUES ($1, 'service_center', "
                       "'submitted_online', $2, $3, $2, $2, 0)", ward, n, n * 300_000)
    await conn.executemany("INSERT INTO rp_assist_durations VALUES ($1, $2, $3)",
                           [(ward, 300.0, n), (ward, float("inf"), 1)])
    await conn.execute("INSERT INTO rp_ward_shift_totals VALUES ($1, $2, $2, 0, 0, $3)",
                       ward, n, n * 3600)


async def text_of(texts: WardTexts, conn: asyncpg.Connection) -> str:
    return b"".join(await texts.refresh(conn)).decode()


async def expected(conn: asyncpg.Connection) -> str:
    return render(await read_totals(conn), target_for)


async def test_a_refresh_renders_again_only_the_wards_whose_totals_changed(conn) -> None:
    for n, ward in enumerate(WARDS, start=1):
        await add_ward(conn, ward, n)
    texts = WardTexts(target_for)
    first = await texts.refresh(conn)
    assert texts.rendered == 3
    assert b"".join(first).decode() == await expected(conn)

    assert await texts.refresh(conn) is first  # nothing changed: the same chunks, no rendering

    await conn.execute("UPDATE rp_dossier_totals SET dossiers = dossiers + 1 "
                       "WHERE ward_id = 'đa-kao' AND channel = 'online'")
    assert await text_of(texts, conn) == await expected(conn)
    assert texts.rendered == 1
    assert 'cdt_dossiers_total{channel="online",field="civil_status",ward="đa-kao"} 3.0' in \
        await expected(conn)

    # a session decided by the clock job: only the shift totals move
    await conn.execute("UPDATE rp_ward_shift_totals SET staffed = staffed - 1, "
                       "understaffed = understaffed + 1 WHERE ward_id = 'tân-định'")
    assert await text_of(texts, conn) == await expected(conn)
    assert texts.rendered == 1


async def test_new_and_vanished_wards_keep_the_wards_sorted_and_families_whole(conn) -> None:
    await add_ward(conn, "tân-định", 4)
    texts = WardTexts(target_for)
    await texts.refresh(conn)
    await add_ward(conn, "bến-nghé", 2)
    # a ward known only by its histogram rows still gets its lines, as read_totals gives it
    await conn.execute("INSERT INTO rp_assist_durations VALUES ('cầu-kho', 60, 3)")
    assert await text_of(texts, conn) == await expected(conn)
    assert texts.rendered == 2
    targets = [line.split('"')[1] for line in (await expected(conn)).splitlines()
               if line.startswith("cdt_online_dossier_target_ratio{")]
    assert targets == ["bến-nghé", "cầu-kho", "tân-định"]

    # a rebuild empties the read models: every ward's lines go
    await reset(conn)
    assert await text_of(texts, conn) == await expected(conn) == render(
        await read_totals(conn), target_for)
    assert 'ward="' not in await text_of(texts, conn)
    await add_ward(conn, "đa-kao", 1)
    assert await text_of(texts, conn) == await expected(conn)
    assert texts.rendered == 1
