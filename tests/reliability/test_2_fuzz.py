"""Bad input at volume: every HTTP write and the intake topic, fuzzed with hypothesis.

Two wards of their own: `rel-fuzz` gets only valid records (its campaign's first weeks, played
by the same driver as the load), `rel-fuzz-junk` every bad one, keyed so that its intake records
land in the same partition as `rel-fuzz`'s valid ones (the batches mix them). Each bad request
must be answered 2xx or 4xx with a JSON body and no traceback; each bad intake record must be
dead-lettered (or accepted as valid, or skipped as an unknown type), never stuck; the valid
records beside them must all be applied exactly once; no process may crash.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import murmur2
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from cdt.demo.driver import _intake_event
from cdt.demo.scenario import Dossier
from services.roster.reference import HEADERS, reference_roster
from shared.events import intake
from tests.reliability import badinput as B
from tests.reliability.driver import WardDriver
from tests.reliability.run import Run

pytestmark = pytest.mark.integration

FUZZ = "rel-fuzz"
START, END = "2025-08-11", "2025-08-29"


def _partition(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def junk_ward(partitions: int) -> str:
    """A ward id whose intake records share rel-fuzz's partition."""
    target = _partition(FUZZ, partitions)
    return next(f"rel-fuzz-junk-{i}" for i in range(100)
                if _partition(f"rel-fuzz-junk-{i}", partitions) == target)


class Checker:
    """Collects what each answer was, and what was wrong with any."""

    def __init__(self) -> None:
        self.statuses: Counter = Counter()
        self.anomalies: list[str] = []
        self.echoes: Counter = Counter()
        self.lock = threading.Lock()
        self.requests = 0

    def check(self, target: str, how: str, response: httpx.Response) -> None:
        text = response.text
        problems = []
        if response.status_code >= 500:
            problems.append(f"HTTP {response.status_code}")
        if "Traceback" in text or 'File "/' in text:
            problems.append("traceback in the body")
        if response.status_code >= 400 and "text/html" not in response.headers.get(
                "content-type", ""):
            try:
                body = response.json()
                if not isinstance(body, dict) or "error" not in body:
                    problems.append("error body without 'error'")
            except ValueError:
                problems.append("error body is not JSON")
        pii = B.contains_pii(text)
        with self.lock:
            self.requests += 1
            self.statuses[(target, response.status_code)] += 1
            if pii:
                code = (response.json().get("error") if response.status_code >= 400
                        and text.startswith("{") else "accepted")
                self.echoes[(target, response.status_code, code)] += 1
                if code == "invalid_request" or response.status_code < 300:
                    problems.append(f"planted personal data in the answer ({code})")
            for problem in problems:
                self.anomalies.append(f"{target} [{how}] -> {response.status_code}: {problem}: "
                                      f"{text[:200]!r}")


def _run_hypothesis(strategy: st.SearchStrategy, examples: int, seed_value: int,
                    send: Any) -> None:
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(seed_value)
    @given(strategy)
    def one(case: Any) -> None:
        send(case)

    one()


def _csv_roster(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@st.composite
def roster_files(draw: st.DrawFn, rows: list[dict[str, str]]) -> tuple[bytes, str, str]:
    """A roster file made bad: a cell replaced, an extra column, or raw junk bytes."""
    how = draw(st.sampled_from(["cell", "cell", "column", "bytes", "xlsx_junk"]))
    if how == "bytes":
        return draw(st.sampled_from(B.MALFORMED) | st.binary(max_size=3000)), "text/csv", how
    if how == "xlsx_junk":
        return (b"PK\x03\x04" + draw(st.binary(max_size=2000)),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", how)
    picked = [dict(r) for r in rows[:draw(st.integers(1, 14))]]
    row = draw(st.sampled_from(picked))
    if how == "cell":
        column = draw(st.sampled_from(HEADERS))
        value = draw(B.junk_no_pii) if column != "phone" else draw(st.sampled_from(B.PII_PHONES))
        row[column] = str(value)[:200_000]
        return _csv_roster(picked), "text/csv", how
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*HEADERS, draw(st.sampled_from(B.PII_KEYS))])
    for r in picked:
        writer.writerow([*(r[h] for h in HEADERS), draw(st.sampled_from(B.PII_VALUES))])
    return out.getvalue().encode(), "text/csv", how


