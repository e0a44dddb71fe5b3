"""The load: several wards' campaigns played through the public interfaces, recording the truth.

Built from the demo's pieces (`cdt.demo.scenario.campaign`, `cdt.demo.driver._intake_event`,
`_shift`): roster files and plans over the roster API, check-ins, assists and check-outs over the
assist API, dossiers on the intake topic as the provincial system sends them.

A client that meets an injected fault behaves like a real one: an HTTP request that failed
(connection refused or reset, timeout, 5xx) is sent again, unchanged, with the same
idempotency key (the assist_id is the client's; a check-in is idempotent by session and member,
a check-out by check-in); an intake record whose send failed is sent again with the same
`ce_id`. The truth is what the system accepted: each record once, however often it was sent.

Per ward and session the driver keeps the order a desk has (check-ins, then assists, then
check-outs in time order) so that the ward's data clock (`CDT_CLOCK=watermark`) never passes a
session's end before its check-outs are in: the figures are then a pure function of the truth.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from cdt.demo.driver import _intake_event, _shift
from cdt.demo.scenario import Assist, CheckIn, Day, Dossier, PlannedShift, campaign
from services.roster.reference import CAMPAIGN_END, CAMPAIGN_START, HEADERS, reference_roster
from shared.events import intake

RETRYABLE_STATUS = {500, 502, 503, 504}


class DriverError(AssertionError):
    """The system refused something valid, or never accepted it in time."""


def planted_phone(ward_index: int, member_index: int) -> str:
    """A distinctive phone number planted in the roster file: it must stay in the roster DB."""
    return f"0369{ward_index:02d}{member_index:04d}"


def roster_csv(ward_index: int, seed: int) -> tuple[bytes, list[str]]:
    """The reference roster (names vary by seed) with planted phones; returns (file, phones)."""
    rows = reference_roster(seed)
    phones = []
    for i, row in enumerate(rows):
        row["phone"] = planted_phone(ward_index, i)
        phones.append(row["phone"])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig"), phones


@dataclass
class CheckInTruth:
    shift_id: str
    member_id: str
    at: datetime
    out_at: datetime | None  # as the driver will send it (None: forgotten)
    checkin_id: str | None = None
    out_recorded: datetime | None = None  # the check-out accepted (by the driver's request)


@dataclass
class WardTruth:
    """Everything one ward's driver got accepted."""

    ward: str
    shifts: dict[str, PlannedShift] = field(default_factory=dict)
    min_staff: dict[str, int] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    checkins: dict[tuple[str, str], CheckInTruth] = field(default_factory=dict)
    assists: dict[str, Assist] = field(default_factory=dict)
    dossiers: dict[str, Dossier] = field(default_factory=dict)
    phones: list[str] = field(default_factory=list)

    def watermark(self) -> datetime | None:
        """The ward's data clock: the latest time in what it accepted."""
        times = [c.at for c in self.checkins.values()]
        times += [c.out_recorded for c in self.checkins.values() if c.out_recorded]
        times += [a.ended_at for a in self.assists.values()]
        times += [d.received_at for d in self.dossiers.values()]
        return max(times, default=None)


@dataclass
class Counts:
    """What the driver sent, including what it had to send again."""

    http_requests: int = 0
    http_retries: Counter = field(default_factory=Counter)
    intake_sends: int = 0
    intake_resends: int = 0
    intake_failed_sends: int = 0


@dataclass
class Published:
    """An intake record acknowledged by the broker, kept for a re-send after data loss."""

    acked_at: float  # time.time()
    key: bytes
    value: bytes
    headers: list


