"""One reliability run: the system, the load, the scenarios' bookkeeping and the final checks."""

from __future__ import annotations

import asyncio
import os
import platform
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.reliability import truth as T
from tests.reliability.driver import LoadDriver, WardTruth
from tests.reliability.harness import System

ROSTER_TYPES = ("team.registered", "member.registered", "member.deactivated", "shift.scheduled",
                "shift.assigned", "shift.unassigned", "shift.cancelled")
OUTBOX_COUNTS = ("SELECT event_type, count(DISTINCT event_id) AS n, "
                 "count(*) FILTER (WHERE sent_at IS NULL) AS unsent FROM outbox GROUP BY event_type")


@dataclass
class Injection:
    what: str
    at: float  # seconds since the run began
    detail: str = ""


@dataclass
class ScenarioResult:
    name: str
    fault: str
    injections: list[Injection] = field(default_factory=list)
    events_before: int = 0
    events_after: int = 0
    lost: int = 0
    double: int = 0
    mismatches: dict[str, Any] = field(default_factory=dict)
    ready_s: list[float] = field(default_factory=list)  # restarted process / broker to ready
    fault_end_to_converged_s: float | None = None
    load_end_to_converged_s: float | None = None
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    converged: bool = False
    times: int = 0  # faults injected (recovery steps not counted)

    @property
    def events(self) -> int:
        return self.events_after - self.events_before


@dataclass
class Accounting:
    """One look at the whole system: figures per ward and delivery counts, against the truth."""

    diffs: dict[str, tuple[Any, Any]]
    lost: int
    double: int
    unsent: int
    rejected: dict[str, Counter]

    @property
    def exact(self) -> bool:
        return not self.diffs and self.unsent == 0 and self.lost == 0 and self.double == 0