@st.composite
def dossier_files(draw: st.DrawFn, base: dict[str, Any]) -> tuple[bytes, str, str]:
    lines = []
    for i in range(draw(st.integers(1, 5))):
        line, how = draw(B.mutated_json({**base, "dossier_id": f"{base['dossier_id']}-{i}"}))
        lines.append(line.replace(b"\n", b" "))
    body = b"\n".join(lines)
    fmt = draw(st.sampled_from(["jsonl", "csv", None]))
    return body, fmt or "", "file"


FORM_FIELDS = ["member_id", "shift_id", "checkin_id", "session", "assist_id", "field",
               "outcome", "reason", "actions", "dossier_id", "satisfaction", "venue",
               "procedure_code", "minutes", "citizen_age_band", "vneid_level", "days", "token"]


@st.composite
def desk_forms(draw: st.DrawFn, valid: dict[str, str]) -> tuple[bytes, str, str]:
    """The desk pages' HTML forms (x-www-form-urlencoded): junk values, junk bytes."""
    from urllib.parse import urlencode

    how = draw(st.sampled_from(["fields", "fields", "bytes", "repeat"]))
    if how == "bytes":
        return (draw(st.sampled_from(B.MALFORMED) | st.binary(max_size=3000)),
                "application/x-www-form-urlencoded", how)
    form = dict(valid)
    for name in draw(st.lists(st.sampled_from(FORM_FIELDS), min_size=1, max_size=4)):
        form[name] = str(draw(B.junk_no_pii))[:100_000]
    pairs = list(form.items())
    if how == "repeat":
        pairs += [(k, str(draw(B.junk_no_pii))[:200]) for k in form]
    body = urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode()
    return body, "application/x-www-form-urlencoded", how


async def _prepare_ward(run: Run, ward: str, index: int) -> WardDriver:
    assert run.driver is not None
    wd = WardDriver(index, ward, run.driver, seed=run.seed + index)
    await wd.prepare(datetime.fromisoformat(START).date(), datetime.fromisoformat(END).date())
    deadline = time.monotonic() + 90
    while not await wd.assist_knows_plan():
        assert time.monotonic() < deadline, f"assist never learnt {ward}'s plan"
        await asyncio.sleep(0.5)
    return wd


