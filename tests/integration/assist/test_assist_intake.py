"""Dossier intake through the running service: the topic, files and the CLI, each dossier once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.events import intake
from shared.events.assist import DossierReceivedData
from shared.events.intake import IntakeDossierReceived
from tests.conftest import ROOT

from .conftest import new_ward, of_type, publish, publish_raw, read_topic, wait_for

pytestmark = pytest.mark.integration

CHANNELS = ("online", "in_person", "postal")
RECEIVED = datetime(2025, 9, 8, 8, 0, tzinfo=UTC)
CSV_COLUMNS = ("dossier_id", "ward_id", "procedure_code", "field", "channel", "received_at",
               "eligible_fully_online", "fully_online", "fee_due", "paid_online")


def dossiers(ward_id: str, count: int, prefix: str = "D") -> list[DossierReceivedData]:
    return [DossierReceivedData(
        dossier_id=f"{prefix}{i:06d}", ward_id=ward_id, procedure_code="1.001193",
        field="civil_status", channel=CHANNELS[i % 3], received_at=RECEIVED + timedelta(seconds=i),
        eligible_fully_online=True, fully_online=i % 3 == 0, fee_due=i % 2 == 0,
        paid_online=i % 6 == 0) for i in range(count)]


def jsonl(rows: list[DossierReceivedData]) -> bytes:
    return b"".join(r.model_dump_json(exclude_none=True).encode() + b"\n" for r in rows)


def csv(rows: list[DossierReceivedData]) -> bytes:
    def cell(value: object) -> str:
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    lines = [",".join(CSV_COLUMNS)] + [
        ",".join(cell(getattr(r, c)) for c in CSV_COLUMNS) for r in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def received(records) -> list:
    return of_type(records, "dossier.received.v1")


async def test_intake_events_sent_twice_or_with_a_new_id_yield_one_dossier_received_each(
        assist_service) -> None:
    ward = new_ward()
    rows = dossiers(ward, 30)
    events = [IntakeDossierReceived.create(r, service="province") for r in rows]
    await publish(assist_service.bootstrap, intake.TOPIC, events)
    await publish(assist_service.bootstrap, intake.TOPIC, events)  # redelivered as is
    resent = [IntakeDossierReceived.create(r, service="province") for r in rows[:10]]
    await publish(assist_service.bootstrap, intake.TOPIC, resent)  # same dossiers, new ce_id
    records = await read_topic(assist_service.bootstrap, "cdt.assist.events", ward,
                               until=lambda rs: len(received(rs)) >= 30, settle=3)
    assert sorted(r.value["dossier_id"] for r in received(records)) == [r.dossier_id for r in rows]
    one = next(r for r in records if r.value["dossier_id"] == rows[4].dossier_id)
    assert one.value == {**json.loads(rows[4].model_dump_json()), "assisted": False}
    assert one.headers["ce_subject"] == f"dossier/{rows[4].dossier_id}"


async def test_bad_intake_records_are_dead_lettered_with_reasons_and_the_rest_accepted(
        assist_service) -> None:
    ward = new_ward()
    good = dossiers(ward, 6)
    key, value, headers = IntakeDossierReceived.create(good[0], service="province").to_kafka()

    def variant(data: dict | bytes, **header_changes: str) -> tuple:
        """A record like a good one with another value; a header set to "" is left out."""
        changed = {**dict(headers), "ce_id": str(uuid.uuid4()).encode()}
        for name, replacement in header_changes.items():
            if replacement:
                changed[name] = replacement.encode()
            else:
                del changed[name]
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        return key, body, list(changed.items())

    base = json.loads(good[1].model_dump_json())
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    bad = [
        variant(b"\xff\xfe not json"),
        variant({**base, "dossier_id": "BAD-1", "channel": "fax"}),
        variant({**base, "dossier_id": "BAD-2", "received_at": "yesterday"}),
        variant({k: v for k, v in base.items() if k != "procedure_code"} | {"dossier_id": "BAD-3"}),
        variant({**base, "dossier_id": "BAD-4"}, ce_type="vn.cdt.intake.dossier.received.v2"),
        variant({**base, "dossier_id": "BAD-5", "ward_id": "tam-ky"}),
        variant({**base, "dossier_id": "BAD-6", "received_at": future}),
        variant({**base, "dossier_id": "BAD-7", "fully_online": True,
                 "eligible_fully_online": False}),
        variant({**base, "dossier_id": "BAD-8"}, ce_source=""),
    ]
    goods = [e.to_kafka() for e in
             (IntakeDossierReceived.create(r, service="province") for r in good)]
    await publish_raw(assist_service.bootstrap, intake.TOPIC,
                      [x for pair in zip(goods, bad, strict=False) for x in pair] + bad[6:])
    dead = await read_topic(assist_service.bootstrap, "cdt.intake.dossiers.dlt", ward,
                            until=lambda rs: len(rs) >= len(bad))
    reasons = sorted(r.headers["x-dlt-reason"] for r in dead)
    assert reasons == sorted(["not_json", "invalid", "invalid", "invalid", "unknown_version",
                              "ward_mismatch", "received_in_future", "fully_online_not_eligible",
                              "invalid_envelope"])
    assert all(r.headers["x-dlt-consumer"] == "cdt-assist" and r.headers["x-dlt-error"]
               for r in dead)
    assert dead[0].raw in {b for _, b, _ in bad}  # the value unchanged
    records = await read_topic(assist_service.bootstrap, "cdt.assist.events", ward,
                               until=lambda rs: len(received(rs)) >= 6)
    assert sorted(r.value["dossier_id"] for r in received(records)) == [g.dossier_id for g in good]


async def test_the_same_file_imported_twice_changes_nothing(assist_service) -> None:
    ward = new_ward()
    operator = await assist_service.client(ward, "operator")
    rows = dossiers(ward, 40)
    first = await operator.post("/dossiers/import", content=jsonl(rows[:20]),
                                headers={"Content-Type": "application/x-ndjson"})
    assert first.json() == {"rows": 20, "received": 20, "duplicates": 0, "parts": 1}
    again = await operator.post("/dossiers/import", content=jsonl(rows[:20]))
    assert again.json() == {"rows": 20, "received": 0, "duplicates": 20, "parts": 1}
    as_csv = await operator.post("/dossiers/import", content=csv(rows),
                                 headers={"Content-Type": "text/csv"})
    assert as_csv.json() == {"rows": 40, "received": 20, "duplicates": 20, "parts": 1}
    records = await read_topic(assist_service.bootstrap, "cdt.assist.events", ward,
                               until=lambda rs: len(received(rs)) >= 40)
    assert sorted(r.value["dossier_id"] for r in received(records)) == [r.dossier_id for r in rows]
    back = (await operator.get(f"/dossiers/{rows[35].dossier_id}")).json()
    assert (back["channel"], back["paid_online"], back["via"]) == ("postal", False, "file")
    await operator.aclose()


async def test_a_file_sent_in_parts_is_imported_entirely_or_not_at_all(assist_service) -> None:
    ward = new_ward()
    operator = await assist_service.client(ward, "operator")
    rows = dossiers(ward, 30)
    upload = str(uuid.uuid4())
    staged = await operator.post("/dossiers/import", content=jsonl(rows[:10]),
                                 params={"upload_id": upload, "part": 0, "final": "false"})
    assert staged.status_code == 200 and staged.json()["staged"] is True
    broken = jsonl(rows[10:20]).replace(b'"postal"', b'"pigeon"', 1)
    refused = await operator.post("/dossiers/import", content=broken,
                                  params={"upload_id": upload, "part": 1, "final": "true",
                                          "first_line": 11})
    assert refused.status_code == 422
    assert refused.json()["errors"][0] == {"row": 12, "field": "channel",
                                           "message": refused.json()["errors"][0]["message"]}
    assert "nothing was imported" in refused.json()["message"]
    assert (await operator.get(f"/dossiers/{rows[0].dossier_id}")).status_code == 404
    missing = await operator.post("/dossiers/import", content=jsonl(rows[20:]),
                                  params={"upload_id": upload, "part": 2, "final": "true"})
    assert missing.status_code == 409 and missing.json()["field"] == "part"
    assert (await operator.delete(f"/dossiers/import/{upload}")).status_code == 204

    upload = str(uuid.uuid4())
    for part, chunk in enumerate((rows[:10], rows[10:20])):
        await operator.post("/dossiers/import", content=jsonl(chunk),
                            params={"upload_id": upload, "part": part, "final": "false"})
    done = await operator.post("/dossiers/import", content=jsonl(rows[20:]),
                               params={"upload_id": upload, "part": 2, "final": "true"})
    assert done.json() == {"rows": 30, "received": 30, "duplicates": 0, "parts": 3}
    await operator.aclose()


def run_cli(assist_service, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    env.update(CDT_ASSIST_URL=assist_service.url, CDT_TOKEN=token, COLUMNS="120",
               PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "cdt", "assist", "intake", *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


async def test_the_cli_imports_a_file_in_parts_once_and_refuses_a_bad_row(
        assist_service, tmp_path: Path) -> None:
    ward = new_ward()
    token = await assist_service.token(ward, "operator")
    rows = dossiers(ward, 1200)
    good = tmp_path / "hồ-sơ.csv"
    good.write_bytes(csv(rows))
    done = await asyncio.to_thread(run_cli, assist_service, token, str(good), "--ward", ward,
                                   "--rows-per-part", "500")
    assert done.returncode == 0, done.stderr
    assert "1200 records, 1200 new dossiers, 0 already received" in done.stdout
    again = await asyncio.to_thread(run_cli, assist_service, token, str(good), "--ward", ward)
    assert "1200 records, 0 new dossiers, 1200 already received" in again.stdout

    bad = tmp_path / "bad.jsonl"
    lines = jsonl(dossiers(ward, 900, prefix="B")).split(b"\n")
    lines[776] = lines[776].replace(b"1.001193", b"1.00\xe9193")  # row 777: not UTF-8
    bad.write_bytes(b"\n".join(lines))
    refused = await asyncio.to_thread(run_cli, assist_service, token, str(bad), "--ward", ward)
    assert refused.returncode != 0
    assert "row 777" in refused.stderr and "UTF-8" in refused.stderr
    other = await asyncio.to_thread(run_cli, assist_service, token, str(good), "--ward", "tam-ky")
    assert other.returncode != 0 and "row 2" in other.stderr and "tam-ky" in other.stderr
    desk = await assist_service.client(ward, "viewer")
    assert (await desk.get("/dossiers/B000000")).status_code == 404
    await desk.aclose()


async def test_intake_throughput_through_the_api_and_the_topic(assist_service,
                                                                tmp_path: Path) -> None:
    ward = new_ward()
    token = await assist_service.token(ward, "operator")
    count = 10_000
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl(dossiers(ward, count, prefix="F")))
    began = time.monotonic()
    done = await asyncio.to_thread(run_cli, assist_service, token, str(path), "--ward", ward)
    file_seconds = time.monotonic() - began
    assert done.returncode == 0, done.stderr

    topic_ward = new_ward()
    events = [IntakeDossierReceived.create(r, service="province")
              for r in dossiers(topic_ward, count, prefix="T")]
    viewer = await assist_service.client(topic_ward, "viewer")
    began = time.monotonic()
    await publish(assist_service.bootstrap, intake.TOPIC, events)

    async def all_in() -> bool:  # one key, one partition, in order: the last one means all
        last = RECEIVED + timedelta(seconds=count - 1)
        found = await viewer.get("/dossiers", params={"from": last.isoformat(), "limit": 1})
        return len(found.json()["dossiers"]) == 1

    await wait_for(all_in, timeout=120)
    topic_seconds = time.monotonic() - began
    everything = await viewer.get("/dossiers", params={"from": RECEIVED.isoformat(),
                                                       "limit": count})
    assert len(everything.json()["dossiers"]) == count
    await viewer.aclose()
    print(f"\nintake: {count / file_seconds:,.0f} rows/s through the CLI and API "
          f"(incl. process start and client-side check), "
          f"{count / topic_seconds:,.0f} events/s through the topic")
    assert count / file_seconds > 500 and count / topic_seconds > 500
