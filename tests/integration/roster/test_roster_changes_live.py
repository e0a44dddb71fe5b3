"""Changing a plan through the running service: swap, release, cancel, deactivate, re-import, check-in."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer

from services.roster.importer import slugify
from shared.events import assist
from tests.integration.roster.conftest import http, of_type, read_events, roster_csv

TEAMS = {
    "Đoan Trai": ("Nguyễn Văn An", "Trần Thị Bích", "Lê Văn Cường"),
    "Kim Đới": ("Võ Thị Hà", "Đặng Văn Hùng", "Bùi Thị Lan"),
    "An Hà": ("Đỗ Văn Long", "Phạm Thị Dung", "Huỳnh Văn Đạt"),
}
# Two weeks starting on a Monday at least a week ahead: every session is still in the future.
TODAY = date.today()
START = TODAY + timedelta(days=7 + (7 - TODAY.weekday()) % 7)
END = START + timedelta(days=13)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}


def mid(team: str, name: str) -> str:
    return f"{slugify(team)}-{slugify(name)}"


def rows(
    *,
    without: Iterable[str] = (),
    occupation: dict[str, str] | None = None,
    unavailable: dict[str, str] | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The small ward's roster file: leaders first, everyone a retiree unless told otherwise."""
    occupation, unavailable, out = occupation or {}, unavailable or {}, []
    members = [(team, name) for team, names in TEAMS.items() for name in names] + list(extra)
    for index, (team, name) in enumerate(members):
        member_id = mid(team, name)
        if member_id in without:
            continue
        leader = "có" if name == TEAMS.get(team, ("",))[0] else "không"
        out.append(
            (
                team,
                f"Tổ dân phố {team}",
                name,
                occupation.get(member_id, "hưu trí"),
                leader,
                f"0905{index:06d}",
                unavailable.get(member_id, ""),
            )
        )
    return roster_csv(out)


async def planned_ward(roster_service, make_token) -> tuple[str, httpx.Client]:
    """A fresh ward with the small roster imported and the two weeks planned."""
    ward = f"phuong-{uuid.uuid4().hex[:8]}"
    client = http(roster_service, await make_token(ward, "operator"))
    # Any year can be planned once the ward names its closed days itself.
    assert (
        client.put(f"/wards/{ward}/settings", json={"holidays": [], "makeup_workdays": []}).status_code == 200
    )
    assert client.post(f"/wards/{ward}/roster/import", content=rows()).status_code == 200
    planned = client.post(f"/wards/{ward}/plan", json=PERIOD).json()
    assert (planned["sessions"], planned["assignments"], planned["unstaffable"]) == (20, 40, [])
    return ward, client


def shifts(client: httpx.Client, ward: str) -> dict[str, dict]:
    return {s["shift_id"]: s for s in client.get(f"/wards/{ward}/shifts").json()}


def members_of(shift: dict) -> set[str]:
    return {m["member_id"] for m in shift["members"]}


async def test_a_swap_publishes_unassigned_then_assigned_and_replans_keep_it(
    roster_service, make_token, kafka
) -> None:
    ward, client = await planned_ward(roster_service, make_token)
    first = next(iter(shifts(client, ward).values()))
    out_member = sorted(members_of(first))[0]
    in_member = mid("An Hà", "Đỗ Văn Long") if first["team_id"] != "an-ha" else mid("Kim Đới", "Võ Thị Hà")
    since = datetime.now(UTC)
    swapped = client.post(
        f"/wards/{ward}/shifts/{first['shift_id']}/swap",
        json={"out_member_id": out_member, "in_member_id": in_member, "reason": "ốm"},
    )
    assert swapped.status_code == 200, swapped.text
    events = await read_events(kafka.bootstrap, ward, since, at_least=2)
    assert [(e.type.split(".")[3:5], e.data["member_id"]) for e in events] == [
        (["shift", "unassigned"], out_member),
        (["shift", "assigned"], in_member),
    ]
    assert "swapped with" in events[0].data["reason"] and events[0].data["shift_id"] == first["shift_id"]
    after = shifts(client, ward)[first["shift_id"]]
    assert in_member in members_of(after) and out_member not in members_of(after) and after["pinned"]
    # The first re-plan may even out the load the swap moved; the swapped session stays as it is.
    rebalanced = client.post(f"/wards/{ward}/plan", json=PERIOD).json()
    stable = client.post(f"/wards/{ward}/plan", json=PERIOD).json()
    assert rebalanced["locked"] == 1 and rebalanced["scheduled"] == 0
    assert shifts(client, ward)[first["shift_id"]]["members"] == after["members"]
    assert stable["events"] == 0

    busy = client.post(
        f"/wards/{ward}/shifts/{first['shift_id']}/swap",
        json={"out_member_id": in_member, "in_member_id": sorted(members_of(after) - {in_member})[0]},
    )
    assert busy.status_code == 409 and busy.json()["field"] == "in_member_id"
    client.close()


