"""The reference ward through the running roster service: import, plan, events, exports, access."""

from __future__ import annotations

import io
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from services.roster.reference import (
    CAMPAIGN_END,
    CAMPAIGN_START,
    REFERENCE_WARD,
    reference_roster,
    reference_roster_csv,
    reference_roster_xlsx,
)
from tests.integration.roster.conftest import http, of_type, read_events

WARD = REFERENCE_WARD
PERIOD = {"from": CAMPAIGN_START.isoformat(), "to": CAMPAIGN_END.isoformat()}
EXPECTED = 24 + 168 + 202 + 404  # teams, members, sessions, assignments (2 per session)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
async def reference(roster_service, make_token):
    """The reference roster imported and its campaign planned, once, with the time each took."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    operator = await make_token(WARD, "operator")
    with http(roster_service, operator) as client:
        began = time.perf_counter()
        imported = client.post(
            f"/wards/{WARD}/roster/import",
            params={"filename": "ban-thach.csv"},
            content=reference_roster_csv(),
            headers={"Content-Type": "text/csv"},
        )
        import_seconds = time.perf_counter() - began
        began = time.perf_counter()
        planned = client.post(f"/wards/{WARD}/plan", json=PERIOD)
        plan_seconds = time.perf_counter() - began
    assert imported.status_code == 200, imported.text
    assert planned.status_code == 200, planned.text
    print(f"\nreference ward: import {import_seconds:.2f}s, plan {plan_seconds:.2f}s")
    return {
        "since": since,
        "operator": operator,
        "imported": imported.json(),
        "planned": planned.json(),
        "import_seconds": import_seconds,
        "plan_seconds": plan_seconds,
    }


async def test_importing_and_planning_the_reference_ward_publishes_each_fact_once_keyed_by_ward(
    reference, roster_service, kafka
) -> None:
    imported, planned = reference["imported"], reference["planned"]
    assert (imported["teams_registered"], imported["members_registered"], imported["events"]) == (
        24,
        168,
        192,
    )
    assert (planned["sessions"], planned["assignments"], planned["scheduled"]) == (202, 404, 202)
    assert planned["unstaffable"] == [] and planned["events"] == 202 + 404
    assert reference["import_seconds"] < 5 and reference["plan_seconds"] < 10

    events = await read_events(kafka.bootstrap, WARD, reference["since"], at_least=EXPECTED)
    assert Counter(e.type.split(".")[3] + "." + e.type.split(".")[4] for e in events) == {
        "team.registered": 24,
        "member.registered": 168,
        "shift.scheduled": 202,
        "shift.assigned": 404,
    }
    assert {e.key for e in events} == {WARD.encode()}
    assert {e.headers["ce_source"] for e in events} == {f"/wards/{WARD}/roster".encode()}
    assert len({e.data["team_id"] for e in of_type(events, "team.registered")}) == 24
    assert len({e.data["member_id"] for e in of_type(events, "member.registered")}) == 168
    assert len({e.data["shift_id"] for e in of_type(events, "shift.scheduled")}) == 202
    names = {e.data["display_name"] for e in of_type(events, "member.registered")}
    assert names == {row["member"] for row in reference_roster()}  # diacritics intact

    with http(roster_service, reference["operator"]) as client:
        shifts = client.get(f"/wards/{WARD}/shifts").json()
    stored = {(s["shift_id"], m["member_id"]) for s in shifts for m in s["members"]}
    published = {(e.data["shift_id"], e.data["member_id"]) for e in of_type(events, "shift.assigned")}
    assert published == stored and len(stored) == 404
    assert all(len(s["members"]) >= 2 for s in shifts)
    position = {e.headers["ce_id"]: i for i, e in enumerate(events)}
    first_scheduled = {
        e.data["shift_id"]: position[e.headers["ce_id"]] for e in of_type(events, "shift.scheduled")
    }
    assert all(
        position[e.headers["ce_id"]] > first_scheduled[e.data["shift_id"]]
        for e in of_type(events, "shift.assigned")
    )

    phones = {row["phone"] for row in reference_roster()}
    values = " ".join(str(e.data) for e in events)
    assert not any(phone in values for phone in phones)


async def test_importing_the_same_roster_again_and_planning_again_publishes_nothing(
    reference, roster_service, kafka
) -> None:
    with http(roster_service, reference["operator"]) as client:
        again_csv = client.post(
            f"/wards/{WARD}/roster/import",
            params={"filename": "ban-thach.csv"},
            content=reference_roster_csv(),
        ).json()
        again_xlsx = client.post(
            f"/wards/{WARD}/roster/import", content=reference_roster_xlsx(), headers={"Content-Type": XLSX}
        ).json()
        replanned = client.post(f"/wards/{WARD}/plan", json=PERIOD).json()
    for again in (again_csv, again_xlsx):
        assert again["events"] == 0
        assert again["members_registered"] == again["members_updated"] == again["members_deactivated"] == 0
    assert replanned["events"] == 0 and replanned["sessions"] == 202
    assert replanned["scheduled"] == replanned["assigned"] == replanned["unassigned"] == 0

    events = await read_events(kafka.bootstrap, WARD, reference["since"], at_least=EXPECTED, settle=3)
    assert len(events) == EXPECTED


async def test_the_plan_exports_as_csv_xlsx_json_and_a_calendar_per_member(
    reference, roster_service, make_token
) -> None:
    viewer = await make_token(WARD, "viewer")
    with http(roster_service, viewer) as client:
        csv = client.get(f"/wards/{WARD}/shifts", params={"format": "csv"})
        xlsx = client.get(f"/wards/{WARD}/shifts", params={"format": "xlsx"})
        october = client.get(
            f"/wards/{WARD}/shifts", params={"from": "2025-10-01", "to": "2025-10-31"}
        ).json()
        member_id = october[0]["members"][0]["member_id"]
        mine = client.get(f"/wards/{WARD}/shifts", params={"member_id": member_id}).json()
        ics = client.get(f"/wards/{WARD}/members/{member_id}/calendar.ics")
    assert csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert csv.content.startswith(b"\xef\xbb\xbf") and len(text.strip().splitlines()) == 203
    assert "Đoan Trai" in text
    workbook = load_workbook(io.BytesIO(xlsx.content))
    assert workbook.sheetnames == ["2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]
    assert sum(sheet.max_row - 1 for sheet in workbook.worksheets) == 202
    assert {s["date"][:7] for s in october} == {"2025-10"} and len(october) == 2 * 23
    assert ics.headers["content-type"].startswith("text/calendar")
    assert ics.content.count(b"BEGIN:VEVENT") == len(mine) > 0
    assert all(member_id in [m["member_id"] for m in s["members"]] for s in mine)

    calendar = f"{roster_service.url}/wards/{WARD}/members/{member_id}/calendar.ics"
    with http(roster_service, None) as anonymous:
        assert anonymous.get(calendar).status_code == 401
        assert anonymous.get(calendar, params={"token": viewer}).status_code == 200
        refused = anonymous.get(calendar, params={"token": reference["operator"]})
        assert refused.status_code == 403 and refused.json()["error"] == "viewer_token_required"


async def test_members_are_listed_without_phones_and_only_an_operator_reads_one(
    reference, roster_service, make_token
) -> None:
    viewer = await make_token(WARD, "viewer")
    with http(roster_service, viewer) as client:
        members = client.get(f"/wards/{WARD}/members").json()
        teams = client.get(f"/wards/{WARD}/teams").json()
        as_viewer = client.get(f"/wards/{WARD}/members/{members[0]['member_id']}").json()
    with http(roster_service, reference["operator"]) as client:
        as_operator = client.get(f"/wards/{WARD}/members/{members[0]['member_id']}").json()
    assert len(members) == 168 and len(teams) == 24
    assert [t["name"] for t in teams][:4] == ["Đoan Trai", "Mỹ Thạch Tây", "Mỹ Thạch Bắc", "Trường Đồng"]
    assert all(t["members"] == 7 and t["leader_member_id"] for t in teams)
    assert all("phone" not in m for m in members) and "phone" not in as_viewer
    assert re.fullmatch(r"09\d{8}", as_operator["phone"])


async def test_another_wards_token_or_a_viewer_cannot_change_the_roster_nor_read_another_ward(
    reference, roster_service, make_token
) -> None:
    other_ward_operator = await make_token("tam-ky", "operator")
    viewer = await make_token(WARD, "viewer")
    shift_id = f"{WARD}-20251006-morning"
    writes = [
        ("post", f"/wards/{WARD}/roster/import", {"content": reference_roster_csv()}),
        ("post", f"/wards/{WARD}/plan", {"json": PERIOD}),
        (
            "post",
            f"/wards/{WARD}/shifts/{shift_id}/swap",
            {"json": {"out_member_id": "a", "in_member_id": "b"}},
        ),
        ("post", f"/wards/{WARD}/shifts/{shift_id}/cancel", {"json": {"reason": "bão"}}),
        ("post", f"/wards/{WARD}/days/2025-10-06/cancel", {"json": {"reason": "bão"}}),
        ("post", f"/wards/{WARD}/shifts/{shift_id}/release", {"json": {"member_id": "a", "reason": "ốm"}}),
        ("post", f"/wards/{WARD}/members/doan-trai-x/deactivate", {"json": {"reason": "chuyển đi"}}),
        ("put", f"/wards/{WARD}/settings", {"json": {"min_staff": 3}}),
    ]
    reads = [
        f"/wards/{WARD}/teams",
        f"/wards/{WARD}/members",
        f"/wards/{WARD}/shifts",
        f"/wards/{WARD}/shifts/{shift_id}",
        f"/wards/{WARD}/settings",
    ]
    for token, expected_error in ((other_ward_operator, "wrong_ward"), (viewer, "role_too_weak")):
        with http(roster_service, token) as client:
            for method, path, kwargs in writes:
                response = client.request(method.upper(), path, **kwargs)
                assert response.status_code == 403, (path, response.text)
                assert response.json()["error"] == expected_error
    with http(roster_service, other_ward_operator) as client:
        for path in reads:
            response = client.get(path)
            assert response.status_code == 403 and response.json()["error"] == "wrong_ward"
    with http(roster_service, viewer) as client:
        assert all(client.get(path).status_code == 200 for path in reads)
    with http(roster_service, None) as client:
        assert client.get(reads[0]).status_code == 401
        assert client.post(f"/wards/{WARD}/plan", json=PERIOD).status_code == 401
    with http(roster_service, reference["operator"]) as client:
        assert client.get(f"/wards/{WARD}/shifts").json()[0]["shift_id"] == f"{WARD}-20250811-morning"
        assert len(client.get(f"/wards/{WARD}/members").json()) == 168  # nothing above changed it