class Api:
    """One service over HTTP, retrying what an injected fault broke, never what it refused."""

    def __init__(self, base: str, token: str, counts: Counts, *, deadline: float = 240) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(20, connect=5),
                                      headers={"Authorization": f"Bearer {token}"},
                                      limits=httpx.Limits(max_connections=32))
        self.counts = counts
        self.deadline = deadline

    async def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201),
                   **kwargs) -> httpx.Response:
        began = time.monotonic()
        backoff = 0.2
        while True:
            self.counts.http_requests += 1
            reason = None
            try:
                response = await self.http.request(method, path, **kwargs)
                if response.status_code in expect:
                    return response
                if response.status_code not in RETRYABLE_STATUS:
                    raise DriverError(f"{method} {path} refused: HTTP {response.status_code} "
                                      f"{response.text[:300]}")
                reason = f"http_{response.status_code}"
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            self.counts.http_retries[reason] += 1
            if time.monotonic() - began > self.deadline:
                raise DriverError(f"{method} {path}: still failing after {self.deadline}s "
                                  f"({reason})")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def close(self) -> None:
        await self.http.aclose()


class IntakePublisher:
    """The provincial dossier system: sends each record until the broker acknowledged it."""

    def __init__(self, bootstrap: str, counts: Counts, *, deadline: float = 300) -> None:
        self.bootstrap = bootstrap
        self.counts = counts
        self.deadline = deadline
        self.producer: AIOKafkaProducer | None = None
        self.published: list[Published] = []
        self._lock = asyncio.Lock()

    async def _producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self.producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                            enable_idempotence=False, linger_ms=5,
                                            request_timeout_ms=15000, retry_backoff_ms=200,
                                            metadata_max_age_ms=5000)
                await producer.start()
                self.producer = producer
            return self.producer

    async def _reset(self) -> None:
        async with self._lock:
            producer, self.producer = self.producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 10)
            except Exception:  # noqa: BLE001 - a broken producer is replaced
                pass

    async def send(self, records: list[tuple[bytes, bytes, list]], *, resend: bool = False) -> None:
        pending = list(records)
        began = time.monotonic()
        while pending:
            failed = []
            try:
                producer = await self._producer()
                futures = []
                for key, value, headers in pending:
                    self.counts.intake_sends += 1
                    if resend:
                        self.counts.intake_resends += 1
                    futures.append(await producer.send(intake.TOPIC, value, key=key,
                                                       headers=headers))
                results = await asyncio.gather(*futures, return_exceptions=True)
            except (TimeoutError, KafkaError, OSError) as exc:
                results = [exc] * len(pending)
            for record, result in zip(pending, results, strict=False):
                if isinstance(result, MessageSizeTooLargeError):
                    raise DriverError(f"an intake record of {len(record[1])} bytes is too large")
                if isinstance(result, BaseException):
                    failed.append(record)
                else:
                    self.published.append(Published(time.time(), *record))
            if len(results) < len(pending):
                failed += pending[len(results):]
            if failed:
                self.counts.intake_failed_sends += len(failed)
                self.counts.intake_resends += len(failed)
                if time.monotonic() - began > self.deadline:
                    raise DriverError(f"{len(failed)} intake records not acknowledged in "
                                      f"{self.deadline}s")
                await asyncio.sleep(1.0)
                if any(isinstance(r, KafkaError | OSError) for r in results):
                    await self._reset()
            pending = failed

    async def resend_since(self, since: float) -> int:
        """Send again what the broker acknowledged since a time (it lost it)."""
        again = [(p.key, p.value, p.headers) for p in self.published if p.acked_at >= since]
        await self.send(again, resend=True)
        return len(again)

    async def close(self) -> None:
        await self._reset()