async def test_releasing_a_member_from_one_session_refills_it_from_their_team(
    roster_service, make_token, kafka
) -> None:
    ward, client = await planned_ward(roster_service, make_token)
    shift = list(shifts(client, ward).values())[4]
    leaving = sorted(members_of(shift))[0]
    since = datetime.now(UTC)
    released = client.post(
        f"/wards/{ward}/shifts/{shift['shift_id']}/release",
        json={"member_id": leaving, "reason": "ốm (sick)"},
    ).json()
    events = await read_events(kafka.bootstrap, ward, since, at_least=2)
    assert [e.type.split(".")[3:5] for e in events] == [["shift", "unassigned"], ["shift", "assigned"]]
    assert events[0].data == {
        "shift_id": shift["shift_id"],
        "ward_id": ward,
        "member_id": leaving,
        "reason": "ốm (sick)",
    }
    newcomer = events[1].data["member_id"]
    assert released["assigned"] == [{"shift_id": shift["shift_id"], "member_id": newcomer}]
    assert newcomer.startswith(shift["team_id"] + "-") and newcomer not in members_of(shift)
    assert len(members_of(shifts(client, ward)[shift["shift_id"]])) == 2
    client.close()


async def test_cancelling_a_session_or_a_day_publishes_shift_cancelled_once(
    roster_service, make_token, kafka
) -> None:
    ward, client = await planned_ward(roster_service, make_token)
    ids = list(shifts(client, ward))
    since = datetime.now(UTC)
    once = client.post(
        f"/wards/{ward}/shifts/{ids[0]}/cancel", json={"reason": "mất điện (power cut)"}
    ).json()
    twice = client.post(
        f"/wards/{ward}/shifts/{ids[0]}/cancel", json={"reason": "mất điện (power cut)"}
    ).json()
    day = (START + timedelta(days=2)).isoformat()
    storm = client.post(f"/wards/{ward}/days/{day}/cancel", json={"reason": "bão số 5 (storm)"}).json()
    replanned = client.post(f"/wards/{ward}/plan", json=PERIOD).json()
    assert (once["cancelled"], twice["cancelled"], twice["already_cancelled"], storm["cancelled"]) == (
        1,
        0,
        1,
        2,
    )
    events = await read_events(kafka.bootstrap, ward, since, at_least=3)
    assert sorted((e.data["shift_id"], e.data["reason"]) for e in events) == sorted(
        [
            (ids[0], "mất điện (power cut)"),
            (f"{ward}-{day.replace('-', '')}-morning", "bão số 5 (storm)"),
            (f"{ward}-{day.replace('-', '')}-afternoon", "bão số 5 (storm)"),
        ]
    )
    assert {e.type for e in events} == {"vn.cdt.roster.shift.cancelled.v1"}
    assert (replanned["events"], replanned["sessions"], replanned["cancelled"]) == (0, 17, 3)
    assert [s["status"] for s in shifts(client, ward).values()].count("cancelled") == 3
    assert client.post(f"/wards/{ward}/days/2030-01-01/cancel", json={"reason": "x"}).status_code == 404
    client.close()


async def test_sessions_already_started_cannot_be_changed_and_are_kept_by_a_replan(
    roster_service, make_token
) -> None:
    ward, client = await planned_ward(roster_service, make_token)
    past = {"from": "2025-10-06", "to": "2025-10-06"}
    first = client.post(f"/wards/{ward}/plan", json=past).json()
    assert first["scheduled"] == 2  # a past day is planned once, when nothing is stored for it
    shift_id = f"{ward}-20251006-morning"
    people = sorted(members_of(shifts(client, ward)[shift_id]))
    cancel = client.post(f"/wards/{ward}/shifts/{shift_id}/cancel", json={"reason": "late"})
    swap = client.post(
        f"/wards/{ward}/shifts/{shift_id}/swap",
        json={"out_member_id": people[0], "in_member_id": mid("An Hà", "Huỳnh Văn Đạt")},
    )
    assert cancel.status_code == swap.status_code == 409 and cancel.json()["error"] == "locked"
    client.post(f"/wards/{ward}/roster/import", content=rows(without=people))
    again = client.post(f"/wards/{ward}/plan", json=past).json()
    assert again["locked"] == 2 and again["events"] == 0
    assert sorted(members_of(shifts(client, ward)[shift_id])) == people  # history is kept
    client.close()


