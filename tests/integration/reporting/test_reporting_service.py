"""The reporting service as a real process on the real broker and PostgreSQL: a simulated week of a
ward gives exactly the figures computed from its events, through a SIGKILL and a rebuild."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from shared import db
from shared.auth import create_token
from shared.events import Event
from shared.events import reporting as reporting_events
from tests.conftest import ROOT, TOKEN_SECRET
from tests.integration.reporting.simulation import TZ, expected_figures, simulate_week

pytestmark = pytest.mark.integration
MONDAY = date(2025, 10, 6)
ALLOWED_LABELS = {"ward", "channel", "field", "venue", "outcome", "status", "le"}


async def publish(bootstrap: str, events: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False,
                                linger_ms=5)
    await producer.start()
    try:
        futures = []
        for event in events:
            key, value, headers = event.to_kafka()
            topic = "cdt.roster.events" if ".roster." in event.type else "cdt.assist.events"
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_alerts(bootstrap: str, ward: str) -> list[tuple[str, str, dict]]:
    """(type, id, data) of the ward's events on cdt.reporting.events, every copy."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(reporting_events.TOPIC, p)
               for p in consumer.partitions_for_topic(reporting_events.TOPIC) or ()]
        if not tps:
            await consumer.topics()
            tps = [TopicPartition(reporting_events.TOPIC, p)
                   for p in consumer.partitions_for_topic(reporting_events.TOPIC) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found, idle = [], 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=300)
            if not batch:
                positions = [await consumer.position(tp) for tp in tps]
                if all(consumer.highwater(tp) is not None and pos >= consumer.highwater(tp)
                       for tp, pos in zip(tps, positions, strict=True)):
                    idle += 1
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    if headers.get("ce_wardid") == ward:
                        found.append((headers["ce_type"], headers["ce_id"], json.loads(record.value)))
        return found
    finally:
        await consumer.stop()


def scrape(url: str) -> tuple[str, dict[tuple, float]]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def ward_metrics(samples: dict, ward: str) -> dict[tuple, float]:
    return {(name, tuple(kv for kv in labels if kv[0] != "ward")): value
            for (name, labels), value in samples.items()
            if name.startswith("cdt_") and ("ward", ward) in labels}


def expected_metrics(expected: dict) -> dict[tuple, float]:
    m: dict[tuple, float] = {}
    for (channel, field), n in expected["dossiers"].items():
        m[("cdt_dossiers_total", (("channel", channel), ("field", field)))] = n
    m[("cdt_online_dossier_ratio", ())] = expected["online_ratio"]
    m[("cdt_fully_online_dossier_ratio", ())] = expected["fully_online_ratio"]
    m[("cdt_online_dossier_target_ratio", ())] = 0.8
    for (venue, outcome), n in expected["assists"].items():
        m[("cdt_assists_total", (("outcome", outcome), ("venue", venue)))] = n
    cumulative = 0
    for le in (60.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, float("inf")):
        cumulative += expected["buckets"].get(le, 0)
        label = "+Inf" if le == float("inf") else repr(le)
        m[("cdt_assist_duration_seconds_bucket", (("le", label),))] = cumulative
    m[("cdt_assist_duration_seconds_count", ())] = expected["assists_total"]
    m[("cdt_assist_duration_seconds_sum", ())] = expected["duration_sum"]
    for status in ("scheduled", "staffed", "understaffed", "cancelled"):
        m[("cdt_shifts_total", (("status", status),))] = expected["shifts"][status]
    m[("cdt_volunteer_seconds_total", ())] = expected["volunteer_seconds"]
    m[("cdt_citizen_satisfaction_ratio", ())] = expected["satisfaction_ratio"]
    return m


def processed(samples: dict) -> Counter:
    """cdt_events_processed_total of the service, by event type."""
    return Counter({dict(labels)["type"]: value for (name, labels), value in samples.items()
                    if name == "cdt_events_processed_total"})