class WardDriver:
    """One ward: roster, plan, then its campaign day by day."""

    def __init__(self, index: int, ward: str, load: LoadDriver, *, seed: int) -> None:
        self.index = index
        self.ward = ward
        self.load = load
        self.seed = seed
        self.truth = WardTruth(ward)
        self.days: Iterator[Day] | None = None
        self.days_played = 0
        self.last_day: date | None = None

    @property
    def apis(self) -> dict[str, Api]:
        return self.load.apis

    async def prepare(self, start: date, end: date) -> None:
        content, phones = roster_csv(self.index, self.seed)
        self.truth.phones = phones
        await self.apis["roster"].call("POST", f"/wards/{self.ward}/roster/import",
                                       params={"filename": f"{self.ward}.csv"}, content=content,
                                       headers={"content-type": "text/csv"})
        await self.apis["roster"].call("POST", f"/wards/{self.ward}/plan",
                                       json={"from": start.isoformat(), "to": end.isoformat()})
        body = (await self.apis["roster"].call("GET", f"/wards/{self.ward}/shifts", params={
            "from": start.isoformat(), "to": end.isoformat()})).json()
        shifts = [_shift(s) for s in body]
        for raw, shift in zip(body, shifts, strict=True):
            self.truth.shifts[shift.shift_id] = shift
            self.truth.min_staff[shift.shift_id] = int(raw["min_staff"])
            if raw["status"] == "cancelled":
                self.truth.cancelled.add(shift.shift_id)
        playable = [s for s in shifts if s.shift_id not in self.truth.cancelled]
        self.days = iter(campaign(self.ward, playable, seed=self.seed))

    async def assist_knows_plan(self) -> bool:
        last = max(self.truth.shifts.values(), key=lambda s: s.starts_at)
        response = await self.apis["assist"].http.get(
            f"/wards/{self.ward}/sessions/{last.shift_id}/checkins")
        return response.status_code == 200

    def assist_id(self, assist: Assist) -> str:
        name = f"{self.ward}:{self.seed}:{assist.shift_id}:{assist.started_at.isoformat()}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))

    async def _check_in(self, c: CheckIn) -> None:
        truth = CheckInTruth(c.shift_id, c.member_id, c.at, c.out_at)
        async with self.load.slots:
            body = (await self.apis["assist"].call("POST", f"/wards/{self.ward}/checkins", json={
                "member_id": c.member_id, "shift_id": c.shift_id, "at": c.at.isoformat()})).json()
        truth.checkin_id = body["checkin_id"]
        self.truth.checkins[(c.shift_id, c.member_id)] = truth
        self.load.tick()

    async def _check_out(self, truth: CheckInTruth) -> None:
        assert truth.out_at is not None
        shift = self.truth.shifts[truth.shift_id]
        async with self.load.slots:
            await self.apis["assist"].call(
                "POST", f"/wards/{self.ward}/checkins/{truth.checkin_id}/checkout",
                json={"at": truth.out_at.isoformat()})
        # The rule: a check-out after the session's end is recorded at the end.
        truth.out_recorded = (truth.out_at if truth.out_at <= shift.ends_at
                              else max(shift.ends_at, truth.at))
        self.load.tick()

    async def _log_assist(self, a: Assist) -> None:
        assist_id = self.assist_id(a)
        async with self.load.slots:
            await self.apis["assist"].call("POST", f"/wards/{self.ward}/assists", json={
                "assist_id": assist_id, "member_ids": list(a.member_ids), "venue": a.venue,
                "shift_id": a.shift_id, "procedure_code": a.procedure_code, "field": a.field,
                "actions": list(a.actions), "outcome": a.outcome, "reason": a.reason,
                "dossier_id": a.dossier_id, "started_at": a.started_at.isoformat(),
                "ended_at": a.ended_at.isoformat(), "satisfaction": a.satisfaction,
                "vneid_level": a.vneid_level, "citizen_age_band": a.citizen_age_band,
                "citizen_vulnerable": a.citizen_vulnerable})
        self.truth.assists[assist_id] = a
        self.load.tick()

    async def publish(self, dossiers: list[Dossier], links: dict[str, str]) -> None:
        if not dossiers:
            return
        records = [_intake_event(self.ward, d, links.get(d.dossier_id)).to_kafka()
                   for d in dossiers]
        await self.load.intake.send(records)
        for d in dossiers:
            self.truth.dossiers[d.dossier_id] = d
        self.load.tick(len(dossiers))

    async def play_day(self, day: Day) -> None:
        """Session by session, as the desk lives it; walk-in dossiers at the end of the day."""
        links = {a.dossier_id: self.assist_id(a) for a in day.assists if a.dossier_id}
        helped = {d.dossier_id: d for d in day.dossiers if d.assisted}
        by_shift: dict[str, list[Assist]] = {}
        for a in day.assists:
            by_shift.setdefault(a.shift_id or "", []).append(a)
        shifts = sorted({c.shift_id for c in day.checkins} | set(by_shift) - {""},
                        key=lambda s: self.truth.shifts[s].starts_at)
        for shift_id in shifts:
            shift = self.truth.shifts[shift_id]
            await asyncio.gather(*(self._check_in(c) for c in day.checkins
                                   if c.shift_id == shift_id))
            assists = by_shift.get(shift_id, [])
            mine = [helped[a.dossier_id] for a in assists if a.dossier_id in helped]
            early = [d for i, d in enumerate(mine) if i % 2 == 0]  # reach intake before the assist
            late = [d for i, d in enumerate(mine) if i % 2 == 1]
            await self.publish(early, links)
            await asyncio.gather(*(self._log_assist(a) for a in assists))
            await self.publish(late, links)
            outs = [t for (s, _), t in self.truth.checkins.items()
                    if s == shift_id and t.out_at is not None and t.out_recorded is None]
            before = [t for t in outs if t.out_at < shift.ends_at]
            after = [t for t in outs if t.out_at >= shift.ends_at]
            await asyncio.gather(*(self._check_out(t) for t in before))
            await asyncio.gather(*(self._check_out(t) for t in after))
        await self.publish([d for d in day.dossiers if not d.assisted], links)
        self.days_played += 1
        self.last_day = day.date

    async def play(self, days: int) -> int:
        assert self.days is not None
        played = 0
        for _ in range(days):
            day = next(self.days, None)
            if day is None:
                break
            await self.play_day(day)
            played += 1
        return played

    async def close_campaign(self) -> None:
        """A last dossier the morning after the campaign: the ward's clock passes every session."""
        assert self.last_day is not None
        last = max(self.truth.shifts.values(), key=lambda s: s.ends_at)
        at = last.ends_at + timedelta(hours=15)
        closing = Dossier(f"CLOSE-{self.ward}", "1.001193", "civil_status", "online", at, True,
                          True, False, None, False)
        await self.publish([closing], {})


