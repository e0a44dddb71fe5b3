"""Bad inputs each get a clear answer, nothing stops the service, and wards stay apart."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from services.assist.domain import WARD_TZ

from .conftest import Assist, Day, new_ward, plan_day

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def ward_day(assist_service: Assist) -> Day:
    day = datetime.now(WARD_TZ).date() - timedelta(days=1)
    return await plan_day(assist_service, new_ward("ban-thach"), day)


def assist(day: Day, **overrides: object) -> dict:
    start = day.at(8, 0)
    body: dict = {"member_ids": [day.members[0]], "field": "residence",
                  "outcome": "referred_to_counter", "started_at": start.isoformat(),
                  "ended_at": (start + timedelta(minutes=10)).isoformat()}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def answer(response: httpx.Response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"]
    if field is not None:
        assert body["field"] == field, body
    return body


CASES = {
    "wrong type of a list": ({"member_ids": "doan-trai-0"}, 422, "member_ids"),
    "wrong type of a number": ({"satisfaction": "năm"}, 422, "satisfaction"),
    "missing field": ({"field": None}, 422, "field"),
    "missing outcome": ({"outcome": None}, 422, "outcome"),
    "unknown outcome": ({"outcome": "done"}, 422, "outcome"),
    "unknown venue": ({"venue": "market"}, 422, "venue"),
    "satisfaction out of range": ({"satisfaction": 6}, 422, "satisfaction"),
    "citizen name": ({"citizen_name": "Nguyễn Văn A"}, 422, "citizen_name"),
    "citizen phone": ({"phone": "0905123456"}, 422, "phone"),
    "reason missing when not completed": ({"outcome": "not_completed"}, 422, "reason"),
    "reason when completed": ({"reason": "other"}, 422, "reason"),
    "dossier missing when online": ({"outcome": "submitted_online"}, 422, "dossier_id"),
    "naive time": ({"started_at": "2025-09-08T08:00:00"}, 422, "started_at"),
    "ended before started": ({"ended_at": "2020-01-01T08:00:00+07:00"}, 422, "ended_at"),
    "longer than four hours": ({"started_at": "2020-01-01T08:00:00+07:00"}, 422, "ended_at"),
    "ending in the future": ({"ended_at": (datetime.now(WARD_TZ) + timedelta(hours=1))
                              .isoformat(), "started_at": datetime.now(WARD_TZ).isoformat()},
                             422, "ended_at"),
    "unknown session": ({"shift_id": "nowhere-20250101-morning"}, 404, "shift_id"),
    "unknown member": ({"member_ids": ["ai-do"]}, 404, "member_ids"),
    "outreach with a session": ({"venue": "household_visit", "shift_id": "x-1"}, 422, "shift_id"),
}


@pytest.mark.parametrize("case", CASES)
async def test_a_bad_assist_is_refused_naming_the_field(assist_service, ward_day, case) -> None:
    overrides, status, field = CASES[case]
    async with await assist_service.client(ward_day.ward_id) as desk:
        answer(await desk.post("/assists", json=assist(ward_day, **overrides)), status, field)


async def test_bad_check_ins_are_refused_with_their_reason(assist_service, ward_day) -> None:
    day = ward_day
    async with await assist_service.client(day.ward_id) as desk:
        def checkin(member: int, shift: str | None, at: datetime, **extra: object):
            body = {"member_id": day.members[member], "at": at.isoformat(), **extra}
            return desk.post("/checkins", json=body | ({"shift_id": shift} if shift else {}))

        cancelled = answer(await checkin(5, day.evening, day.at(18)), 409, "shift_id")
        assert cancelled["error"] == "session_cancelled" and "power cut" in cancelled["message"]
        early = answer(await checkin(5, day.morning, day.at(6, 59)), 409, "at")
        assert early["error"] == "too_early" and "07:00" in early["message"]
        assert answer(await checkin(5, day.morning, day.at(11, 31)), 409, "at")["error"] == \
            "session_over"
        answer(await checkin(5, "nowhere-1", day.at(8)), 404, "shift_id")
        answer(await checkin(5, None, day.at(12, 30)), 404, "shift_id")  # between sessions
        future = datetime.now(WARD_TZ) + timedelta(minutes=10)
        assert answer(await checkin(5, day.morning, future), 422, "at")["error"] == "in_future"
        answer(await checkin(5, day.morning, day.at(8), phone="0905123456"), 422, "phone")
        unknown = await desk.post("/checkins", json={"member_id": "ai-do",
                                                     "shift_id": day.morning,
                                                     "at": day.at(8).isoformat()})
        answer(unknown, 404, "member_id")
        answer(await desk.post("/checkins/00000000-0000-0000-0000-000000000000/checkout",
                               json={}), 404, "checkin_id")
        # None of it stopped anything: a good check-in right after works.
        assert (await checkin(5, day.morning, day.at(8))).status_code == 201


async def test_malformed_json_and_huge_bodies_get_json_answers(assist_service, ward_day) -> None:
    async with await assist_service.client(ward_day.ward_id, "operator") as http:
        malformed = await http.post("/assists", content=b'{"member_ids": ["a"],',
                                    headers={"Content-Type": "application/json"})
        body = answer(malformed, 422, "body")
        assert "malformed JSON" in body["message"]
        big = b'{"member_ids": ["' + b"a" * 10_000_000 + b'"]}'
        too_large = answer(await http.post("/assists", content=big,
                                           headers={"Content-Type": "application/json"}), 413)
        assert too_large["error"] == "body_too_large"

        async def chunks():  # no content-length: the limit holds all the same
            for _ in range(100):
                yield b"x" * 100_000

        chunked = await http.post("/dossiers/import", content=chunks())
        assert chunked.request.headers.get("transfer-encoding") == "chunked"
        assert answer(chunked, 413)["error"] == "body_too_large"
        assert (await http.get("/assists")).status_code == 200


async def test_bad_files_are_refused_with_their_rows(assist_service, ward_day) -> None:
    ward = ward_day.ward_id
    good = (b'{"dossier_id": "G-1", "procedure_code": "1.001193", "field": "land", '
            b'"channel": "in_person", "received_at": "2025-09-08T09:00:00+07:00"}')
    async with await assist_service.client(ward, "operator") as operator:
        non_utf8 = good + b"\n" + good.replace(b"G-1", b"G-\xe92") + b"\n"
        body = answer(await operator.post("/dossiers/import", content=non_utf8), 422)
        assert body["errors"][0]["row"] == 2 and "UTF-8" in body["errors"][0]["message"]
        other_ward = good.replace(b'"G-1"', b'"G-1", "ward_id": "tam-ky"')
        body = answer(await operator.post("/dossiers/import", content=other_ward), 422, "ward_id")
        assert body["errors"] == [{"row": 1, "field": "ward_id", "message": body["errors"][0]
                                   ["message"]}] and "tam-ky" in body["message"]
        unknown_channel = good.replace(b"in_person", b"fax")
        answer(await operator.post("/dossiers/import", content=unknown_channel), 422, "channel")
        wrong_type = good.replace(b'"land",', b'"land", "fee_due": "maybe",')
        answer(await operator.post("/dossiers/import", content=wrong_type), 422, "fee_due")
        missing = good.replace(b'"procedure_code": "1.001193", ', b"")
        answer(await operator.post("/dossiers/import", content=missing), 422, "procedure_code")
        empty = await operator.post("/dossiers/import", content=b"\n",
                                    params={"format": "jsonl"})
        assert answer(empty, 422, "body")["error"] == "empty_file"
        assert "empty" in answer(await operator.post("/dossiers/import", content=b""),
                                 422)["message"]
        # Nothing of the bad files was imported; the good record alone goes through.
        assert (await operator.get("/dossiers/G-1")).status_code == 404
        done = await operator.post("/dossiers/import", content=good)
        assert done.json()["received"] == 1


async def test_a_token_of_one_ward_neither_reads_nor_writes_anothers(assist_service,
                                                                     ward_day) -> None:
    day = ward_day
    async with await assist_service.client(day.ward_id) as own:
        logged = await own.post("/assists", json=assist(day))
        assert logged.status_code == 201
        assist_id = logged.json()["assist_id"]
    stranger = new_ward("tam-ky")
    async with await assist_service.client(stranger, "operator", path_ward=day.ward_id) as other:
        for response in (await other.get(f"/assists/{assist_id}"), await other.get("/assists"),
                         await other.get("/checkins"), await other.get("/dossiers"),
                         await other.post("/assists", json=assist(day)),
                         await other.post("/checkins", json={"member_id": day.members[0]}),
                         await other.post("/dossiers/import", content=b"{}")):
            assert answer(response, 403)["error"] == "wrong_ward"
    async with await assist_service.client(day.ward_id, "viewer") as viewer:
        assert (await viewer.get(f"/assists/{assist_id}")).status_code == 200
        refused = answer(await viewer.post("/assists", json=assist(day)), 403)
        assert refused["error"] == "role_too_weak"
    async with await assist_service.client(day.ward_id, "desk") as desk:
        assert answer(await desk.post("/dossiers/import", content=b"{}"), 403)["error"] == \
            "role_too_weak"
    async with httpx.AsyncClient(base_url=f"{assist_service.url}/wards/{day.ward_id}") as anon:
        assert answer(await anon.get("/assists"), 401)["error"] == "token_missing"


async def test_a_retried_assist_is_logged_once(assist_service, ward_day) -> None:
    body = assist(ward_day, assist_id="5b0d7c1e-8f3a-4c2b-9d6e-0a1b2c3d4e5f",
                  outcome="submitted_online", dossier_id=f"{ward_day.ward_id}-RETRY")
    async with await assist_service.client(ward_day.ward_id) as desk:
        first = await desk.post("/assists", json=body)
        again = await desk.post("/assists", json=body)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["created"] is False
        same_dossier = assist(ward_day, outcome="submitted_online",
                              dossier_id=f"{ward_day.ward_id}-RETRY")
        assert answer(await desk.post("/assists", json=same_dossier), 409, "dossier_id")[
            "error"] == "dossier_already_logged"