def _intake_cases(junk: str, count: int, seed_value: int) -> list[tuple[dict, bytes, list]]:
    """Bad intake records for the junk ward: (what, value, headers)."""
    now = datetime.now().astimezone()
    base_time = datetime.fromisoformat("2025-08-20T09:00:00+07:00")
    cases: list[tuple[dict, bytes, list]] = []

    @st.composite
    def record(draw: st.DrawFn) -> tuple[dict, bytes, list]:
        n = len(cases)
        dossier = Dossier(f"FZ-{n:05d}", "1.001193", "civil_status", "online",
                          base_time + timedelta(minutes=n), True, True, False, None, False)
        _, value, headers = _intake_event(junk, dossier, None).to_kafka()
        data = json.loads(value)
        headers = list(headers)
        how = draw(st.sampled_from(["data", "data", "data", "header", "rule", "pii_extra",
                                    "unknown_type", "huge"]))
        if how == "data":
            value, how = draw(B.mutated_json(data))
        elif how == "header":
            name = draw(st.sampled_from(["ce_id", "ce_type", "ce_time", "ce_source",
                                         "ce_wardid", "content-type"]))
            kind = draw(st.sampled_from(["drop", "junk", "bytes"]))
            headers = [h for h in headers if h[0] != name]
            if kind == "junk":
                # Envelope ids take any text: personal data is planted where it is refused.
                headers.append((name, str(draw(B.junk_no_pii))[:5000].encode(
                    "utf-8", "surrogatepass")))
            elif kind == "bytes":
                headers.append((name, b"\xff\xfe" + draw(st.binary(max_size=40))))
            if name == "ce_type" and kind != "drop":
                headers[-1] = ("ce_type", b"vn.cdt.intake.dossier.received.v2")
            how = f"header {name} {kind}"
        elif how == "rule":
            rule = draw(st.sampled_from(["future", "fully_not_eligible", "fully_not_online",
                                         "paid_no_fee", "ward_mismatch"]))
            if rule == "future":
                data["received_at"] = (now + timedelta(days=3)).isoformat()
            elif rule == "fully_not_eligible":
                data["eligible_fully_online"] = False
            elif rule == "fully_not_online":
                data["channel"] = "postal"
            elif rule == "paid_no_fee":
                data["fee_due"], data["paid_online"] = False, True
            else:
                data["ward_id"] = "rel-ward-1"  # another ward's id in the data: refused
            value = B.encode(data)
            how = f"rule {rule}"
        elif how == "pii_extra":
            data[draw(st.sampled_from(B.PII_KEYS))] = draw(st.sampled_from(B.PII_VALUES))
            value = B.encode(data)  # valid otherwise: accepted, the extra field dropped
        elif how == "unknown_type":
            headers = [h for h in headers if h[0] != "ce_type"] + [
                ("ce_type", b"vn.cdt.intake.something.else.v1")]
        elif how == "huge":
            data["procedure_code"] = B.huge(draw(st.sampled_from([3000, 300_000])))
            value = B.encode(data)
        if len(value) > 900_000:  # the broker's limit is 1 MB a message: huge, not impossible
            value = value[:2000] + B.huge(600_000).encode()
        headers.append(("x-fuzz-id", str(n).encode()))
        return {"n": n, "how": how, "dossier_id": data.get("dossier_id")
                if isinstance(data, dict) else None}, value, headers

    def collect(case: tuple[dict, bytes, list]) -> None:
        cases.append(case)

    _run_hypothesis(record(), count, seed_value, collect)
    # Text PostgreSQL cannot store, in records that are valid otherwise: NUL and lone surrogates.
    for field, text in [("dossier_id", "FZ-NUL-\x00"), ("dossier_id", "FZ-SUR-\ud800"),
                        ("procedure_code", "1.00\x001"), ("procedure_code", "\udfff"),
                        ("dossier_id", "FZ-SUR-\ud83d\ude00-ok")]:
        n = len(cases)
        dossier = Dossier(f"FZ-{n:05d}", "1.001193", "civil_status", "online",
                          base_time + timedelta(minutes=n), True, True, False, None, False)
        _, value, headers = _intake_event(junk, dossier, None).to_kafka()
        data = json.loads(value)
        data[field] = text
        cases.append(({"n": n, "how": f"poison {field} {text!r}", "dossier_id": None},
                      json.dumps(data).encode(), [*headers, ("x-fuzz-id", str(n).encode())]))
    return cases


async def _read_topic(run: Run, topic: str, idle_rounds: int = 3) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=run.system.kafka.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None, max_partition_fetch_bytes=8 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    records = []
    try:
        idle = 0
        while idle < idle_rounds:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            idle = 0 if batch else idle + 1
            for rs in batch.values():
                records.extend(rs)
    finally:
        await consumer.stop()
    return records