class LoadDriver:
    """All wards, over shared HTTP clients and one intake producer."""

    def __init__(self, urls: dict[str, str], token: str, bootstrap: str, wards: list[str], *,
                 seed: int = 2025, concurrency: int = 24) -> None:
        self.counts = Counts()
        self.apis = {name: Api(url, token, self.counts) for name, url in urls.items()}
        self.intake = IntakePublisher(bootstrap, self.counts)
        self.wards = [WardDriver(i + 1, w, self, seed=seed + i) for i, w in enumerate(wards)]
        self.slots = asyncio.Semaphore(concurrency)
        self.produced = 0  # accepted records, for "a random moment during the load"
        self._progress = asyncio.Event()
        self.rng = random.Random(seed)

    def tick(self, n: int = 1) -> None:
        self.produced += n
        self._progress.set()

    async def reached(self, count: int) -> None:
        while self.produced < count:
            self._progress.clear()
            await self._progress.wait()

    async def prepare(self, start: date = CAMPAIGN_START, end: date = CAMPAIGN_END,
                      timeout: float = 120) -> None:
        await asyncio.gather(*(w.prepare(start, end) for w in self.wards))
        deadline = time.monotonic() + timeout
        for w in self.wards:
            while not await w.assist_knows_plan():
                if time.monotonic() > deadline:
                    raise DriverError(f"assist never learnt the plan of {w.ward}")
                await asyncio.sleep(0.5)

    def total_days(self) -> int:
        return max(len({s.date for s in w.truth.shifts.values()}) for w in self.wards)

    async def play(self, days: int) -> None:
        await asyncio.gather(*(w.play(days) for w in self.wards))

    async def close_campaign(self) -> None:
        await asyncio.gather(*(w.close_campaign() for w in self.wards))

    def events(self) -> dict[str, int]:
        """What the driver got accepted, by kind."""
        totals: Counter = Counter()
        for w in self.wards:
            totals["intake dossiers"] += len(w.truth.dossiers)
            totals["assists"] += len(w.truth.assists)
            totals["check-ins"] += len(w.truth.checkins)
            totals["check-outs"] += sum(1 for c in w.truth.checkins.values() if c.out_recorded)
        return dict(totals)

    async def close(self) -> None:
        for api in self.apis.values():
            await api.close()
        await self.intake.close()