class Run:
    def __init__(self, artifacts: Path, *, wards: int, seed: int, quick: bool) -> None:
        self.began = time.monotonic()
        self.began_wall = time.time()
        self.artifacts = artifacts
        self.quick = quick
        self.seed = seed
        self.rng = random.Random(seed)
        self.system = System(artifacts)
        self.ward_names = [f"rel-ward-{i + 1}" for i in range(wards)]
        self.planning_ward = "rel-planning"
        self.planning = WardTruth(self.planning_ward)
        self.driver: LoadDriver | None = None
        self.results: list[ScenarioResult] = []
        self.fuzz: dict[str, Any] = {}
        self.security: dict[str, Any] = {}
        self.pii: dict[str, Any] = {}
        self.phases: dict[str, float] = {}
        self.days_total = 0
        self.failures: list[str] = []
        self.verdicts: dict[str, bool] = {}  # phase -> passed (fuzz, security, personal data)
        self.operator_all = ""
        self.last_applied: dict[tuple[str, str], tuple[int, int]] = {}
        self.extra_truths: list[WardTruth] = []  # wards checked but not in the delivery counts
        self.settings: dict[str, Any] = {}

    def now(self) -> float:
        return time.monotonic() - self.began

    # -- set-up ---------------------------------------------------------------------------
    async def start(self) -> None:
        t0 = time.monotonic()
        await asyncio.to_thread(self.system.start_infrastructure)
        await self.system.start_services()
        self.operator_all = await self.system.create_token("*", "operator")
        urls = {n: self.system.services[n].url for n in ("roster", "assist", "reporting")}
        self.driver = LoadDriver(urls, self.operator_all, self.system.kafka.bootstrap,
                                 self.ward_names, seed=self.seed)
        await self.driver.prepare()
        await self._prepare_planning_ward()
        self.days_total = self.driver.total_days()
        self.phases["set-up"] = time.monotonic() - t0

    async def _prepare_planning_ward(self) -> None:
        from tests.reliability.driver import roster_csv

        assert self.driver is not None
        content, phones = roster_csv(99, self.seed + 99)
        self.planning.phones = phones
        await self.driver.apis["roster"].call(
            "POST", f"/wards/{self.planning_ward}/roster/import",
            params={"filename": "planning.csv"}, content=content,
            headers={"content-type": "text/csv"})
        await self.plan_planning_ward("2026-01-05", "2026-01-30")
        await self.refresh_planning_truth()

    async def nudge(self) -> None:
        """One more dossier of the planning ward, an hour later in its data than the last: it
        flows through every consumer and relay (and, as the ward's clock passes its sessions,
        makes reporting publish alerts), so that a failpoint is reached even between loads."""
        from datetime import datetime, timedelta
        from zoneinfo import ZoneInfo

        from cdt.demo.driver import _intake_event
        from cdt.demo.scenario import Dossier

        assert self.driver is not None
        n = len(self.planning.dossiers)
        at = datetime(2026, 1, 5, 7, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=n)
        dossier = Dossier(f"NUDGE-{n:05d}", "1.001193", "civil_status", "in_person", at, True,
                          False, False, None, False)
        await self.driver.intake.send([_intake_event(self.planning_ward, dossier, None).to_kafka()])
        self.planning.dossiers[dossier.dossier_id] = dossier

    async def plan_planning_ward(self, start: str, end: str) -> None:
        """An operator plans another month of the planning ward (roster writes under faults)."""

        assert self.driver is not None
        await self.driver.apis["roster"].call(
            "POST", f"/wards/{self.planning_ward}/plan", json={"from": start, "to": end})

    async def refresh_planning_truth(self) -> None:
        from cdt.demo.driver import _shift

        assert self.driver is not None
        body = (await self.driver.apis["roster"].call(
            "GET", f"/wards/{self.planning_ward}/shifts")).json()
        for raw in body:
            shift = _shift(raw)
            self.planning.shifts[shift.shift_id] = shift
            self.planning.min_staff[shift.shift_id] = int(raw["min_staff"])
            if raw["status"] == "cancelled":
                self.planning.cancelled.add(shift.shift_id)

    def truths(self) -> list[WardTruth]:
        assert self.driver is not None
        wards = [w.truth for w in self.driver.wards]
        return wards + ([self.planning] if self.planning.shifts else []) + self.extra_truths

    # -- looking at the system ---------------------------------------------------------------
    async def metrics(self, label: str = "reporting") -> dict[str, list]:
        async with httpx.AsyncClient(timeout=20) as client:
            response = await client.get(f"{self.system.services[label].url}/metrics")
            response.raise_for_status()
            return T.parse_metrics(response.text)

    async def report(self, ward: str, label: str = "reporting") -> dict:
        async with httpx.AsyncClient(timeout=30, headers={
                "Authorization": f"Bearer {self.operator_all}"}) as client:
            response = await client.get(f"{self.system.services[label].url}/wards/{ward}/report")
            response.raise_for_status()
            return response.json()

    async def account(self, *, delivery: bool = True) -> Accounting:
        """Figures of every ward and the delivery counts, against the truth."""
        diffs: dict[str, tuple[Any, Any]] = {}
        samples = {name: await self.metrics(name) for name in ("reporting", "assist", "roster")}
        lost = double = 0
        for truth in self.truths():
            want = T.expected(truth)
            got = T.from_report(await self.report(truth.ward))
            got |= T.from_metrics(samples["reporting"], truth.ward)
            for key, pair in T.compare(want, got).items():
                diffs[f"{truth.ward}:{key}"] = pair
            for key in ("report.online.dossiers", "report.assists.total",
                        "report.volunteers.member_sessions"):
                w, g = want.get(key) or 0, got.get(key) or 0
                lost += max(0, w - g)
                double += max(0, g - w)
        unsent = 0
        outboxes = {}
        for service in ("roster", "assist", "reporting"):
            rows = await self.system.fetch(service, OUTBOX_COUNTS)
            outboxes[service] = {r["event_type"]: r["n"] for r in rows}
            unsent += sum(r["unsent"] for r in rows)
        rejected = {s: T.rejected(samples[s], s) for s in samples}
        if delivery:
            expect = self.expected_applied(outboxes["roster"])
            self.last_applied = {}
            for (service, event_type), n in expect.items():
                have = T.processed(samples[service], service).get(event_type, 0)
                self.last_applied[(service, event_type)] = (n, have)
                if have != n:
                    diffs[f"applied:{service}:{event_type}"] = (n, have)
                    lost += max(0, n - have)
                    double += max(0, have - n)
            produced = outboxes["assist"]
            for event_type in self._assist_types():
                n = expect[("reporting", event_type)]
                have = produced.get(event_type, 0)
                if have != n:
                    diffs[f"produced:assist:{event_type}"] = (n, have)
                    lost += max(0, n - have)
                    double += max(0, have - n)
        return Accounting(diffs, lost, double, unsent, rejected)

    async def _intake_on_topic(self) -> dict:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer("cdt.intake.dossiers", bootstrap_servers=self.system.kafka.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        where: dict = {}
        offsets: dict = {}
        try:
            idle = 0
            while idle < 3:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                idle = 0 if batch else idle + 1
                for tp, records in batch.items():
                    for r in records:
                        offsets.setdefault(tp.partition, []).append(r.offset)
                        subject = dict(r.headers).get("ce_subject", b"").decode()
                        where.setdefault((r.key.decode() if r.key else "",
                                          subject.removeprefix("dossier/")), []).append(
                            (tp.partition, r.offset))
        finally:
            await consumer.stop()
        return {"where": where, "offsets": offsets}

    async def _committed(self, group: str) -> dict:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.system.kafka.bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
            return {f"{tp.topic}[{tp.partition}]": meta.offset for tp, meta in offsets.items()}
        except Exception as exc:  # noqa: BLE001
            return {"error": repr(exc)}
        finally:
            await admin.close()

    @staticmethod
    def _assist_types() -> list[str]:
        return [f"vn.cdt.assist.{t}.v1" for t in ("desk.checked_in", "desk.checked_out",
                                                  "assist.completed", "dossier.received")]

    def expected_applied(self, roster_outbox: dict[str, int]) -> dict[tuple[str, str], int]:
        """Events each consumer must have applied exactly once."""
        wards = [w.truth for w in self.driver.wards] + [self.planning]  # type: ignore[union-attr]
        checkins = sum(len(w.checkins) for w in wards)
        checkouts = sum(T.expected_checkouts(w) for w in wards)
        assists = sum(len(w.assists) for w in wards)
        dossiers = sum(len(w.dossiers) for w in wards)
        a = "vn.cdt.assist."
        expect = {
            ("reporting", a + "desk.checked_in.v1"): checkins,
            ("reporting", a + "desk.checked_out.v1"): checkouts,
            ("reporting", a + "assist.completed.v1"): assists,
            ("reporting", a + "dossier.received.v1"): dossiers,
            ("assist", "vn.cdt.intake.dossier.received.v1"): dossiers,
            ("roster", a + "desk.checked_in.v1"): checkins,
        }
        for event_type, n in roster_outbox.items():
            expect[("reporting", event_type)] = n
            expect[("assist", event_type)] = n
        return expect

    async def converge(self, timeout: float, *, delivery: bool = True) -> tuple[Accounting, float]:
        """Wait until every figure equals the truth (or the timeout); returns the last look."""
        began = time.monotonic()
        last: Accounting | None = None
        while True:
            try:
                last = await self.account(delivery=delivery)
                if last.exact:
                    return last, time.monotonic() - began
            except (httpx.HTTPError, OSError) as exc:
                if time.monotonic() - began > timeout:
                    raise AssertionError(f"the system did not answer: {exc!r}") from None
            if time.monotonic() - began > timeout:
                assert last is not None
                return last, time.monotonic() - began
            await asyncio.sleep(1.0)

    # -- scenarios -----------------------------------------------------------------------------
    async def scenario(self, name: str, fault: str, days: int,
                       inject: Callable[[ScenarioResult, asyncio.Task], Awaitable[None]] | None,
                       *, converge_timeout: float = 240) -> ScenarioResult:
        """Play `days` campaign days of every ward while `inject` hurts the system; then wait
        for the figures to equal the truth and record what it took."""
        assert self.driver is not None
        result = ScenarioResult(name, fault, events_before=self.driver.produced)
        t0 = time.monotonic()
        load = asyncio.create_task(self.driver.play(days), name=f"load-{name}")
        fault_end = None
        try:
            if inject is not None:
                await inject(result, load)
                fault_end = time.monotonic()
            await load
        except BaseException:
            load.cancel()
            raise
        load_end = time.monotonic()
        if self.driver.wards[0].days is not None and all(
                w.days_played >= self.days_total for w in self.driver.wards):
            await self.driver.close_campaign()
        converge_timeout = float(os.environ.get("RELIABILITY_CONVERGE_TIMEOUT", converge_timeout))
        accounting, waited = await self.converge(converge_timeout)
        converged_at = time.monotonic()
        result.events_after = self.driver.produced
        result.lost, result.double = accounting.lost, accounting.double
        result.mismatches = {k: list(v) for k, v in list(accounting.diffs.items())[:40]}
        if accounting.unsent:
            result.notes.append(f"{accounting.unsent} events still in outboxes")
        result.converged = accounting.exact
        result.load_end_to_converged_s = converged_at - load_end
        if fault_end is not None:
            result.fault_end_to_converged_s = converged_at - fault_end
        result.duration_s = time.monotonic() - t0
        if not accounting.exact:
            try:
                diagnosis = await self.diagnose(name)
                result.notes.append("diagnosis: " + "; ".join(
                    f"{w}: " + ", ".join(f"{k} {v}" for k, v in d.items()
                                         if not k.startswith("examples") and v)
                    for w, d in diagnosis.items()))
            except Exception as exc:  # noqa: BLE001 - diagnosis is best effort
                result.notes.append(f"diagnosis failed: {exc!r}")
        for service, reasons in accounting.rejected.items():
            if reasons:
                result.notes.append(f"dead letters by {service}: {dict(reasons)}")
        self.results.append(result)
        return result

    def inject(self, result: ScenarioResult, what: str, detail: str = "", *,
               counts: bool = True) -> None:
        """Record a fault injected (or, counts=False, a step of its recovery)."""
        result.injections.append(Injection(what, self.now(), detail))
        result.times += counts
        self.log(f"  [{self.now():7.1f}s] {result.name}: {what} {detail}")

    def log(self, line: str) -> None:
        print(line, flush=True)
        with open(self.artifacts / "progress.log", "a") as out:
            out.write(line + "\n")

    async def diagnose(self, name: str) -> dict:
        """Where the records that are missing (or extra) got stuck: assist, or reporting."""
        import json

        found: dict[str, Any] = {}
        assist = {(r["ward_id"], r["dossier_id"]) for r in await self.system.fetch(
            "assist", "SELECT ward_id, dossier_id FROM dossiers")}
        reporting = {(r["ward_id"], r["dossier_id"]) for r in await self.system.fetch(
            "reporting", "SELECT ward_id, dossier_id FROM rp_dossiers")}
        assists_a = {(r["ward_id"], r["assist_id"]) for r in await self.system.fetch(
            "assist", "SELECT ward_id, assist_id FROM assists")}
        assists_r = {(r["ward_id"], r["assist_id"]) for r in await self.system.fetch(
            "reporting", "SELECT ward_id, assist_id FROM rp_assists")}
        published = {}
        for p in self.driver.intake.published:  # type: ignore[union-attr]
            headers = dict(p.headers)
            subject = headers.get("ce_subject", b"").decode()
            published.setdefault((p.key.decode(), subject.removeprefix("dossier/")), []).append(
                round(p.acked_at - self.began_wall, 1))
        on_topic = await self._intake_on_topic()
        found["intake topic"] = {str(p): [min(o), max(o), len(o)] for p, o in
                                 on_topic["offsets"].items() if o}
        found["committed"] = await self._committed("cdt-assist")
        for truth in self.truths():
            want = {(truth.ward, d) for d in truth.dossiers}
            not_in_assist = sorted(want - assist)
            found.setdefault("missing at assist, on the topic at", {})[truth.ward] = [
                on_topic["where"].get(k) for k in not_in_assist[:30]]
            not_in_reporting = sorted((want & assist) - reporting)
            found[truth.ward] = {
                "dossiers missing at assist": len(not_in_assist),
                "dossiers at assist missing at reporting": len(not_in_reporting),
                "extra dossiers at reporting": len({k for k in reporting if k[0] == truth.ward}
                                                    - want),
                "assists missing at assist": len({(truth.ward, a) for a in truth.assists}
                                                 - assists_a),
                "assists missing at reporting": len({(truth.ward, a) for a in truth.assists}
                                                    - assists_r),
                "examples missing at assist": [(d, published.get(k, [])) for k in
                                               not_in_assist[:15] for d in [k[1]]],
                "examples missing at reporting": [k[1] for k in not_in_reporting[:15]],
            }
        path = self.artifacts / f"diagnosis-{name.replace(' ', '_')}.json"
        path.write_text(json.dumps(found, indent=1, default=str))
        return found

    def segment_events(self, days: int) -> int:
        """Expected records of a segment, from the pace so far (for random moments)."""
        assert self.driver is not None
        played = max(1, self.driver.wards[0].days_played)
        per_day = self.driver.produced / played if self.driver.produced else 110 * len(
            self.ward_names)
        return int(per_day * days)

    async def moment(self, load: asyncio.Task, target: int) -> bool:
        """Wait until the driver has produced `target` records (or the load ended)."""
        assert self.driver is not None
        waiter = asyncio.create_task(self.driver.reached(target))
        done, _ = await asyncio.wait({waiter, load}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            return False
        return True

    def random_targets(self, days: int, count: int, low: float = 0.05,
                       high: float = 0.8) -> list[int]:
        assert self.driver is not None
        span = self.segment_events(days)
        start = self.driver.produced
        return sorted(start + int(span * self.rng.uniform(low, high)) for _ in range(count))

    def machine(self) -> dict[str, str]:
        info = {"python": platform.python_version(), "platform": platform.platform(),
                "cpus": str(os.cpu_count())}
        try:
            model = next(line.split(":", 1)[1].strip() for line in
                         Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name"))
            info["cpu"] = model
        except (OSError, StopIteration):
            pass
        try:
            mem = next(line for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal"))
            info["memory"] = f"{int(mem.split()[1]) // 1024 // 1024} GiB"
        except (OSError, StopIteration):
            pass
        try:
            info["load average at the end"] = " ".join(
                Path("/proc/loadavg").read_text().split()[:3])
        except OSError:
            pass
        return info

    async def stop(self) -> None:
        if self.driver is not None:
            await self.driver.close()
        await asyncio.to_thread(self.system.stop)
