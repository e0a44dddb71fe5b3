"""4. Roster planning: one ward's campaign and a province (100 wards) through the roster service
(import + plan over HTTP, events published by its relay), and the country (3,321 wards) with the
service's pure planner."""

from __future__ import annotations

import asyncio
import time

import httpx

from cdt.demo import national
from services.roster.domain import PlanRules
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


def plan_country(wards: list[national.WardProfile]) -> tuple[float, int, int]:
    """The pure planner on every ward's campaign: (seconds, sessions, assignments)."""
    began = time.monotonic()
    sessions = assignments = 0
    rules = PlanRules()
    for ward in wards:
        result = national.plan_campaign(ward, CAMPAIGN_START, CAMPAIGN_END, rules=rules)
        sessions += len(result.sessions)
        assignments += sum(len(m) for m in result.assignments.values())
    return time.monotonic() - began, sessions, assignments


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
            wards = country[:max(4, round(national.PROVINCE_WARDS * SCALE))]
            files = {w.ward_id: national.roster_csv(w) for w in wards}
            began = time.monotonic()
            await gather_limited([lambda w=w: import_and_plan(http, w.ward_id, files[w.ward_id])
                                  for w in wards])
            imported = time.monotonic()
            bodies = await gather_limited([lambda w=w: plan(http, w.ward_id) for w in wards])
            planned = time.monotonic()
            publish_wait, total = await wait_published(url)
            published = time.monotonic()
            figures["province"] = {
                "wards": len(wards), "import": imported - began, "plan": planned - imported,
                "published_after_plan_start": published - imported,
                "published_after_import_start": published - began,
                "events": total - events, "sessions": sum(b["sessions"] for b in bodies),
                "assignments": sum(b["assignments"] for b in bodies),
                "unstaffable": sum(len(b["unstaffable"]) for b in bodies)}
            sampler.events = total
    running.stop_all()
    broker.stop()
    results["memory"]["roster planning"] = sampler.summary()

    # The country: the same planner the service runs, in this one process, ward after ward.
    everyone = country[:max(20, round(national.COUNTRY_WARDS * SCALE))]
    seconds, sessions, assignments = await asyncio.to_thread(plan_country, everyone)
    province = figures["province"]
    per_ward_events = province["events"] / province["wards"]
    relay_rate = province["events"] / max(province["published_after_plan_start"], 1e-9)
    figures["country"] = {"wards": len(everyone), "plan_pure": seconds, "sessions": sessions,
                          "assignments": assignments,
                          "events_estimated": per_ward_events * len(everyone),
                          "service_extrapolated": (province["import"] + province["plan"])
                          / province["wards"] * len(everyone),
                          "relay_rate_seen": relay_rate}
    results["roster"] = figures
    print(f"\nroster: ward plan {figures['ward']['plan']:.2f}s; province "
          f"{province['plan']:.1f}s to plan, {province['published_after_plan_start']:.1f}s to "
          f"publish {province['events']} events; country (pure planner) {seconds:.0f}s")