def wait_for(check, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is True:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {result}")
        time.sleep(0.3)


def cdt(*args: str, token: str, url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    env.update({"CDT_REPORTING_URL": url, "CDT_TOKEN": token, "PYTHONPATH": str(ROOT),
                "COLUMNS": "200"})
    return subprocess.run([sys.executable, "-m", "cdt", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


async def outbox_alerts(conn: asyncpg.Connection) -> Counter:
    """The event ids in the service's outbox, each with what it announces (for the failure)."""
    rows = await conn.fetch("SELECT event_id, event_type, value FROM outbox")
    described = {}
    for r in rows:
        data = json.loads(r["value"])
        described[r["event_id"]] = (r["event_type"].split(".", 3)[-1], data.get("ward_id"),
                                    data.get("shift_id") or data.get("date"))
    return Counter({(i, described[i]): n for i, n in Counter(r["event_id"] for r in rows).items()})


async def test_a_simulated_week_gives_exactly_its_figures_through_a_kill_and_a_rebuild(
        start_service, kafka, auth_conn) -> None:
    ward = f"w-{uuid.uuid4().hex[:10]}"
    week = simulate_week(ward, MONDAY, seed=5)
    service = start_service("reporting", CDT_CLOCK="watermark", CDT_REPORTING_TICK_SECONDS="0.3")
    operator = await create_token(auth_conn, TOKEN_SECRET, ward_id="*", role="operator")
    viewer = await create_token(auth_conn, TOKEN_SECRET, ward_id=ward, role="viewer")
    stranger = await create_token(auth_conn, TOKEN_SECRET, ward_id="ban-thach", role="viewer")
    expected = expected_figures(week.roster, week.assist, now=max(
        e.data.at if hasattr(e.data, "at") else getattr(e.data, "ended_at", None)
        or e.data.received_at for e in week.assist))
    want = expected_metrics(expected)

    # the roster is published days ahead; then the desk's week, killed (SIGKILL) half-way
    await publish(kafka.bootstrap, week.roster)
    wait_for(lambda: ward_metrics(scrape(service.url)[1], ward).get(
        ("cdt_shifts_total", (("status", "cancelled"),))) == 1 or "waiting", what="roster applied")
    half = len(week.assist) // 2
    await publish(kafka.bootstrap, week.assist[:half])
    wait_for(lambda: ward_metrics(scrape(service.url)[1], ward).get(
        ("cdt_dossiers_total", (("channel", "online"), ("field", "civil_status"))), 0) > 0
        or "waiting", what="first half applied")
    await publish(kafka.bootstrap, week.assist[half:])
    service.kill()
    service.start()

    def metrics_equal() -> bool | dict:
        got = ward_metrics(scrape(service.url)[1], ward)
        return True if got == want else {k: (got.get(k), v) for k, v in want.items()
                                         if got.get(k) != v} | {k: got[k] for k in got.keys() - want.keys()}

    wait_for(metrics_equal, 60, "metrics equal the events' figures")
    text, samples = scrape(service.url)

    # the report agrees with /metrics and with the events, exactly
    auth = {"Authorization": f"Bearer {viewer}"}
    report = httpx.get(f"{service.url}/wards/{ward}/report", headers=auth).json()
    assert report["online"]["dossiers"] == expected["dossiers_total"]
    assert report["online"]["online_ratio"] == want[("cdt_online_dossier_ratio", ())]
    assert report["online"]["fully_online_ratio"] == want[("cdt_fully_online_dossier_ratio", ())]
    assert report["staffing"]["scheduled"] == expected["shifts"]["scheduled"]
    for status in ("staffed", "understaffed", "cancelled"):
        assert report["staffing"][status] == want[("cdt_shifts_total", (("status", status),))]
    assert report["volunteers"]["hours"] * 3600 == pytest.approx(want[("cdt_volunteer_seconds_total", ())])
    assert report["assists"]["total"] == expected["assists_total"]
    assert report["assists"]["satisfaction_ratio"] == expected["satisfaction_ratio"]
    assert report["volunteers"]["dossiers_online_assisted"] == expected["assisted_online"]
    assert {r["reason"]: r["assists"] for r in report["not_online_reasons"]} == expected["reasons"]
    members = {m["member_id"]: m for m in report["members"]}
    assert {m: members[m]["hours"] * 3600 for m in expected["member_seconds"]} == pytest.approx(
        expected["member_seconds"])
    assert {m: members[m]["sessions"] for m in expected["member_sessions"]} == expected["member_sessions"]
    csv_text = httpx.get(f"{service.url}/wards/{ward}/report", params={"format": "csv"},
                         headers=auth).text
    assert f"online,,,dossiers,{expected['dossiers_total']}" in csv_text
    assert httpx.get(f"{service.url}/wards/{ward}/report",
                     headers={"Authorization": f"Bearer {stranger}"}).status_code == 403
    assert httpx.get(f"{service.url}/wards/{ward}/report").status_code == 401
    cli = cdt("report", "--ward", ward, "--format", "json", token=viewer, url=service.url)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == report
    table = cdt("report", "--ward", ward, token=viewer, url=service.url)
    assert table.returncode == 0 and "Tỷ lệ trực tuyến / online ratio" in table.stdout

    # promtool accepts the exposition; no label carries an id
    assert shutil.which("promtool"), "promtool is missing: apt-get install prometheus (.ci/run)"
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
    findings = [line for line in (check.stdout + check.stderr).splitlines() if line.strip()]
    assert check.returncode == 0, findings
    assert findings == [], findings
    ids = {e.data.shift_id for e in week.roster if hasattr(e.data, "shift_id")} | {
        e.data.member_id for e in week.roster if hasattr(e.data, "member_id")}
    for name, labels in samples:
        if name.startswith("cdt_") and not name.startswith("cdt_event"):
            assert {k for k, _ in labels} <= ALLOWED_LABELS, name
            assert not {v for _, v in labels} & ids, name

    # each alert once: one understaffed per session, one summary per ended day
    ended_days = sorted(d.isoformat() for d in expected["days"]
                        if d < expected["watermark"].astimezone(TZ).date())

    async def alerts_complete() -> list:
        for _ in range(60):
            found = await read_alerts(kafka.bootstrap, ward)
            if len({i for _, i, _ in found}) >= len(expected["understaffed"]) + len(ended_days):
                return found
            await asyncio.sleep(0.5)
        return found

    found = await alerts_complete()
    by_key = Counter((t, d.get("shift_id") or d["date"]) for t, _, d in {(t, i, json.dumps(d)): (t, i, d)
                     for t, i, d in found}.values())
    assert all(n == 1 for n in by_key.values()), by_key
    assert sorted(k for t, k in by_key if t == reporting_events.ShiftUnderstaffed.TYPE) \
        == expected["understaffed"]
    assert sorted(k for t, k in by_key if t == reporting_events.WardDailySummary.TYPE) == ended_days
    ids_seen = Counter(i for _, i, _ in found)
    assert len(ids_seen) == len(by_key)  # never two different events for one alert
    # emitted exactly once: one outbox row per alert (the relay may re-send a row, same id)
    reporting_db = await asyncpg.connect(db.service_database_url(
        service.env["CDT_DATABASE_URL"], "reporting"))
    try:
        outbox_ids = await outbox_alerts(reporting_db)
        assert Counter(i for i, _ in outbox_ids.elements()) == Counter(set(ids_seen)), outbox_ids

        # a rebuild from the topics' beginning reproduces the figures exactly, and no alert again
        counted = processed(scrape(service.url)[1])
        rebuilt = cdt("reporting", "rebuild", token=operator, url=service.url)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "rebuilt" in rebuilt.stdout
        wait_for(metrics_equal, 30, "metrics after the rebuild")
        # the rebuild applied every event once more, and counted each once (the counter grows)
        wait_for(lambda: processed(scrape(service.url)[1]) - counted == counted
                 or processed(scrape(service.url)[1]) - counted, 30, "events the rebuild counted")
        assert httpx.get(f"{service.url}/wards/{ward}/report", headers=auth).json() == report
        await asyncio.sleep(1.5)
        after = await read_alerts(kafka.bootstrap, ward)
        assert {i for _, i, _ in after} == set(ids_seen)
        again = await outbox_alerts(reporting_db)
        assert again == outbox_ids, {"new": sorted(again - outbox_ids),
                                     "lost": sorted(outbox_ids - again)}
    finally:
        await reporting_db.close()

    # Re-published (the same ids, as a relay re-sends) and a dossier re-sent by the provincial
    # system under a new event id: nothing changes and nothing is counted. A new dossier after
    # them (same ward, so same partition) shows when they have all been read.
    dossier = next(e for e in week.assist if e.type.endswith(".dossier.received.v1"))
    resent = dossier.model_copy(update={"id": str(uuid.uuid4())})
    new = dossier.model_copy(update={"id": str(uuid.uuid4()), "data": dossier.data.model_copy(
        update={"dossier_id": f"{dossier.data.dossier_id}-new"})})
    before = processed(scrape(service.url)[1])
    await publish(kafka.bootstrap, [*week.assist, resent, new])
    label = ("cdt_dossiers_total", (("channel", dossier.data.channel),
                                    ("field", dossier.data.field)))
    wait_for(lambda: ward_metrics(scrape(service.url)[1], ward).get(label) == want[label] + 1
             or "waiting", what="the new dossier applied")
    got = ward_metrics(scrape(service.url)[1], ward)
    assert {k: got.get(k) for k in want if k[0] == "cdt_assists_total"} == {
        k: v for k, v in want.items() if k[0] == "cdt_assists_total"}
    assert got[("cdt_assist_duration_seconds_sum", ())] == want[
        ("cdt_assist_duration_seconds_sum", ())]
    assert processed(scrape(service.url)[1]) - before == Counter({dossier.type: 1})
    viewer_rebuild = cdt("reporting", "rebuild", token=viewer, url=service.url)
    assert viewer_rebuild.returncode != 0 and "403" in viewer_rebuild.stderr
