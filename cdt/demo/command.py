"""`cdt demo`: the whole system on embedded defaults, playing the Bàn Thạch campaign."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict
from datetime import date
from pathlib import Path

from faststream.kafka.security import parse_security
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdt import serving
from cdt.demo.driver import CampaignDriver, DemoError, Totals
from cdt.demo.report import print_campaign_report
from cdt.output import console, fail
from cdt.system import print_addresses, running_system
from services.roster.domain import PlanRules, working_days
from services.roster.reference import CAMPAIGN_END, CAMPAIGN_START, REFERENCE_WARD
from shared.messaging import kafka_security


def campaign_end(days: int | None) -> date:
    """The last day played: the campaign's, or that of its first `days` working days."""
    if not days:
        return CAMPAIGN_END
    open_days = working_days(CAMPAIGN_START, CAMPAIGN_END, PlanRules())
    return open_days[min(days, len(open_days)) - 1]


async def _play(driver: CampaignDriver, total_days: int) -> tuple[Totals, dict]:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[day]}"), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("Nhập danh sách, lập lịch / roster and plan", total=total_days,
                                 day="")
        try:
            shifts = await driver.prepare()
            progress.update(task, description="Chiến dịch / campaign")

            def on_day(day: date, done: int) -> None:
                progress.update(task, completed=done, day=f"{day:%d/%m/%Y}")

            totals = await driver.play(shifts, on_day)
            progress.update(task, description="Chờ báo cáo / waiting for reporting")
            report = await driver.wait_for_reporting()
        finally:
            await driver.close()
    return totals, report


def run_demo(*, days: int | None, speed: float, seed: int, wait: bool,
             report_json: Path | None = None) -> None:
    # The services decide "now" from the data (the simulated 2025 dates), not the wall clock.
    os.environ["CDT_CLOCK"] = "watermark"
    with running_system("demo") as (running, settings, token):
        assert running.infra is not None
        end = campaign_end(days)
        driver = CampaignDriver(urls=running.urls, token=token,
                                kafka_bootstrap=running.infra.kafka_bootstrap,
                                ward=REFERENCE_WARD, start=CAMPAIGN_START, end=end, seed=seed,
                                speed=speed,
                                kafka_security=parse_security(kafka_security(settings)))
        total_days = len(working_days(CAMPAIGN_START, end, PlanRules()))
        try:
            totals, report = asyncio.run(_play(driver, total_days))
        except DemoError as exc:
            fail(f"demo: {exc}")
        print_campaign_report(report, totals)
        if report_json is not None:
            report_json.write_text(json.dumps({"report": report, "totals": asdict(totals)},
                                              default=str, ensure_ascii=False, indent=2))
        print_addresses(running)
        if wait:
            console.print("Ctrl-C dừng / stops everything.")
            serving.wait_for_interrupt(running)
