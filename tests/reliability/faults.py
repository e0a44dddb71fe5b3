"""The faults, each an `inject(result, load)` coroutine run while a segment of the load plays."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx

from tests.reliability.harness import TOPICS, ServiceProc, create_topics_directly
from tests.reliability.run import Run, ScenarioResult


async def _restart(run: Run, result: ScenarioResult, service: ServiceProc, **env: str) -> None:
    service.start(**env)
    ready = await service.wait_ready(120)
    result.ready_s.append(round(ready, 2))


def kill9(run: Run, label: str, times: int, days: int):
    """kill -9 of a service at random moments of the load; restarted as a supervisor would."""

    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        for target in run.random_targets(days, times):
            during = await run.moment(load, target)
            service = run.system.services[label]
            pid = service.pid
            service.kill()
            run.inject(result, f"kill -9 {label}", f"pid {pid}, after {target - result.events_before:,}"
                       f" records of the segment" if during else f"pid {pid}, after the load")
            await asyncio.sleep(run.rng.uniform(0.0, 2.0))
            await _restart(run, result, service)

    return inject


def failpoint(run: Run, point: str, labels: list[str], days: int):
    """A service restarted with CDT_FAILPOINTS=point dies at that exact moment (exit 137);
    it is then started without. For the roster's relay, an operator plans a month meanwhile."""

    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        for label, target in zip(labels, run.random_targets(days, len(labels), 0.05, 0.5),
                                 strict=True):
            await run.moment(load, target)
            service = run.system.services[label]
            service.kill()
            service.start(CDT_FAILPOINTS=point)
            run.inject(result, f"{label} restarted with CDT_FAILPOINTS={point}")
            writer = None
            if label == "roster" and point == "relay_after_publish":
                month = 1 + len([i for i in result.injections if "roster" in i.what])
                writer = asyncio.create_task(run.plan_planning_ward(
                    f"2026-{month:02d}-01", f"2026-{month:02d}-28"))
            code = None
            began = time.monotonic()
            while time.monotonic() - began < 90:
                code = await asyncio.to_thread(service.wait_exit, 3)
                if code is not None:
                    break
                await run.nudge()  # in case the load has ended, something to relay/consume
            if code is None:
                service.kill()
                result.notes.append(f"{label}: failpoint {point} not reached in 90 s; killed")
                run.inject(result, f"kill -9 {label}", "failpoint not reached", counts=False)
            else:
                run.inject(result, f"{label} died at {point}", f"exit {code}", counts=False)
                if code != 137:
                    result.notes.append(f"{label} exited {code} at {point}, expected 137")
            await _restart(run, result, service)
            if writer is not None:
                await writer
                await run.refresh_planning_truth()

    return inject


def sigterm(run: Run, labels: list[str], days: int):
    """SIGTERM during work: the graceful shutdown finishes or hands back the in-flight batch."""

    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        for label, target in zip(labels, run.random_targets(days, len(labels)), strict=True):
            during = await run.moment(load, target)
            service = run.system.services[label]
            began = time.monotonic()
            code = await asyncio.to_thread(service.terminate, 30)
            run.inject(result, f"SIGTERM {label}",
                       f"exit {code} after {time.monotonic() - began:.1f}s"
                       + ("" if during else ", after the load"))
            if code not in (0, -15):
                result.notes.append(f"{label} exited {code} on SIGTERM")
            await _restart(run, result, service)

    return inject


def broker_pause(run: Run, seconds: float, days: int):
    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        [target] = run.random_targets(days, 1, 0.1, 0.3)
        await run.moment(load, target)
        run.system.kafka.pause()
        run.inject(result, f"broker SIGSTOP {seconds:g}s")
        await asyncio.sleep(seconds)
        run.system.kafka.resume()
        run.inject(result, "broker SIGCONT", counts=False)

    return inject


def broker_restart(run: Run, days: int):
    """The broker killed and restarted empty; the operator re-publishes the outboxes since a
    time before the loss, and the provincial system re-sends its dossiers."""

    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        assert run.driver is not None
        since_epoch = time.time() - 1
        since = datetime.fromtimestamp(since_epoch, UTC).isoformat()
        [target] = run.random_targets(days, 1, 0.2, 0.5)
        await run.moment(load, target)
        kafka = run.system.kafka
        proxy = run.system.proxy
        assert proxy is not None
        kafka.kill()
        run.inject(result, "broker kill -9 (its data is lost)")
        # Clients wait behind the proxy while the broker comes back and its topics are created
        # again, as a cluster with automatic topic creation off needs (see docs/reliability.md:
        # the embedded broker would otherwise take writes for topics it no longer has).
        proxy.set("kafka", "blackhole")
        await asyncio.sleep(run.rng.uniform(1, 3))
        began = time.monotonic()
        await asyncio.to_thread(kafka.start)
        created = await create_topics_directly(kafka.port, TOPICS, run.system.partitions)
        proxy.set("kafka", "normal")
        result.ready_s.append(round(time.monotonic() - began, 2))
        run.inject(result, "broker restarted, empty; topics created again",
                   f"{len(created)} topics", counts=False)
        await asyncio.sleep(2)
        done = await asyncio.to_thread(run.system.republish, since, run.operator_all)
        run.inject(result, f"cdt outbox republish --since {since}",
                   " / ".join(line.strip() for line in done.stdout.splitlines() if line.strip()),
                   counts=False)
        if done.returncode != 0:
            result.notes.append(f"republish failed: {done.stdout} {done.stderr}")
        again = await run.driver.intake.resend_since(since_epoch)
        run.inject(result, f"driver re-sent {again} intake records acknowledged since the loss",
                   counts=False)
        result.notes.append(f"re-published: {done.stdout.strip()}; intake re-sent: {again}")

    return inject


