"""A dossier counts as submitted with desk help whichever arrives first: it, or its assist."""

from __future__ import annotations

from datetime import datetime

import pytest
from reporting_harness import apply_batch, fake_runtime

from services.reporting.report import build_report
from shared.events.assist import (
    AssistCompleted,
    AssistCompletedData,
    DossierReceived,
    DossierReceivedData,
)
from tests.integration.reporting.simulation import TZ

WARD = "tam-thanh"
AT = datetime(2025, 10, 6, 8, 30, tzinfo=TZ)


def _dossier(assisted: bool) -> DossierReceived:
    return DossierReceived.create(DossierReceivedData(
        ward_id=WARD, dossier_id="H49.25-251006-0001", procedure_code="1.001193",
        field="civil_status", channel="online", received_at=AT, assisted=assisted,
        eligible_fully_online=True, fully_online=True), service="assist")


def _assist() -> AssistCompleted:
    return AssistCompleted.create(AssistCompletedData(
        ward_id=WARD, assist_id="a-1", member_ids=["m-1"], venue="service_center",
        field="civil_status", actions=["form_filling"], outcome="submitted_online",
        dossier_id="H49.25-251006-0001", started_at=AT.replace(minute=10), ended_at=AT),
        service="assist")


@pytest.mark.parametrize("order", ["dossier_first", "assist_first", "same_batch", "twice"])
async def test_a_dossier_is_assisted_once_in_any_order(conn, order: str) -> None:
    runtime = fake_runtime("wall", datetime(2030, 1, 1, tzinfo=TZ))
    dossier, assist = _dossier(assisted=False), _assist()
    batches = {"dossier_first": [[dossier], [assist]], "assist_first": [[assist], [dossier]],
               "same_batch": [[dossier, assist]],
               "twice": [[dossier], [assist], [_assist()], [_dossier(assisted=True)]]}[order]
    for batch in batches:
        await apply_batch(runtime, conn, batch)
    report = await build_report(conn, WARD, target=0.8)
    assert report["volunteers"]["dossiers_online_assisted"] == 1
    assert report["online"]["dossiers"] == 1
    totals = await conn.fetchval("SELECT sum(assisted) FROM rp_dossier_totals WHERE ward_id = $1",
                                 WARD)
    assert totals == 1


async def test_a_dossier_without_an_assist_is_not_assisted(conn) -> None:
    runtime = fake_runtime("wall", datetime(2030, 1, 1, tzinfo=TZ))
    await apply_batch(runtime, conn, [_dossier(assisted=False)])
    report = await build_report(conn, WARD, target=0.8)
    assert report["volunteers"]["dossiers_online_assisted"] == 0


