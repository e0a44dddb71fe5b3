"""Security: every route of every service refuses the wrong callers, and nothing the system
writes carries the personal data planted in its inputs.

Routes come from each service's OpenAPI document and, for those kept out of it, from the
service's own routers. Each is tried with no token, bad tokens (garbage, another key's
signature, a forged role, expired, revoked, `alg: none`), another ward's token and every role
weaker than the one it needs; each must be refused with 401/403 and a JSON body that says why
and carries no data. Then the planted phones, names and identity numbers are looked for in
every topic (dead letters included), every log file, /metrics and every report.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared import auth, db
from tests.reliability import badinput as B
from tests.reliability.harness import TOKEN_SECRET
from tests.reliability.run import Run

pytestmark = pytest.mark.integration

PUBLIC = {"/healthz", "/readyz", "/metrics", "/asyncapi", "/asyncapi.json", "/docs",
          "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
DESK_WRITES = {("assist", "POST", "/wards/{ward_id}/checkins"),
               ("assist", "POST", "/wards/{ward_id}/checkins/{checkin_id}/checkout"),
               ("assist", "POST", "/wards/{ward_id}/assists")}
ROLES = ("viewer", "desk", "operator")
SKIP_POSITIVE = {("reporting", "POST", "/admin/rebuild")}  # would rebuild the read models


def expected_role(service: str, method: str, path: str) -> str:
    if service == "assist" and path.endswith("/desk/qr"):
        return "operator"  # prints a new desk token: the ward's operator only
    if service == "assist" and "/desk" in path:
        return "desk"  # the desk's own pages and forms, for volunteers on their phones
    if method == "GET":
        return "viewer" if path != "/admin/rebuild" else "operator"
    return "desk" if (service, method, path) in DESK_WRITES else "operator"


def service_routes(service: str) -> set[tuple[str, str]]:
    """Every (method, path) the service's own routers declare, in the OpenAPI or not."""
    import importlib

    spec = importlib.import_module(f"services.{service}.app").SPEC
    found = set()
    for router in spec.routers:
        for route in router.routes:
            for method in getattr(route, "methods", None) or ():
                if method not in ("HEAD", "OPTIONS"):
                    found.add((method, route.path))
    return found


async def _tokens(run: Run, victim: str, other: str) -> dict[str, str]:
    system = run.system
    tokens = {f"{victim}:{role}": await system.create_token(victim, role) for role in ROLES}
    tokens |= {f"{other}:{role}": await system.create_token(other, role) for role in ROLES}
    tokens["*:viewer"] = await system.create_token("*", "viewer")
    tokens["*:desk"] = await system.create_token("*", "desk")
    tokens["*:operator"] = run.operator_all
    url = db.service_database_url(system.pg_direct_url, "auth")
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tokens["expired"] = await auth.create_token(conn, TOKEN_SECRET, ward_id=victim,
                                                    role="operator", ttl=timedelta(seconds=-5))
        revoked = await auth.create_token(conn, TOKEN_SECRET, ward_id=victim, role="operator")
        await auth.revoke_token(conn, revoked)
        tokens["revoked"] = revoked
    finally:
        await conn.close()
    viewer = jwt.decode(tokens[f"{victim}:viewer"], options={"verify_signature": False})
    tokens["forged role (another key)"] = jwt.encode(
        {**viewer, "role": "operator", "ward": "*"}, "another-secret-" + "z" * 40,
        algorithm="HS256")
    tokens["signed with another key"] = jwt.encode(viewer, "another-secret-" + "z" * 40,
                                                   algorithm="HS256")
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({**viewer, "role": "operator", "ward": "*"},
                                               default=str).encode()).rstrip(b"=").decode()
    tokens["alg none"] = f"{head}.{body}."
    tokens["garbage"] = "not-a-token"
    tokens["unknown id"] = jwt.encode({**viewer, "jti": str(uuid.uuid4())}, TOKEN_SECRET,
                                      algorithm="HS256")
    return tokens


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: ids.get(m.group(1), "x"), path)


