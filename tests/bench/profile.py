"""Where a service spends its time during a benchmark: py-spy attached to the real process.

    .venv/bin/python -m tests.bench.profile ingest --events 200000 [--idle]
    .venv/bin/python -m tests.bench.profile scrape --wards 3321
    .venv/bin/python -m tests.bench.profile relay --events 200000
    .venv/bin/python -m tests.bench.profile plan --wards 100

`ingest` fills a broker with the province simulation and lets one reporting process apply it;
`scrape` feeds one small day to each of N wards and scrapes /metrics and a report in a loop;
`relay` commits N rows to the assist service's outbox and lets its relay publish them;
`plan` imports N simulated wards' rosters into the roster service and plans their campaigns.
py-spy samples the service (on-CPU only; with `ingest --idle`, waiting threads too: each
thread's busy share is printed, its samples in `EpollSelector.select` counting as idle) and the
top functions by own and total on-CPU time are printed; the raw stacks are kept in tests/artifacts/bench/ for a flame graph
(`py-spy record --format speedscope` is the same with another output format). Needs py-spy
(`.venv/bin/pip install py-spy`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from cdt.demo import national
from shared import db
from shared.embedded import EmbeddedKafka, EmbeddedPostgres, _free_port
from tests.bench.conftest import CAMPAIGN, INGEST_TOPICS
from tests.bench.harness import (
    ARTIFACTS,
    PROCESSED,
    Infra,
    Services,
    connected,
    fill,
    fresh_prefix,
    operator_token,
    poll_until,
    wait_for_database,
    wait_for_table,
)


def stacks(raw: Path) -> Iterator[tuple[list[str], int]]:
    """(frames, samples) per line of py-spy's raw (collapsed) output; with `--threads`, the
    first frame names the thread."""
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            yield stack.split(";"), int(count)


def waiting(frames: list[str]) -> bool:
    """A sample of a thread waiting (only in an `--idle` profile): in a selector or a condition."""
    return frames[-1].startswith(("EpollSelector.select", "Condition.wait"))


def top(raw: Path, n: int = 35, idle: bool = False) -> str:
    """Own and total sample counts per function; of an `--idle` profile, the samples of threads
    waiting are left out (without it, py-spy's samples in `select` are CPU spent there)."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for stack, k in stacks(raw):
        if idle and waiting(stack):
            continue
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")"
                  if " (" in f else f for f in stack if not f.startswith("thread (")]
        if not frames:
            continue  # a thread with no Python frame
        samples += k
        own[frames[-1]] += k
        for frame in set(frames):
            total[frame] += k
    lines = [f"{samples} samples", "", "own %   function"]
    lines += [f"{100 * c / samples:5.1f}  {f}" for f, c in own.most_common(n)]
    lines += ["", "total % function"]
    lines += [f"{100 * c / samples:5.1f}  {f}" for f, c in total.most_common(n)]
    return "\n".join(lines)


def busy_shares(raw: Path) -> str:
    """Per thread of an `--idle --threads` profile: its samples and the share not waiting."""
    samples: collections.Counter[str] = collections.Counter()
    idle: collections.Counter[str] = collections.Counter()
    for frames, k in stacks(raw):
        samples[frames[0]] += k
        if waiting(frames):
            idle[frames[0]] += k
    return "\n".join(f"{thread}: {n} samples, busy {1 - idle[thread] / n:.0%}"
                     for thread, n in samples.most_common())


class Spy:
    def __init__(self, pid: int, out: Path, rate: int = 97, idle: bool = False) -> None:
        self.out = out
        # --idle: waiting threads are sampled too (their stacks end in the wait), so the main
        # thread's busy share is its samples outside `select`/`epoll`.
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record",
                                      "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                      "--output", str(out), "--nonblocking",
                                      *(["--idle", "--threads"] if idle else [])],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def profile_ingest(infra: Infra, events: int, clock: str, idle: bool = False) -> str:
    wards = national.ward_profiles(national.COUNTRY_WARDS)[:national.PROVINCE_WARDS]
    volume = national.Volume()
    await fill(infra.bootstrap, national.province_records(wards, *CAMPAIGN, limit=events,
                                                          volume=volume), topics=INGEST_TOPICS)
    services = Services(infra)
    try:
        service = services.start("reporting", wait=False, CDT_CLOCK=clock)
        url = db.service_database_url(infra.database_url, "reporting")
        conn = await wait_for_database(url, limit=90)
        await wait_for_table(conn, "event_counts", limit=90)
        out = ARTIFACTS / "profile-ingest.txt"
        spy = Spy(service.proc.pid, out, idle=idle)

        async def count() -> int:
            return int(await conn.fetchval(PROCESSED))

        progress = await poll_until(count, volume.events, limit=900)
        spy.stop()
        await conn.close()
        shares = busy_shares(out) + "\n" if idle else ""
        return f"{progress.rate(volume.events):,.0f} events/s\n" + shares + top(out, idle=idle)
    finally:
        services.stop_all()


