"""A day at the desk through the running service: each event once, and dossiers linked."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from itertools import cycle

import pytest

from services.assist.domain import WARD_TZ
from shared.events import intake
from shared.events.assist import DossierReceivedData
from shared.events.intake import IntakeDossierReceived

from .conftest import Day, new_ward, of_type, plan_day, publish, read_topic, wait_for

pytestmark = pytest.mark.integration

OUTCOMES = ["submitted_online"] * 30 + ["referred_to_counter"] * 15 + ["not_completed"] * 15
REASONS = cycle(["no_vneid_level2", "missing_documents", "portal_unavailable", "citizen_declined",
                 "other"])
FIELDS = cycle(["civil_status", "residence", "land", "social_insurance", "business", "justice",
                "other"])
CHANNELS = cycle(["online", "in_person", "postal"])


def two_days_ago() -> date:
    return datetime.now(WARD_TZ).date() - timedelta(days=2)


def dossier(ward_id: str, dossier_id: str, received_at: datetime, channel: str = "online",
            field: str = "civil_status") -> DossierReceivedData:
    online = channel == "online"
    return DossierReceivedData(dossier_id=dossier_id, ward_id=ward_id, procedure_code="1.001193",
                               field=field, channel=channel, received_at=received_at,
                               eligible_fully_online=online, fully_online=online)


def assist_body(day: Day, index: int, outcome: str) -> dict:
    """The index-th citizen of the day: desk in the morning or afternoon, or outreach."""
    body: dict = {"member_ids": [day.members[0]], "field": next(FIELDS), "outcome": outcome,
                  "actions": ["vneid_login", "form_filling"], "satisfaction": 1 + index % 5}
    if index % 12 == 5:
        body.update(venue="cultural_house")
        start = day.at(15, 0) + timedelta(minutes=index)
    elif index % 12 == 7:
        body.update(venue="household_visit", citizen_vulnerable=True, citizen_age_band="75_plus")
        start = day.at(16, 0) + timedelta(minutes=index)
    elif index % 2:
        body["member_ids"] = [day.members[2]]
        start = day.at(13, 35) + timedelta(minutes=3 * index)
    else:
        body["member_ids"] = [day.members[0], day.members[1]]
        start = day.at(7, 40) + timedelta(minutes=3 * index)
    body.update(started_at=start.isoformat(), ended_at=(start + timedelta(minutes=12)).isoformat())
    if outcome == "submitted_online":
        body["dossier_id"] = f"{day.ward_id}-D{index:03d}"
    if outcome == "not_completed":
        body["reason"] = next(REASONS)
    return body


async def test_a_day_of_desk_activity_yields_each_event_once_and_links_dossiers(
        assist_service) -> None:
    ward = new_ward("ban-thach")
    day = await plan_day(assist_service, ward, two_days_ago())
    desk = await assist_service.client(ward, "desk")
    operator = await assist_service.client(ward, "operator")
    m = day.members

    # Check-ins: assigned, repeated, by default session, a stand-in; one to a cancelled session.
    first = await desk.post("/checkins", json={"member_id": m[0], "shift_id": day.morning,
                                               "at": day.at(7, 10).isoformat()})
    assert first.status_code == 201 and first.json()["stand_in"] is False
    again = await desk.post("/checkins", json={"member_id": m[0], "shift_id": day.morning,
                                               "at": day.at(7, 20).isoformat()})
    assert again.status_code == 200 and again.json()["checkin_id"] == first.json()["checkin_id"]
    default = await desk.post("/checkins", json={"member_id": m[1],
                                                 "at": day.at(7, 35).isoformat()})
    assert default.status_code == 201 and default.json()["shift_id"] == day.morning
    stand_in = await desk.post("/checkins", json={"member_id": m[4], "shift_id": day.morning,
                                                  "at": day.at(8, 0).isoformat()})
    assert stand_in.status_code == 201 and stand_in.json()["stand_in"] is True
    for member, minute in ((m[2], 25), (m[3], 40)):
        response = await desk.post("/checkins", json={"member_id": member,
                                                      "at": day.at(13, minute).isoformat()})
        assert response.status_code == 201 and response.json()["shift_id"] == day.afternoon
    cancelled = await desk.post("/checkins", json={"member_id": m[5], "shift_id": day.evening,
                                                   "at": day.at(18, 0).isoformat()})
    assert cancelled.status_code == 409 and cancelled.json()["error"] == "session_cancelled"
    assert "power cut" in cancelled.json()["message"]

    # Check-outs: one in time, one late (recorded at the session's end); the rest forgotten.
    out = await desk.post(f"/checkins/{first.json()['checkin_id']}/checkout",
                          json={"at": day.at(11, 0).isoformat()})
    assert out.status_code == 200 and out.json()["checked_out_at"] == day.at(11, 0).isoformat()
    late = await desk.post(f"/checkins/{default.json()['checkin_id']}/checkout",
                           json={"at": day.at(12, 30).isoformat()})
    assert datetime.fromisoformat(late.json()["checked_out_at"]) == day.at(11, 30)

    # 80 dossiers: 15 received before their assist, 15 after, 50 without one (20 by file).
    online_ids = [f"{ward}-D{i:03d}" for i, o in enumerate(OUTCOMES) if o == "submitted_online"]
    before, after = online_ids[:15], online_ids[15:]
    received = day.at(16, 30)
    early = [dossier(ward, d, received) for d in before]
    await publish(assist_service.bootstrap, intake.TOPIC,
                  [IntakeDossierReceived.create(d, service="province") for d in early])

    async def early_known() -> bool:
        found = (await desk.get("/dossiers", params={"from": day.at(0).isoformat(),
                                                     "to": day.at(23).isoformat()})).json()
        return len(found["dossiers"]) == 15

    await wait_for(early_known)

    assists = []
    for index, outcome in enumerate(OUTCOMES):
        response = await desk.post("/assists", json=assist_body(day, index, outcome))
        assert response.status_code == 201, response.text
        assists.append(response.json())
    by_dossier = {a["dossier_id"]: a for a in assists if a["dossier_id"]}
    desk_shifts = Counter(a["shift_id"] for a in assists)
    assert set(desk_shifts) == {day.morning, day.afternoon, None}
    assert all(a["shift_id"] is None for a in assists if a["venue"] != "service_center")

    late_ones = [dossier(ward, d, received + timedelta(minutes=5)) for d in after]
    unassisted = [dossier(ward, f"{ward}-U{i:03d}", received, next(CHANNELS), next(FIELDS))
                  for i in range(50)]
    await publish(assist_service.bootstrap, intake.TOPIC,
                  [IntakeDossierReceived.create(d, service="province")
                   for d in late_ones + unassisted[:30]])
    lines = "\n".join(d.model_dump_json() for d in unassisted[30:]).encode()
    imported = await operator.post("/dossiers/import", content=lines,
                                   headers={"Content-Type": "application/x-ndjson"})
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"rows": 20, "received": 20, "duplicates": 0, "parts": 1}

    def complete(records) -> bool:
        return (len(of_type(records, "dossier.received.v1")) >= 80
                and len(of_type(records, "assist.completed.v1")) >= 60
                and len(of_type(records, "desk.checked_out.v1")) >= 5)

    records = await read_topic(assist_service.bootstrap, "cdt.assist.events", ward,
                               until=complete, timeout=60)

    checked_in = of_type(records, "desk.checked_in.v1")
    checked_out = of_type(records, "desk.checked_out.v1")
    completed = of_type(records, "assist.completed.v1")
    dossiers = of_type(records, "dossier.received.v1")
    assert len(records) == 5 + 5 + 60 + 80  # nothing else, nothing twice
    assert len({r.headers["ce_id"] for r in records}) == len(records)
    assert Counter(r.value["member_id"] for r in checked_in) == Counter(m[:5])
    closed = {r.value["member_id"]: datetime.fromisoformat(r.value["at"]) for r in checked_out}
    assert closed == {m[0]: day.at(11, 0), m[1]: day.at(11, 30), m[4]: day.at(11, 30),
                      m[2]: day.at(17, 0), m[3]: day.at(17, 0)}
    assert Counter(r.value["outcome"] for r in completed) == Counter(OUTCOMES)
    assert {r.value["assist_id"] for r in completed} == {a["assist_id"] for a in assists}
    assert all(r.headers["ce_wardid"] == ward and r.headers["ce_source"] ==
               f"/wards/{ward}/assist" for r in records)

    published = {r.value["dossier_id"]: r.value for r in dossiers}
    assert len(published) == 80
    assert Counter(v["channel"] for v in published.values())["postal"] > 0
    for dossier_id in after:  # its assist was known: published as assisted, with the link
        assert published[dossier_id]["assisted"] is True
        assert published[dossier_id]["assist_id"] == by_dossier[dossier_id]["assist_id"]
    for dossier_id in before:  # published before its assist: the link is recorded afterwards
        assert published[dossier_id]["assisted"] is False
        linked = (await desk.get(f"/dossiers/{dossier_id}")).json()
        assert linked["assist_id"] == by_dossier[dossier_id]["assist_id"]
        assert any(r.value["dossier_id"] == dossier_id for r in completed)
    assert not any(published[d.dossier_id]["assisted"] for d in unassisted)

    # What the desk page reads back.
    sessions = (await desk.get("/sessions", params={"date": day.date.isoformat()})).json()
    by_id = {s["shift_id"]: s for s in sessions["sessions"]}
    assert len(by_id[day.morning]["checkins"]) == 3
    assert all(c["checked_out_at"] for s in by_id.values() for c in s["checkins"])
    listed = (await desk.get("/assists", params={"date": day.date.isoformat()})).json()["assists"]
    assert len(listed) == 60
    assert json.loads(json.dumps(listed[0]))["ward_id"] == ward
    await desk.aclose()
    await operator.aclose()