async def test_deactivating_a_leader_releases_their_future_sessions_and_refills_from_the_team(
    roster_service, make_token, kafka
) -> None:
    ward, client = await planned_ward(roster_service, make_token)
    leader = mid("Kim Đới", "Võ Thị Hà")
    theirs = [s for s in shifts(client, ward).values() if leader in members_of(s)]
    assert theirs
    since = datetime.now(UTC)
    body = client.post(
        f"/wards/{ward}/members/{leader}/deactivate", json={"reason": "chuyển nơi ở (moved)"}
    ).json()
    events = await read_events(kafka.bootstrap, ward, since, at_least=2 + 2 * len(theirs))
    assert [e.data for e in of_type(events, "member.deactivated")] == [
        {"member_id": leader, "ward_id": ward, "reason": "chuyển nơi ở (moved)"}
    ]
    assert [e.data["leader_member_id"] for e in of_type(events, "team.registered")] == [None]
    assert {e.data["shift_id"] for e in of_type(events, "shift.unassigned")} == {
        s["shift_id"] for s in theirs
    }
    refills = of_type(events, "shift.assigned")
    assert len(refills) == len(theirs) and all(e.data["member_id"].startswith("kim-doi-") for e in refills)
    now = shifts(client, ward)
    assert all(leader not in members_of(s) and len(s["members"]) >= 2 for s in now.values())
    assert body["members_deactivated"] == 1 and body["unstaffable"] == []
    again = client.post(f"/wards/{ward}/members/{leader}/deactivate", json={"reason": "again"}).json()
    assert again["events"] == 0
    client.close()


async def test_reimporting_a_changed_file_applies_only_the_differences(
    roster_service, make_token, kafka
) -> None:
    ward, client = await planned_ward(roster_service, make_token)
    plan = shifts(client, ward)
    removed = mid("An Hà", "Phạm Thị Dung")
    busy = mid("Đoan Trai", "Lê Văn Cường")
    busy_day = next(s["date"] for s in plan.values() if busy in members_of(s))
    teacher = mid("Kim Đới", "Bùi Thị Lan")
    newcomer = ("An Hà", "Châu Thị Yến")
    since = datetime.now(UTC)
    changed = rows(
        without=[removed], occupation={teacher: "giáo viên"}, unavailable={busy: busy_day}, extra=[newcomer]
    )
    body = client.post(f"/wards/{ward}/roster/import", content=changed).json()
    events = await read_events(kafka.bootstrap, ward, since, at_least=3)
    assert (body["members_registered"], body["members_updated"], body["members_deactivated"]) == (1, 2, 1)
    assert body["teams_registered"] == body["teams_updated"] == 0
    registered = {e.data["member_id"]: e.data for e in of_type(events, "member.registered")}
    assert set(registered) == {mid(*newcomer), teacher}
    assert (
        registered[teacher]["occupation"] == "teacher"
        and registered[mid(*newcomer)]["display_name"] == "Châu Thị Yến"
    )
    assert [e.data["member_id"] for e in of_type(events, "member.deactivated")] == [removed]
    released = {(e.data["shift_id"], e.data["member_id"]) for e in of_type(events, "shift.unassigned")}
    expected = {(i, removed) for i, s in plan.items() if removed in members_of(s)}
    expected |= {(i, busy) for i, s in plan.items() if busy in members_of(s) and s["date"] == busy_day}
    assert released == expected and len(of_type(events, "shift.assigned")) == len(expected)
    assert not of_type(events, "team.registered") and not of_type(events, "shift.scheduled")

    since = datetime.now(UTC)
    assert client.post(f"/wards/{ward}/roster/import", content=changed).json()["events"] == 0
    await asyncio.sleep(0.5)
    assert await read_events(kafka.bootstrap, ward, since, settle=2) == []
    client.close()


async def test_a_checked_in_shift_is_kept_as_it_is_when_the_period_is_replanned(
    roster_service, make_token, kafka
) -> None:
    ward, client = await planned_ward(roster_service, make_token)
    shift = next(iter(shifts(client, ward).values()))
    member_id = sorted(members_of(shift))[0]
    checked_in = assist.DeskCheckedIn.create(
        assist.DeskCheckedInData(
            ward_id=ward,
            checkin_id=str(uuid.uuid4()),
            shift_id=shift["shift_id"],
            member_id=member_id,
            at=datetime.now(UTC),
        ),
        service="assist",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        key, value, headers = checked_in.to_kafka()
        for _ in range(2):  # a redelivery is recorded once
            await producer.send_and_wait(assist.TOPIC, value, key=key, headers=headers)
    finally:
        await producer.stop()
    for _ in range(100):
        if shifts(client, ward)[shift["shift_id"]]["checked_in"] == [member_id]:
            break
        await asyncio.sleep(0.2)
    assert shifts(client, ward)[shift["shift_id"]]["checked_in"] == [member_id]

    assert (
        client.put(
            f"/wards/{ward}/settings", json={"holidays": [], "makeup_workdays": [], "min_staff": 3}
        ).status_code
        == 200
    )
    replanned = client.post(f"/wards/{ward}/plan", json=PERIOD).json()
    after = shifts(client, ward)
    assert replanned["locked"] == 1 and replanned["rescheduled"] == 19
    assert (
        after[shift["shift_id"]]["members"] == shift["members"] and after[shift["shift_id"]]["min_staff"] == 2
    )
    assert all(len(s["members"]) == 3 for i, s in after.items() if i != shift["shift_id"])
    locked = client.post(f"/wards/{ward}/shifts/{shift['shift_id']}/cancel", json={"reason": "x"})
    assert locked.status_code == 409
    client.close()