async def profile_scrape(infra: Infra, wards: int, seconds: float) -> str:
    profiles = national.ward_profiles(national.COUNTRY_WARDS)[:wards]
    volume = national.Volume()
    await fill(infra.bootstrap, national.province_records(profiles, *CAMPAIGN, days=1,
                                                          volume=volume), topics=INGEST_TOPICS)
    services = Services(infra)
    try:
        service = services.start("reporting")
        url = db.service_database_url(infra.database_url, "reporting")
        async with connected(url) as conn:
            async def count() -> int:
                return int(await conn.fetchval(PROCESSED))
            await poll_until(count, volume.events, limit=900, every=0.5)
        token = await operator_token(infra)
        out = ARTIFACTS / "profile-scrape.txt"
        spy = Spy(service.proc.pid, out)
        timings: dict[str, list[float]] = {"metrics": [], "report": []}
        async with httpx.AsyncClient(base_url=service.url, timeout=30,
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            deadline = time.monotonic() + seconds
            i = 0
            while time.monotonic() < deadline:
                began = time.monotonic()
                await http.get("/metrics")
                timings["metrics"].append(time.monotonic() - began)
                began = time.monotonic()
                await http.get(f"/wards/{profiles[i % len(profiles)].ward_id}/report")
                timings["report"].append(time.monotonic() - began)
                i += 1
        spy.stop()
        summary = {k: f"max {max(v):.3f}s median {sorted(v)[len(v) // 2]:.3f}s"
                   for k, v in timings.items()}
        return f"{summary}\n" + top(out)
    finally:
        services.stop_all()


async def profile_relay(infra: Infra, events: int) -> str:

    from services.assist.app import SPEC as ASSIST
    from shared import outbox
    from shared.events import assist
    from shared.messaging import ensure_topics
    from tests.bench.test_2_outbox import province_events

    chosen = province_events(national.ward_profiles(national.COUNTRY_WARDS)[:60], events)
    url = db.service_database_url(infra.database_url, "assist")
    await db.prepare_database(url, ASSIST.migrations)
    async with connected(url) as conn, conn.transaction():
        for start in range(0, len(chosen), 5000):
            chunk = chosen[start:start + 5000]
            await outbox.add(conn, assist.TOPIC, chunk)
    await ensure_topics(infra.bootstrap, [assist.TOPIC], partitions=4)
    services = Services(infra)
    try:
        service = services.start("assist", wait=False)
        conn = await wait_for_database(url)
        out = ARTIFACTS / "profile-relay.txt"
        spy = Spy(service.proc.pid, out)

        async def sent() -> int:
            return len(chosen) - await outbox.unsent_count(conn)

        progress = await poll_until(sent, len(chosen), limit=900, every=0.5)
        spy.stop()
        await conn.close()
        return f"{progress.rate(len(chosen)):,.0f} events/s\n" + top(out)
    finally:
        services.stop_all()


async def profile_plan(infra: Infra, wards: int) -> str:
    from tests.bench.test_4_roster import gather_limited, import_and_plan, plan, wait_published

    chosen = national.ward_profiles(national.COUNTRY_WARDS)[:wards]
    files = {w.ward_id: national.roster_csv(w) for w in chosen}
    services = Services(infra)
    try:
        service = services.start("roster")
        token = await operator_token(infra)
        out = ARTIFACTS / "profile-plan.txt"
        spy = Spy(service.proc.pid, out)
        async with httpx.AsyncClient(base_url=service.url, timeout=300,
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            began = time.monotonic()
            await gather_limited([lambda w=w: import_and_plan(http, w.ward_id, files[w.ward_id])
                                  for w in chosen])
            imported = time.monotonic()
            await gather_limited([lambda w=w: plan(http, w.ward_id) for w in chosen])
            planned = time.monotonic()
        _, events = await wait_published(db.service_database_url(infra.database_url, "roster"))
        published = time.monotonic()
        spy.stop()
        return (f"import {imported - began:.1f}s, plan {planned - imported:.1f}s, published "
                f"{published - imported:.1f}s after the first plan ({events:,} events)\n"
                + top(out))
    finally:
        services.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    ingest = sub.add_parser("ingest")
    ingest.add_argument("--events", type=int, default=200_000)
    ingest.add_argument("--clock", default="watermark", choices=("wall", "watermark"))
    ingest.add_argument("--idle", action="store_true",
                        help="sample waiting threads too, per thread (each thread's busy share)")
    scrape = sub.add_parser("scrape")
    scrape.add_argument("--wards", type=int, default=national.COUNTRY_WARDS)
    scrape.add_argument("--seconds", type=float, default=30)
    relay = sub.add_parser("relay")
    relay.add_argument("--events", type=int, default=200_000)
    plan = sub.add_parser("plan")
    plan.add_argument("--wards", type=int, default=national.PROVINCE_WARDS)
    args = parser.parse_args()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="cdt-profile-"))
    server = os.environ.get("CDT_TEST_DATABASE_URL")
    pg = None if server else EmbeddedPostgres(directory / "pg", fast=True)
    infra = None
    try:
        if pg:
            pg.start()
            server = pg.url
        with EmbeddedKafka(port=_free_port()) as broker:
            infra = Infra(broker.bootstrap, fresh_prefix(server, "profile"), directory, directory)
            if args.what == "ingest":
                print(asyncio.run(profile_ingest(infra, args.events, args.clock, args.idle)))
            elif args.what == "relay":
                print(asyncio.run(profile_relay(infra, args.events)))
            elif args.what == "plan":
                print(asyncio.run(profile_plan(infra, args.wards)))
            else:
                print(asyncio.run(profile_scrape(infra, args.wards, args.seconds)))
    finally:
        if pg:
            pg.stop()
        elif server and infra is not None:
            asyncio.run(_drop(server, infra.database_url))
        shutil.rmtree(directory, ignore_errors=True)


async def _drop(server: str, prefix: str) -> None:
    """The databases made on a configured server (an embedded one is simply stopped)."""
    import asyncpg

    conn = await asyncpg.connect(db.with_database(server, "postgres"))
    try:
        for row in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                    db.database_name(prefix) + "%"):
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