def _refusal_ok(response: httpx.Response, expected: int, secrets: list[str]) -> str | None:
    """None when the answer is the right refusal with nothing else in it, else why not."""
    if 300 <= response.status_code < 400 and response.headers.get("location"):
        # A page sends a browser to its sign-in form: refused, as long as nothing else came.
        return next((f"redirect carries data ({s[:20]})" for s in secrets
                     if s and s in response.text), None)
    if response.status_code != expected:
        return f"HTTP {response.status_code}, expected {expected}"
    if "text/html" in response.headers.get("content-type", ""):
        # A page refuses in HTML, for people; it must still carry nothing of the ward's.
        return next((f"refusal page carries data ({s[:20]})" for s in secrets
                     if s and s in response.text), None)
    try:
        body = response.json()
    except ValueError:
        return "refusal is not JSON"
    if not isinstance(body, dict) or "error" not in body or set(body) - {"error", "message",
                                                                          "field"}:
        return f"refusal body has {sorted(body) if isinstance(body, dict) else type(body)}"
    for secret in secrets:
        if secret and secret in response.text:
            return f"refusal carries data ({secret[:20]})"
    return None


async def test_every_route_refuses_the_wrong_callers(run: Run) -> None:
    assert run.driver is not None
    victim_driver, other_driver = run.driver.wards[0], run.driver.wards[1]
    victim, other = victim_driver.ward, other_driver.ward
    tokens = await _tokens(run, victim, other)
    truth = victim_driver.truth
    checkin = next(iter(truth.checkins.values()))
    shift = truth.shifts[checkin.shift_id]
    ids = {"ward_id": victim, "shift_id": shift.shift_id, "member_id": checkin.member_id,
           "checkin_id": checkin.checkin_id or str(uuid.uuid4()),
           "assist_id": next(iter(truth.assists)), "dossier_id": next(iter(truth.dossiers)),
           "upload_id": str(uuid.uuid4()), "day": shift.date.isoformat(),
           "date": shift.date.isoformat()}
    secrets = [checkin.checkin_id or "", ids["assist_id"], *truth.phones[:5]]
    probes = Counter()
    failures: list[str] = []
    public_seen: set[str] = set()
    mismatched_roles: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for service in ("roster", "assist", "reporting"):
            base = run.system.services[service].url
            document = (await client.get(f"{base}/openapi.json")).json()
            routes = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
            routes |= service_routes(service)
            routes |= {("POST", "/admin/outbox/republish"), ("GET", "/admin/outbox")}
            routes |= {("GET", p) for p in ("/healthz", "/readyz", "/metrics", "/asyncapi",
                                            "/asyncapi.json", "/docs", "/openapi.json")}
            for method, path in sorted(routes):
                url = base + _fill(path, ids)
                body = {} if method in ("POST", "PUT", "PATCH", "DELETE") else None
                label = f"{service} {method} {path}"

                async def send(token: str | None, *, cookie: str | None = None,
                               query_token: str | None = None, url: str = url,
                               method: str = method, body: Any = body) -> httpx.Response:
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    params = {"token": query_token} if query_token else None
                    cookies = {"cdt_token": cookie} if cookie else None
                    return await client.request(method, url, headers=headers, json=body,
                                                params=params, cookies=cookies)

                # No token at all: a public route says so by answering; the rest refuse.
                response = await send(None)
                probes["no token"] += 1
                if path in PUBLIC or path.startswith(("/static", "/assets")):
                    public_seen.add(path)
                    if any(s and s in response.text for s in secrets):
                        failures.append(f"{label}: public, and carries a ward's data")
                    continue
                if response.status_code not in (401, 403) and response.status_code < 300:
                    # A page answering without a token must be a sign-in page, never data.
                    if "text/html" in response.headers.get("content-type", "") and all(
                            s not in response.text for s in secrets):
                        public_seen.add(f"{service} {method} {path} (page without data)")
                        continue
                    failures.append(f"{label}: answered {response.status_code} without a token")
                    continue
                why = _refusal_ok(response, 401, secrets)
                if why:
                    failures.append(f"{label} no token: {why}")
                for name in ("garbage", "signed with another key", "forged role (another key)",
                             "expired", "revoked", "alg none", "unknown id"):
                    probes[name] += 1
                    why = _refusal_ok(await send(tokens[name]), 401, secrets)
                    if why:
                        failures.append(f"{label} {name}: {why}")
                if "{ward_id}" in path:
                    probes["another ward's token"] += 1
                    why = _refusal_ok(await send(tokens[f"{other}:operator"]), 403, secrets)
                    if why:
                        failures.append(f"{label} another ward's operator token: {why}")
                    probes["another ward's token (cookie)"] += 1
                    why = _refusal_ok(await send(None, cookie=tokens[f"{other}:operator"]), 403,
                                      secrets)
                    if why:
                        failures.append(f"{label} another ward's token as cookie: {why}")
                need = expected_role(service, method, path)
                owner = "*" if path.startswith("/admin") else victim
                for role in ROLES[:ROLES.index(need)]:
                    probes["too weak a role"] += 1
                    why = _refusal_ok(await send(tokens[f"{owner}:{role}"]), 403, secrets)
                    if why:
                        failures.append(f"{label} {role} (needs {need}): {why}")
                if path.startswith("/admin"):
                    probes["a ward's token on an all-wards route"] += 1
                    why = _refusal_ok(await send(tokens[f"{victim}:operator"]), 403, secrets)
                    if why:
                        failures.append(f"{label} a ward's operator token: {why}")
                if (service, method, path) not in SKIP_POSITIVE:
                    probes["the right token (must pass the check)"] += 1
                    response = await send(tokens[f"{owner}:{need}"])
                    if response.status_code in (401, 403):
                        mismatched_roles.append(f"{label}: {need} refused "
                                                f"(HTTP {response.status_code})")
                if path.endswith("/calendar.ics"):
                    for name, token, want in (("operator token in ?token=",
                                               tokens[f"{victim}:operator"], 403),
                                              ("another ward's viewer in ?token=",
                                               tokens[f"{other}:viewer"], 403),
                                              ("revoked in ?token=", tokens["revoked"], 401)):
                        probes[name] += 1
                        why = _refusal_ok(await send(None, query_token=token), want, secrets)
                        if why:
                            failures.append(f"{label} {name}: {why}")
        # Ids guessed across wards: another ward's token on its own ward, with the victim's ids.
        guessed = 0
        other_url = {s: run.system.services[s].url for s in ("roster", "assist", "reporting")}
        for service, path in [("assist", f"/wards/{other}/assists/{ids['assist_id']}"),
                              ("assist", f"/wards/{other}/dossiers/{ids['dossier_id']}"),
                              ("assist", f"/wards/{other}/sessions/{ids['shift_id']}/checkins"),
                              ("roster", f"/wards/{other}/shifts/{ids['shift_id']}"),
                              ("roster", f"/wards/{other}/members/{ids['member_id']}")]:
            response = await client.get(other_url[service] + path, headers={
                "Authorization": f"Bearer {tokens[f'{other}:operator']}"})
            guessed += 1
            if response.status_code == 404:
                continue  # not found: the id is only looked up in the caller's ward
            leaked = response.status_code < 300 and (
                f'"ward_id":"{victim}"' in response.text.replace(" ", "")
                or any(p in response.text for p in truth.phones))
            if leaked or response.status_code not in (200, 404):
                failures.append(f"guessed id {path}: HTTP {response.status_code}"
                                + (", another ward's data in the answer" if leaked else ""))
        response = await client.post(
            other_url["assist"] + f"/wards/{other}/checkins/{ids['checkin_id']}/checkout",
            headers={"Authorization": f"Bearer {tokens[f'{other}:operator']}"}, json={})
        guessed += 1
        if response.status_code != 404:
            failures.append(f"another ward's check-out by guessed id: HTTP {response.status_code}")
        # The AsyncAPI "try it out" route is off on every service.
        try_it = []
        for service in ("roster", "assist", "reporting"):
            base = run.system.services[service].url
            page = await client.get(f"{base}/asyncapi")
            if "try-it" in page.text.lower() or "tryit" in page.text.lower():
                try_it.append(f"{service}: the AsyncAPI page loads the try-it-out plugin")
            for path in ("/asyncapi/try", "/asyncapi.json/try", "/docs/asyncapi/try", "/try"):
                response = await client.post(f"{base}{path}", json={
                    "channelName": "cdt.assist.events", "message": {"message": {}}})
                if response.status_code not in (404, 405):
                    try_it.append(f"{service} POST {path}: HTTP {response.status_code}")
        # Phones stay in the roster: a viewer never sees one.
        members = await client.get(
            f"{other_url['roster']}/wards/{victim}/members/{ids['member_id']}",
            headers={"Authorization": f"Bearer {tokens[f'{victim}:viewer']}"})
        if any(p in members.text for p in truth.phones):
            failures.append("a viewer sees a member's phone")
    failures += try_it
    run.security = {
        "routes probed": sum(1 for _ in probes) and f"{probes['no token']} (OpenAPI documents "
        "and the services' routers)",
        "probes": f"{sum(probes.values()):,}: " + ", ".join(f"{k} {v}" for k, v in
                                                           probes.most_common()),
        "public by design (no token)": sorted(public_seen),
        "guessed ids across wards": f"{guessed} tried, none answered with the other ward's data"
        if not any("guessed" in f for f in failures) else "FAILED",
        "AsyncAPI try-it-out": "absent (no plugin on the page; POST …/try answers 404/405)"
        if not try_it else try_it,
        "refusals that were wrong": len(failures),
        "routes whose documented role is refused (not a hole, a mismatch)":
            mismatched_roles or "none",
    }
    if failures:
        (run.artifacts / "security-failures.txt").write_text("\n".join(failures))
        run.security["examples"] = failures[:10]
    run.log(f"security: {json.dumps(run.security, ensure_ascii=False, default=str)[:3000]}")
    run.verdicts["security"] = not failures and not mismatched_roles
    assert not failures, failures[:20]
    assert not mismatched_roles, mismatched_roles  # the right token must pass the check