def postgres_restart(run: Run, days: int):
    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        [target] = run.random_targets(days, 1, 0.1, 0.4)
        await run.moment(load, target)
        pg = run.system.pg
        await asyncio.to_thread(pg.stop)
        run.inject(result, "PostgreSQL stopped (fast shutdown)")
        await asyncio.sleep(run.rng.uniform(3, 8))
        began = time.monotonic()
        await asyncio.to_thread(pg.start)
        result.ready_s.append(round(time.monotonic() - began, 2))
        run.inject(result, "PostgreSQL started", counts=False)

    return inject


def proxy_latency(run: Run, days: int, kafka_ms: float = 100, pg_ms: float = 30):
    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        proxy = run.system.proxy
        assert proxy is not None
        proxy.set("kafka", "latency", kafka_ms)
        for name in ("pg-roster", "pg-assist", "pg-reporting"):
            proxy.set(name, "latency", pg_ms)
        run.inject(result, f"latency: broker links +{kafka_ms:g} ms, database links +{pg_ms:g} ms"
                   " each way")
        await load
        proxy.set("*", "normal")
        run.inject(result, "latency removed", counts=False)

    return inject


def proxy_cuts(run: Run, days: int, seconds: float = 8):
    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        proxy = run.system.proxy
        assert proxy is not None
        for name, target in zip(("kafka", "pg-assist", "pg-reporting"),
                                run.random_targets(days, 3, 0.05, 0.6), strict=True):
            await run.moment(load, target)
            proxy.set(name, "blackhole")
            run.inject(result, f"cut {name} for {seconds:g}s (packets dropped, then "
                       "connections lost)")
            await asyncio.sleep(seconds)
            proxy.set(name, "normal")

    return inject


def proxy_resets(run: Run, days: int, rounds: int = 3):
    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        proxy = run.system.proxy
        assert proxy is not None
        for target in run.random_targets(days, rounds):
            await run.moment(load, target)
            before = proxy.stats()
            proxy.set("*", "reset")
            run.inject(result, "RST on every broker and database connection",
                       f"{sum(p['open'] for p in before.values())} connections")
            proxy.set("*", "refuse")
            await asyncio.sleep(1.0)
            proxy.set("*", "normal")

    return inject


def rebalance(run: Run, days: int):
    """A second reporting replica (own port) joins the consumer groups early in the segment,
    shares the partitions for most of it, then leaves (SIGTERM): two rebalances under load."""

    async def inject(result: ScenarioResult, load: asyncio.Task) -> None:
        [first] = run.random_targets(days, 1, 0.0, 0.05)
        await run.moment(load, first)
        replica = run.system.services.get("reporting-2") or run.system.add_service(
            "reporting", "reporting-2")
        replica.start()
        run.inject(result, "second reporting replica started", f"port {replica.port}")
        result.ready_s.append(round(await replica.wait_ready(120), 2))
        # Both consume (the partitions shared) for a good part of what is left of the load.
        assert run.driver is not None
        second = run.driver.produced + int(run.segment_events(days) * run.rng.uniform(0.3, 0.45))
        await run.moment(load, second)
        # Both replicas export the same figures (they come from the database).
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                a = (await client.get(f"{run.system.services['reporting'].url}/metrics")).text
                b = (await client.get(f"{replica.url}/metrics")).text
            same = [line for line in a.splitlines() if line.startswith("cdt_dossiers_total")] == [
                line for line in b.splitlines() if line.startswith("cdt_dossiers_total")]
            result.notes.append("both replicas served /metrics"
                                + (" (same dossier figures at that moment)" if same else ""))
        except httpx.HTTPError as exc:
            result.notes.append(f"replica /metrics: {exc!r}")
        code = await asyncio.to_thread(replica.terminate, 30)
        batches = replica.log_tail(10_000_000).count(" - Processed")
        run.inject(result, "second reporting replica stopped (SIGTERM)",
                   f"exit {code}; it had applied {batches} batches")

    return inject
