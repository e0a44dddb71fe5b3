"""Plays the campaign through the public interfaces: roster and assist HTTP, the intake topic.

Nothing here writes to a database: the demo is what ward officials, volunteers on phones and the
provincial dossier system would do, on an accelerated clock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import httpx
from aiokafka import AIOKafkaProducer

from cdt.demo.scenario import Assist, CheckIn, Day, Dossier, PlannedShift, campaign
from services.roster.reference import reference_roster_xlsx
from shared.events import intake
from shared.events.assist import DossierReceivedData
from shared.events.intake import IntakeDossierReceived

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
INTAKE_SOURCE = "dossier-system"  # ce_source /wards/{ward}/dossier-system: the province's system


class DemoError(Exception):
    """The demo cannot go on; the message says why in one line."""


@dataclass
class Totals:
    """What the demo produced: the truth that the report must show."""

    checkins: int = 0
    checkouts: int = 0
    assists: int = 0
    dossiers: int = 0
    dossiers_online: int = 0
    sessions: int = 0
    first_day: date | None = None
    last_day: date | None = None
    errors: list[str] = field(default_factory=list)


class Api:
    """A bearer-token HTTP client for one service that raises DemoError with the reason."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=120,
                                      headers={"Authorization": f"Bearer {token}"},
                                      limits=httpx.Limits(max_connections=16))

    async def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = await self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                reason = response.json().get("message", response.text)
            except ValueError:
                reason = response.text
            raise DemoError(f"{method} {path}: {reason} (HTTP {response.status_code})")
        return response

    async def close(self) -> None:
        await self.http.aclose()


def _shift(body: dict) -> PlannedShift:
    members = body.get("member_ids") or [m["member_id"] if isinstance(m, dict) else m
                                         for m in body.get("members", [])]
    return PlannedShift(body["shift_id"], date.fromisoformat(body["date"]), body["period"],
                        datetime.fromisoformat(body["starts_at"]),
                        datetime.fromisoformat(body["ends_at"]), tuple(members))


def _intake_event(ward: str, dossier: Dossier, assist_id: str | None) -> IntakeDossierReceived:
    data = DossierReceivedData(
        ward_id=ward, dossier_id=dossier.dossier_id, procedure_code=dossier.procedure_code,
        field=dossier.field, channel=dossier.channel, received_at=dossier.received_at,
        assisted=dossier.assisted, assist_id=assist_id,
        eligible_fully_online=dossier.eligible_fully_online, fully_online=dossier.fully_online,
        fee_due=dossier.fee_due, paid_online=dossier.paid_online)
    return IntakeDossierReceived.create(
        data, service=INTAKE_SOURCE,
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ward}:{dossier.dossier_id}")))