async def _all_topics(run: Run) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=run.system.kafka.bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if not t.startswith("__"))
    finally:
        await admin.close()


async def _scan_topic(run: Run, topic: str, needles: dict[str, list[str]]) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=run.system.kafka.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None, max_partition_fetch_bytes=8 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    found: Counter = Counter()
    in_dlt_value: Counter = Counter()
    records = 0
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            idle = 0 if batch else idle + 1
            for rs in batch.values():
                for r in rs:
                    records += 1
                    value = (r.value or b"").decode("utf-8", "replace")
                    added = " ".join(v.decode("utf-8", "replace") for k, v in r.headers
                                     if k.startswith("x-dlt-"))
                    original = " ".join(v.decode("utf-8", "replace") for k, v in r.headers
                                        if not k.startswith("x-dlt-"))
                    key = (r.key or b"").decode("utf-8", "replace")
                    for kind, values in needles.items():
                        for needle in values:
                            if topic.endswith(".dlt") and (needle in value or needle in original):
                                in_dlt_value[kind] += 1
                            elif needle in value or needle in original or needle in key:
                                found[kind] += 1
                            if needle in added:
                                found[f"{kind} in x-dlt headers"] += 1
    finally:
        await consumer.stop()
    return {"records": records, "found": found, "in_dlt_copies": in_dlt_value}