async def test_bad_input_at_volume(run: Run) -> None:
    assert run.driver is not None
    t0 = time.monotonic()
    junk = junk_ward(run.system.partitions)
    fuzz = await _prepare_ward(run, FUZZ, 50)
    junk_wd = await _prepare_ward(run, junk, 51)
    run.extra_truths.append(fuzz.truth)
    token = await run.system.create_token(junk, "operator")
    shifts = sorted(junk_wd.truth.shifts.values(), key=lambda s: s.starts_at)
    shift, other = shifts[0], shifts[1]
    members = list(shift.member_ids)
    all_members = sorted({m for s in shifts for m in s.member_ids})
    urls = {n: run.system.services[n].url for n in ("roster", "assist", "reporting")}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=urls["assist"], headers=headers, timeout=30) as client:
        checkin = client.post(f"/wards/{junk}/checkins", json={
            "member_id": members[0], "shift_id": shift.shift_id,
            "at": (shift.starts_at + timedelta(minutes=1)).isoformat()}).json()
    at = shift.starts_at + timedelta(minutes=20)
    assist = {"assist_id": str(uuid.uuid4()), "member_ids": members[:1],
              "venue": "service_center", "shift_id": shift.shift_id, "procedure_code": "1.001193",
              "field": "civil_status", "actions": ["vneid_login"], "outcome": "submitted_online",
              "reason": None, "dossier_id": "FZ-A-1", "started_at": at.isoformat(),
              "ended_at": (at + timedelta(minutes=10)).isoformat(), "satisfaction": 5,
              "vneid_level": "level2", "citizen_age_band": "30_44", "citizen_vulnerable": False}
    dossier = {"dossier_id": "FZ-F-1", "procedure_code": "1.001193", "field": "civil_status",
               "channel": "online", "received_at": "2025-08-20T08:15:00+07:00",
               "eligible_fully_online": True, "fully_online": True}
    rows = [dict(r) for r in reference_roster(run.seed + 51)]
    w = f"/wards/{junk}"
    targets: dict[str, list[tuple[str, st.SearchStrategy]]] = {
        "assist": [
            (f"POST {w}/checkins", B.mutated_json({"member_id": members[1], "shift_id":
             other.shift_id, "at": other.starts_at.isoformat()})),
            (f"POST {w}/checkins/{checkin.get('checkin_id')}/checkout",
             B.mutated_json({"at": (shift.starts_at + timedelta(hours=2)).isoformat()})),
            (f"POST {w}/assists", B.mutated_json(assist)),
            (f"POST {w}/dossiers/import", dossier_files(dossier)),
            (f"POST {w}/desk/me", desk_forms({"member_id": members[0]})),
            (f"POST {w}/desk/checkin", desk_forms({"member_id": members[1],
                                                   "shift_id": other.shift_id})),
            (f"POST {w}/desk/checkout", desk_forms({"member_id": members[0],
                                                    "checkin_id": checkin.get("checkin_id", "")})),
            (f"POST {w}/desk/assist", desk_forms({"member_id": members[0],
                                                  "field": "civil_status",
                                                  "outcome": "referred_to_counter"})),
            (f"POST {w}/desk/qr", desk_forms({"days": "30"})),
        ],
        "roster": [
            (f"POST {w}/roster/import", roster_files(rows)),
            (f"POST {w}/plan", B.mutated_json({"from": "2025-09-01", "to": "2025-09-03"})),
            (f"POST {w}/shifts/{other.shift_id}/swap", B.mutated_json(
                {"out_member_id": other.member_ids[0], "in_member_id": all_members[-1],
                 "reason": "ốm"}, frozenset({"reason"}))),
            (f"POST {w}/shifts/{other.shift_id}/release", B.mutated_json(
                {"member_id": other.member_ids[-1], "reason": "bận"}, frozenset({"reason"}))),
            (f"POST {w}/shifts/{shifts[-1].shift_id}/cancel", B.mutated_json(
                {"reason": "mất điện"}, frozenset({"reason"}))),
            (f"POST {w}/days/2025-08-28/cancel", B.mutated_json(
                {"reason": "bão"}, frozenset({"reason"}))),
            (f"POST {w}/members/{all_members[0]}/deactivate", B.mutated_json(
                {"reason": "chuyển công tác"}, frozenset({"reason"}))),
            (f"PUT {w}/settings", B.mutated_json({"min_staff": 2, "max_per_week": 3})),
        ],
        "paths": [
            (f"{method} {template}", st.tuples(st.just("path"), st.one_of(
                st.sampled_from(B.INJECTIONS + B.UNICODE_EDGES), st.text(max_size=300))))
            for method, template in [
                ("POST", f"{w}/checkins/{{}}/checkout"), ("DELETE", f"{w}/dossiers/import/{{}}"),
                ("GET", f"{w}/assists/{{}}"), ("GET", f"{w}/dossiers/{{}}"),
                ("POST", f"{w}/shifts/{{}}/cancel"), ("POST", f"{w}/members/{{}}/deactivate"),
                ("POST", f"{w}/days/{{}}/cancel"), ("GET", "/wards/{}/report")]],
        "reporting": [
            (f"GET {w}/report", st.fixed_dictionaries({"from": B.junk_scalars,
                                                       "to": B.junk_scalars,
                                                       "format": B.junk_scalars})),
        ],
    }
    bases = {
        f"POST {w}/checkins": {"member_id": members[1], "shift_id": other.shift_id,
                               "at": other.starts_at.isoformat()},
        f"POST {w}/assists": assist,
        f"POST {w}/shifts/{other.shift_id}/swap": {"out_member_id": other.member_ids[0],
                                                   "in_member_id": all_members[-1],
                                                   "reason": "ốm"},
        f"POST {w}/shifts/{other.shift_id}/release": {"member_id": other.member_ids[-1],
                                                      "reason": "bận"},
        f"POST {w}/members/{all_members[0]}/deactivate": {"reason": "chuyển công tác"},
        f"POST {w}/plan": {"from": "2025-09-01", "to": "2025-09-03"},
        f"PUT {w}/settings": {"min_staff": 2, "team_order": ["a"], "extra_holidays": []},
    }
    checker = Checker()
    per_target = 60 if run.quick else 150

    class Guarded:
        """The client, with a transport error (a reset connection) counted as a failure."""

        def __init__(self, client: httpx.Client) -> None:
            self.client = client

        def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
            try:
                return self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                body = json.dumps({"error": "transport", "message": repr(exc)})
                return httpx.Response(599, text=body, request=httpx.Request(method, path))

        def get(self, path: str, **kwargs: Any) -> httpx.Response:
            return self.request("GET", path, **kwargs)

    def fuzz_service(service: str) -> None:
        if service == "paths":
            fuzz_paths()
            return
        with httpx.Client(base_url=urls[service], headers=headers, timeout=60) as raw:
            client = Guarded(raw)
            for i, (route, strategy) in enumerate(targets[service]):
                method, path = route.split(" ", 1)

                def send(case: Any, method: str = method, path: str = path,
                         route: str = route) -> None:
                    if method == "GET":
                        params = {k: str(v)[:2000] for k, v in case.items()}
                        response = client.get(path, params=params)
                        checker.check(route, "query", response)
                        return
                    if route.endswith(("/roster/import", "/dossiers/import")) or "/desk/" in route:
                        body, kind, how = case
                        extra = ({"content-type": kind} if "/" in kind else {})
                        params = {"format": kind} if kind in ("jsonl", "csv") else {}
                        response = client.request(method, path, content=body, params=params,
                                                  headers=extra)
                    else:
                        body, how = case
                        response = client.request(method, path, content=body, headers={
                            "content-type": "application/json"})
                    checker.check(route, how, response)

                _run_hypothesis(strategy, per_target, run.seed + i, send)
                # And every field of the body, one at a time, with text no database can store.
                base = bases.get(route)
                for key in sorted(base or {}):
                    for bad in ("x\x00y", "\ud800", ["a\x00"], {"k": "\x00"}):
                        body = B.encode({**base, key: bad})
                        response = client.request(method, path, content=body, headers={
                            "content-type": "application/json"})
                        checker.check(route, f"{key}={bad!r}", response)

    def fuzz_paths() -> None:
        """Ids in paths: injection strings, unicode edge cases, anything (URL-encoded)."""
        from urllib.parse import quote

        clients = {s: Guarded(httpx.Client(base_url=urls[s], headers=headers, timeout=60))
                   for s in ("roster", "assist", "reporting")}
        try:
            for i, (route, strategy) in enumerate(targets["paths"]):
                method, template = route.split(" ", 1)
                service = ("reporting" if template.endswith("/report") else "roster"
                           if "/shifts/" in template or "/members/" in template
                           or "/days/" in template else "assist")

                def send(case: Any, method: str = method, template: str = template,
                         route: str = route, service: str = service) -> None:
                    junk = quote(str(case[1]).encode("utf-8", "surrogatepass"), safe="") or "x"
                    response = clients[service].request(
                        method, template.format(junk), json={"reason": "thử", "at": None})
                    checker.check(route, "path", response)

                _run_hypothesis(strategy, max(20, per_target // 3), run.seed + 100 + i, send)
        finally:
            for client in clients.values():
                client.client.close()

    intake_count = 800 if run.quick else 2500
    cases = await asyncio.to_thread(_intake_cases, junk, intake_count, run.seed)
    # Bad intake records interleaved with the valid rel-fuzz campaign, HTTP fuzz meanwhile.
    http = [asyncio.create_task(asyncio.to_thread(fuzz_service, s)) for s in targets]
    days = fuzz.days
    assert days is not None
    chunk = max(1, len(cases) // 12)
    sent = 0
    for day in days:
        batch = [(junk.encode(), value, hdrs) for _, value, hdrs in cases[sent:sent + chunk]]
        await asyncio.gather(fuzz.play_day(day), run.driver.intake.send(batch))
        sent += len(batch)
    if sent < len(cases):
        await run.driver.intake.send([(junk.encode(), v, h) for _, v, h in cases[sent:]])
    await asyncio.gather(*http)
    await fuzz.close_campaign()
    fuzz_time = time.monotonic() - t0

    # The valid records beside the bad ones: all applied, once; the load wards untouched.
    accounting, waited = await run.converge(180, delivery=False)
    # Every bad intake record has a fate: dead-lettered, accepted, or skipped (unknown type).
    fates: Counter = Counter()
    reasons: Counter = Counter()
    first_seen: dict[tuple, int] = {}
    for what, _, hdrs in cases:
        h = dict(hdrs)
        first_seen.setdefault((h.get("ce_source"), h.get("ce_id")), what["n"])
    deadline = time.monotonic() + 90
    while True:
        dead = {}
        for r in await _read_topic(run, intake.TOPIC + ".dlt"):
            h = dict(r.headers)
            if "x-fuzz-id" in h:
                dead[int(h["x-fuzz-id"])] = h.get("x-dlt-reason", b"?").decode()
        accepted = {r["dossier_id"] for r in await run.system.fetch(
            "assist", "SELECT dossier_id FROM dossiers WHERE ward_id = $1", junk)}
        fates.clear()
        reasons.clear()
        unaccounted = []
        for what, value, hdrs in cases:
            h = dict(hdrs)
            try:
                data = json.loads(value)
                dossier_id = data.get("dossier_id") if isinstance(data, dict) else None
            except (ValueError, RecursionError):
                dossier_id = None
            if what["n"] in dead:
                fates["dead-lettered"] += 1
                reasons[dead[what["n"]]] += 1
            elif isinstance(dossier_id, str) and dossier_id in accepted:
                fates["accepted (valid, or a repeat of an accepted dossier_id)"] += 1
            elif h.get("ce_type", b"").startswith(b"vn.cdt.intake.something"):
                fates["skipped (unknown event type)"] += 1
            elif first_seen[(h.get("ce_source"), h.get("ce_id"))] != what["n"]:
                fates["skipped (same ce_source + ce_id as an earlier record: the inbox)"] += 1
            else:
                unaccounted.append({**what, "dossier_id": str(dossier_id)[:80]})
        if not unaccounted or time.monotonic() > deadline:
            break
        await asyncio.sleep(3)
    alive = {label: s.alive() for label, s in run.system.services.items()
             if label != "reporting-2"}
    statuses = Counter()
    for (_, status), n in checker.statuses.items():
        statuses[status] += n
    run.fuzz = {
        "HTTP requests (hypothesis, every write of the three services and the report query)":
            f"{checker.requests:,} over {sum(len(t) for t in targets.values())} routes; "
            f"answers by status: {dict(sorted(statuses.items()))}",
        "bad intake records on `cdt.intake.dossiers`": f"{len(cases):,}; "
            + ", ".join(f"{k} {v:,}" for k, v in fates.most_common())
            + (f"; **unaccounted {len(unaccounted)}**" if unaccounted else "; unaccounted 0"),
        "dead-letter reasons": dict(reasons.most_common()),
        "valid records beside them (ward rel-fuzz)":
            f"{len(fuzz.truth.dossiers)} dossiers, {len(fuzz.truth.assists)} assists, "
            f"{len(fuzz.truth.checkins)} check-ins; figures exact: "
            f"{'yes' if accounting.exact else 'no'} (after {waited:.0f} s)",
        "answers with a 5xx, a traceback, a non-JSON error or planted data in a 422/2xx":
            len(checker.anomalies),
        "error answers repeating a planted value the caller sent (an id looked up)":
            dict(checker.echoes) or 0,
        "processes crashed": [k for k, v in alive.items() if not v] or "none",
        "time": f"{fuzz_time:.0f} s",
    }
    if checker.anomalies:
        (run.artifacts / "fuzz-anomalies.txt").write_text("\n".join(checker.anomalies))
        run.fuzz["examples"] = checker.anomalies[:8]
    run.log(f"fuzz: {json.dumps(run.fuzz, default=str, ensure_ascii=False)[:3000]}")
    run.verdicts["fuzz"] = (all(alive.values()) and not checker.anomalies and not unaccounted
                            and accounting.exact)
    assert all(alive.values()), f"a process crashed: {alive}"
    assert not checker.anomalies, checker.anomalies[:20]
    assert not unaccounted, f"{len(unaccounted)} bad intake records stuck: {unaccounted[:10]}"
    assert accounting.exact, f"valid records harmed: {list(accounting.diffs.items())[:20]}"
