"""4. Roster planning through the roster service (import + plan over HTTP, events published by its
relay): one ward's campaign, a province (100 wards), then the rest of the country (3,321 wards in
all) in the same service and database."""

from __future__ import annotations

import asyncio
import time

import httpx

from cdt.demo import national
from services.roster.reference import CAMPAIGN_END, CAMPAIGN_START, REFERENCE_WARD, reference_roster_csv
from shared import db, outbox
from tests.bench.conftest import SCALE
from tests.bench.harness import RssSampler, connected, operator_token, poll_until

CONCURRENCY = 4  # requests in flight, as a few operators (or a script) would send them
OUTBOX_TOTAL = "SELECT count(*) FROM outbox"


async def import_and_plan(http: httpx.AsyncClient, ward_id: str, roster_csv: bytes) -> dict:
    response = await http.post(f"/wards/{ward_id}/roster/import", content=roster_csv,
                               params={"filename": f"{ward_id}.csv"},
                               headers={"content-type": "text/csv"})
    response.raise_for_status()
    return response.json()


async def plan(http: httpx.AsyncClient, ward_id: str) -> dict:
    response = await http.post(f"/wards/{ward_id}/plan", json={
        "from": CAMPAIGN_START.isoformat(), "to": CAMPAIGN_END.isoformat()})
    response.raise_for_status()
    return response.json()


async def wait_published(url: str, limit: float = 300) -> tuple[float, int]:
    """Seconds until the outbox has nothing unsent, and how many rows it holds."""
    async with connected(url) as conn:
        began = time.monotonic()

        async def sent_all() -> int:
            return int(await outbox.unsent_count(conn) == 0)

        await poll_until(sent_all, 1, limit=limit)
        return time.monotonic() - began, int(await conn.fetchval(OUTBOX_TOTAL))


async def gather_limited(calls, limit: int = CONCURRENCY) -> list:
    slots = asyncio.Semaphore(limit)

    async def one(call):
        async with slots:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def import_and_plan_wards(http: httpx.AsyncClient, url: str,
                                wards: list[national.WardProfile]) -> dict:
    """Import every ward's roster, then plan every ward; then wait for the relay to publish."""
    files = {w.ward_id: national.roster_csv(w) for w in wards}
    began = time.monotonic()
    await gather_limited([lambda w=w: import_and_plan(http, w.ward_id, files[w.ward_id])
                          for w in wards])
    imported = time.monotonic()
    bodies = await gather_limited([lambda w=w: plan(http, w.ward_id) for w in wards])
    planned = time.monotonic()
    _, total = await wait_published(url, limit=900)
    published = time.monotonic()
    return {"wards": len(wards), "import": imported - began, "plan": planned - imported,
            "published_after_plan_start": published - imported,
            "published_after_import_start": published - began,
            "outbox_total": total, "sessions": sum(b["sessions"] for b in bodies),
            "assignments": sum(b["assignments"] for b in bodies),
            "unstaffable": sum(len(b["unstaffable"]) for b in bodies)}


async def test_roster_planning(make_infra, services, country, results: dict) -> None:
    infra, broker = make_infra("roster")
    running = services(infra)
    roster = running.start("roster")
    sampler = RssSampler()
    sampler.watch("roster", roster.proc.pid)
    url = db.service_database_url(infra.database_url, "roster")
    token = await operator_token(infra)
    figures: dict = {}
    async with httpx.AsyncClient(base_url=roster.url, timeout=300,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        with sampler:
            # One ward: the reference ward's campaign.
            began = time.monotonic()
            await import_and_plan(http, REFERENCE_WARD, reference_roster_csv())
            imported = time.monotonic()
            body = await plan(http, REFERENCE_WARD)
            planned = time.monotonic()
            publish_wait, events = await wait_published(url)
            figures["ward"] = {"import": imported - began, "plan": planned - imported,
                               "published": time.monotonic() - imported, "events": events,
                               "sessions": body["sessions"], "assignments": body["assignments"]}
            sampler.events = events

            # A province: 100 wards of the national simulation, imported then planned.
            everyone = country[:max(20, round(national.COUNTRY_WARDS * SCALE))]
            wards = everyone[:max(4, round(national.PROVINCE_WARDS * SCALE))]
            province = await import_and_plan_wards(http, url, wards)
            province["events"] = province["outbox_total"] - events
            figures["province"] = province
            sampler.events = province["outbox_total"]

            # The country: the other wards, in the same service and database; the figures
            # are the province's plus these.
            rest = await import_and_plan_wards(http, url, everyone[len(wards):])
            figures["country"] = {
                "wards": len(everyone),
                **{k: province[k] + rest[k] for k in (
                    "import", "plan", "published_after_plan_start",
                    "published_after_import_start", "sessions", "assignments", "unstaffable")},
                "events": rest["outbox_total"] - events}
            sampler.events = rest["outbox_total"]
    running.stop_all()
    broker.stop()
    results["memory"]["roster planning"] = sampler.summary()
    c = figures["country"]
    p = figures["province"]
    results["roster"] = figures
    print(f"\nroster: ward plan {figures['ward']['plan']:.2f}s; province "
          f"{p['plan']:.1f}s to plan, {p['published_after_plan_start']:.1f}s to "
          f"publish {p['events']} events; country ({c['wards']:,} wards) {c['import']:.0f}s to "
          f"import, {c['plan']:.0f}s to plan, {c['published_after_plan_start']:.0f}s to publish "
          f"{c['events']:,} events")