async def test_planted_personal_data_never_comes_out(run: Run) -> None:
    """Planted phones (roster files), names, identity numbers and phones (fuzz inputs): never in
    a topic the services write, a log, /metrics, a report, or the assist and reporting DBs."""
    assert run.driver is not None
    roster_phones = [p for w in run.driver.wards for p in w.truth.phones]
    roster_phones += run.planning.phones
    for extra in run.extra_truths:
        roster_phones += extra.phones
    fuzz_numbers = B.PII_IDS + B.PII_PHONES
    needles = {"roster phone": roster_phones, "planted name": B.PII_NAME_TOKENS,
               "planted identity number or phone": fuzz_numbers
               + [f"{p[:4]} {p[4:7]} {p[7:]}" for p in B.PII_PHONES]}
    report: dict[str, Any] = {}
    problems: list[str] = []
    # Topics the system writes (the intake topic is the provincial system's, i.e. the driver's).
    topics = await _all_topics(run)
    dlt_copies: Counter = Counter()
    scanned = 0
    for topic in topics:
        if topic == "cdt.intake.dossiers":
            continue
        result = await _scan_topic(run, topic, needles)
        scanned += result["records"]
        dlt_copies.update(result["in_dlt_copies"])
        for kind, n in result["found"].items():
            problems.append(f"topic {topic}: {n} × {kind}")
    report["topics"] = f"{len(topics) - 1} topics, {scanned:,} records scanned" + (
        " (what the broker held at the end: it lost everything before the scenario 'broker "
        "lost its data'; the logs, reports and databases below cover the whole run)"
        if any(r.name == "broker lost its data" for r in run.results) else "")
    # Logs of every service process (every start), and of the broker and the database.
    logs = sorted(run.artifacts.glob("*.log"))
    for path in logs:
        text = path.read_text(errors="replace")
        for kind, values in needles.items():
            n = sum(text.count(v) for v in values)
            if n:
                problems.append(f"log {path.name}: {n} × {kind}")
    report["logs"] = f"{len(logs)} files ({', '.join(p.name for p in logs)})"
    # /metrics of every service, and every ward's report (JSON and CSV).
    async with httpx.AsyncClient(timeout=60, headers={
            "Authorization": f"Bearer {run.operator_all}"}) as client:
        texts = {}
        for label, service in run.system.services.items():
            if service.alive():
                texts[f"{label} /metrics"] = (await client.get(f"{service.url}/metrics")).text
        base = run.system.services["reporting"].url
        wards = [t.ward for t in run.truths()]
        for ward in wards:
            for fmt in ("json", "csv"):
                texts[f"report {ward} {fmt}"] = (await client.get(
                    f"{base}/wards/{ward}/report", params={"format": fmt})).text
        for name, text in texts.items():
            for kind, values in needles.items():
                if any(v in text for v in values):
                    problems.append(f"{name}: {kind}")
    report["metrics and reports"] = f"{len(texts)} documents"
    # The assist and reporting databases: phones live in the roster's only.
    rows = 0
    for service in ("assist", "reporting"):
        tables = await run.system.fetch(service, "SELECT tablename FROM pg_tables "
                                                 "WHERE schemaname = 'public'")
        for t in tables:
            for r in await run.system.fetch(service, f'SELECT row_to_json(x)::text AS j '
                                                     f'FROM "{t["tablename"]}" x'):
                rows += 1
                for kind, values in needles.items():
                    if any(v in r["j"] for v in values):
                        problems.append(f"{service} database, table {t['tablename']}: {kind}")
    report["assist and reporting databases"] = f"{rows:,} rows"
    report["found"] = sorted(set(problems)) or "nothing"
    if dlt_copies:
        report["inside dead letters' original value (kept unchanged, by contract)"] = dict(
            dlt_copies)
    run.pii = report
    run.log(f"pii: {json.dumps(report, ensure_ascii=False, default=str)[:3000]}")
    run.verdicts["personal data"] = not problems
    assert not problems, sorted(set(problems))[:20]