class CampaignDriver:
    """Imports, plans, then plays each day: check-ins, citizens helped, dossiers, check-outs."""

    def __init__(self, *, urls: dict[str, str], token: str, kafka_bootstrap: str, ward: str,
                 start: date, end: date, seed: int, speed: float, concurrency: int = 12,
                 kafka_security: dict | None = None) -> None:
        self.roster = Api(urls["roster"], token)
        self.assist = Api(urls["assist"], token)
        self.reporting = Api(urls["reporting"], token)
        self.kafka_bootstrap = kafka_bootstrap
        self.kafka_security = kafka_security or {}  # TLS/SASL arguments of aiokafka
        self.ward, self.start, self.end, self.seed, self.speed = ward, start, end, seed, speed
        self._slots = asyncio.Semaphore(concurrency)
        self.totals = Totals()

    async def close(self) -> None:
        for api in (self.roster, self.assist, self.reporting):
            await api.close()

    async def prepare(self) -> list[PlannedShift]:
        """Import the reference roster, plan the period, and wait until assist knows it."""
        await self.roster.call("POST", f"/wards/{self.ward}/roster/import",
                               params={"filename": "ban-thach.xlsx"},
                               content=reference_roster_xlsx(self.seed),
                               headers={"content-type": XLSX})
        await self.roster.call("POST", f"/wards/{self.ward}/plan",
                               json={"from": self.start.isoformat(), "to": self.end.isoformat()})
        body = (await self.roster.call("GET", f"/wards/{self.ward}/shifts", params={
            "from": self.start.isoformat(), "to": self.end.isoformat()})).json()
        shifts = [_shift(s) for s in (body if isinstance(body, list) else body["shifts"])]
        if not shifts:
            raise DemoError("the plan has no sessions")
        last = max(shifts, key=lambda s: s.starts_at)
        await self._wait(lambda: self._assist_knows(last.shift_id), 60,
                         "the assist service did not receive the plan")
        return shifts

    async def _assist_knows(self, shift_id: str) -> bool:
        response = await self.assist.http.get(f"/wards/{self.ward}/sessions/{shift_id}/checkins")
        return response.status_code == 200

    @staticmethod
    async def _wait(check: Callable, limit: float, message: str) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if await check():
                return
            await asyncio.sleep(0.3)
        raise DemoError(message)

    async def _post(self, api: Api, path: str, body: dict) -> dict:
        async with self._slots:
            return (await api.call("POST", path, json=body)).json()

    async def _check_in(self, checkin: CheckIn) -> tuple[CheckIn, str]:
        body = await self._post(self.assist, f"/wards/{self.ward}/checkins", {
            "member_id": checkin.member_id, "shift_id": checkin.shift_id,
            "at": checkin.at.isoformat()})
        return checkin, body["checkin_id"]

    async def _log_assist(self, assist: Assist, assist_id: str) -> None:
        await self._post(self.assist, f"/wards/{self.ward}/assists", {
            "assist_id": assist_id, "member_ids": list(assist.member_ids),
            "venue": assist.venue, "shift_id": assist.shift_id,
            "procedure_code": assist.procedure_code, "field": assist.field,
            "actions": list(assist.actions), "outcome": assist.outcome, "reason": assist.reason,
            "dossier_id": assist.dossier_id, "started_at": assist.started_at.isoformat(),
            "ended_at": assist.ended_at.isoformat(), "satisfaction": assist.satisfaction,
            "vneid_level": assist.vneid_level, "citizen_age_band": assist.citizen_age_band,
            "citizen_vulnerable": assist.citizen_vulnerable})

    def _assist_id(self, assist: Assist) -> str:
        name = f"{self.ward}:{self.seed}:{assist.shift_id}:{assist.started_at.isoformat()}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))

    async def _publish(self, producer: AIOKafkaProducer, dossiers: list[Dossier],
                       links: dict[str, str]) -> None:
        futures = []
        for dossier in dossiers:
            key, value, headers = _intake_event(self.ward, dossier,
                                                links.get(dossier.dossier_id)).to_kafka()
            futures.append(await producer.send(intake.TOPIC, value, key=key, headers=headers))
        await asyncio.gather(*futures)

    async def play_day(self, producer: AIOKafkaProducer, day: Day) -> None:
        """One working day; half of the desk-helped dossiers reach intake before their assist."""
        # Ids derived from the seed: playing the same campaign again changes nothing.
        ids = {a.dossier_id: self._assist_id(a) for a in day.assists if a.dossier_id}
        early = [d for i, d in enumerate(day.dossiers) if not d.assisted or i % 2 == 0]
        late = [d for i, d in enumerate(day.dossiers) if d.assisted and i % 2 == 1]
        checkins = await asyncio.gather(*(self._check_in(c) for c in day.checkins))
        await self._publish(producer, early, ids)
        await asyncio.gather(*(self._log_assist(a, self._assist_id(a)) for a in day.assists))
        await self._publish(producer, late, ids)
        outs = [(c, cid) for c, cid in checkins if c.out_at is not None]
        await asyncio.gather(*(self._post(self.assist, f"/wards/{self.ward}/checkins/{cid}/checkout",
                                          {"at": c.out_at.isoformat()}) for c, cid in outs))
        totals = self.totals
        totals.checkins += len(checkins)
        totals.checkouts += len(outs)
        totals.assists += len(day.assists)
        totals.dossiers += len(day.dossiers)
        totals.dossiers_online += sum(d.channel == "online" for d in day.dossiers)
        totals.first_day = totals.first_day or day.date
        totals.last_day = day.date

    async def play(self, shifts: list[PlannedShift], on_day: Callable[[date, int], None]) -> Totals:
        self.totals.sessions = len(shifts)
        producer = AIOKafkaProducer(bootstrap_servers=self.kafka_bootstrap, acks="all",
                                    **self.kafka_security,
                                    enable_idempotence=False, linger_ms=5)
        await producer.start()
        try:
            began = time.monotonic()
            for index, day in enumerate(campaign(self.ward, shifts, seed=self.seed)):
                await self.play_day(producer, day)
                on_day(day.date, index + 1)
                if self.speed > 0:  # simulated days per real second
                    ahead = (index + 1) / self.speed - (time.monotonic() - began)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
        finally:
            await producer.stop()
        return self.totals

    async def wait_for_reporting(self, limit: float = 180) -> dict:
        """The report once reporting has applied everything the demo produced."""
        params = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        report: dict = {}

        async def caught_up() -> bool:
            nonlocal report
            response = await self.reporting.http.get(f"/wards/{self.ward}/report", params=params)
            if response.status_code != 200:
                return False
            report = response.json()
            return (report["online"]["dossiers"] == self.totals.dossiers
                    and report["assists"]["total"] == self.totals.assists)

        await self._wait(caught_up, limit, "the reporting service did not catch up in time")
        return report




