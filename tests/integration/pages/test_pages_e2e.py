"""A volunteer on a phone checks in, logs three citizens helped and checks out; the ward leader's
report page then shows exactly what `cdt report` says. Headless Chromium, real services."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timedelta

import httpx
import pytest

from services.assist.domain import WARD_TZ
from shared.web.i18n import number, percent
from tests.conftest import ROOT

from .conftest import MEMBERS, Ward, wait_until

pytestmark = pytest.mark.integration
expect = pytest.importorskip("playwright.async_api").expect
HOA, BINH = list(MEMBERS)[:2]
DOSSIER = "H46.25-E2E001"


async def sign_in(browser, url: str, width: int = 360, **options):  # type: ignore[no-untyped-def]
    context = await browser.new_context(viewport={"width": width, "height": 800},
                                        locale="vi-VN", **options)
    page = await context.new_page()
    page.problems = []  # console errors (a refused stylesheet or script would show here)
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    await page.goto(url)
    return context, page


async def choose(page, member_id: str) -> None:  # type: ignore[no-untyped-def]
    await page.select_option("#member_id", member_id)
    await page.get_by_role("button", name="Đây là tôi").click()
    await expect(page.locator("#me")).to_contain_text(MEMBERS[member_id])


async def tile(page, text: str) -> None:  # type: ignore[no-untyped-def]
    """Tap a big choice button (a radio input's label) or a face."""
    await page.locator("label.choice, label.face").get_by_text(text, exact=True).click()


async def saved(page, count: int) -> None:  # type: ignore[no-untyped-def]
    await expect(page.get_by_role("status")).to_have_text("Đã lưu. Cảm ơn bạn!")
    await expect(page.locator("#log")).to_contain_text(f"Hôm nay bạn đã ghi nhận {count} lượt.")


async def cdt_report(ward: Ward) -> dict:
    env = {**os.environ, "CDT_REPORTING_URL": ward.reporting.url,
           "CDT_TOKEN": await ward.token(ward.ward_id, "viewer"), "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cdt", "report", "--ward", ward.ward_id, "--format", "json",
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def import_dossiers(ward: Ward) -> None:
    """Five dossiers of today from the provincial system, the assisted one among them."""
    now = datetime.now(WARD_TZ) - timedelta(minutes=1)
    rows = [(DOSSIER, "online", "civil_status"), ("H46.25-E2E002", "online", "residence"),
            ("H46.25-E2E003", "online", "civil_status"), ("H46.25-E2E004", "in_person", "land"),
            ("H46.25-E2E005", "postal", "land")]
    body = "\n".join(json.dumps({"dossier_id": d, "procedure_code": "1.001193", "field": f,
                                 "channel": c, "received_at": now.isoformat()})
                     for d, c, f in rows)
    token = await ward.token(ward.ward_id, "operator")
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(f"{ward.assist.url}/wards/{ward.ward_id}/dossiers/import",
                                 params={"format": "jsonl"}, content=body,
                                 headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


async def test_a_volunteer_checks_in_logs_three_citizens_checks_out_and_the_report_shows_it(
        ward: Ward, browser, shots) -> None:
    w = ward.ward_id
    desk_token = await ward.token(w, "desk")
    context, page = await sign_in(browser, f"{ward.assist.url}/desk?token={desk_token}")
    # The link signs in and lands on the ward's desk page without the token in the address.
    assert page.url == f"{ward.assist.url}/wards/{w}/desk"
    cookie = next(c for c in await context.cookies() if c["name"] == "cdt_token")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict",
                                                                         f"/wards/{w}/desk")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")

    # Names come out as written: diacritics kept, HTML's special characters never markup.
    await expect(page.locator("#member_id option[value='ban-thach-an']")).to_have_text(
        MEMBERS["ban-thach-an"])
    await choose(page, HOA)
    await page.get_by_role("button", name="Điểm danh vào ca").click()
    await expect(page.get_by_role("status")).to_contain_text("Đã điểm danh")
    await expect(page.locator("#sessions")).to_contain_text("Nguyễn Thị Hoa · vào")

    # 1: birth registration submitted online; without the dossier code the error is next to it.
    await tile(page, "Khai sinh, hộ tịch")
    await page.get_by_label("Đăng nhập VNeID").check()
    await page.get_by_label("Điền tờ khai").check()
    await tile(page, "Đã nộp trực tuyến")
    await page.get_by_role("button", name="Lưu", exact=True).click()
    await expect(page.locator("#dossier_id-error")).to_have_text(
        "Nhập mã hồ sơ khi đã nộp trực tuyến.")
    await expect(page.locator("#dossier_id")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_role("radio", name="Khai sinh, hộ tịch")).to_be_checked()
    await page.get_by_label("Mã hồ sơ").fill(DOSSIER)
    await tile(page, "Rất hài lòng")
    await page.get_by_role("button", name="Lưu", exact=True).click()
    await saved(page, 1)
    # 2: residence, referred to the counter, no rating.
    await tile(page, "Cư trú")
    await page.get_by_label("Tra cứu hồ sơ").check()
    await tile(page, "Chuyển quầy tiếp nhận")
    await page.get_by_role("button", name="Lưu", exact=True).click()
    await saved(page, 2)
    # 3: land, not completed: the reason is asked for, in Vietnamese, next to it.
    await tile(page, "Đất đai")
    await page.get_by_label("Chỉ hướng dẫn, tư vấn").check()
    await tile(page, "Chưa hoàn thành")
    await page.get_by_role("button", name="Lưu", exact=True).click()
    await expect(page.locator("#reason-error")).to_have_text("Chọn lý do chưa hoàn thành.")
    await tile(page, "Thiếu giấy tờ")
    await tile(page, "Bình thường")
    await page.get_by_role("button", name="Lưu", exact=True).click()
    await saved(page, 3)
    await page.screenshot(path=shots / "desk-360.png", full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.screenshot(path=shots / "desk-1280.png", full_page=True)
    await page.set_viewport_size({"width": 360, "height": 800})

    # A second volunteer checks in with the keyboard only: Tab to the button, Enter.
    other, keyboard = await sign_in(browser, f"{ward.assist.url}/desk?token={desk_token}")
    await choose(keyboard, BINH)
    await keyboard.reload()
    for _ in range(40):
        await keyboard.keyboard.press("Tab")
        if await keyboard.evaluate("document.activeElement.classList.contains('checkin')"):
            break
    else:
        raise AssertionError("Tab never reached the check-in button")
    await keyboard.keyboard.press("Enter")
    await expect(keyboard.get_by_role("status")).to_contain_text("Đã điểm danh")
    await expect(keyboard.locator("#sessions")).to_contain_text("Lê Văn Bình · vào")
    await other.close()

    await page.get_by_role("button", name="Kết thúc ca (ra về)").click()
    await expect(page.get_by_role("status")).to_contain_text("Đã ghi nhận bạn ra về")
    await expect(page.locator("#sessions")).to_contain_text("Bạn đã ra về lúc")
    assert not [p for p in page.problems if "Content Security Policy" in p], page.problems
    await context.close()

    await import_dossiers(ward)
    viewer = {"Authorization": f"Bearer {await ward.token(w, 'viewer')}"}
    async with httpx.AsyncClient(timeout=10, headers=viewer) as http:
        async def settled() -> dict | None:
            report = (await http.get(f"{ward.reporting.url}/wards/{w}/report")).json()
            done = (report["assists"]["total"] == 3 and report["online"]["dossiers"] == 5
                    and report["staffing"]["staffed"] == 1 and report["volunteers"]["hours"] > 0)
            return report if done else None

        await wait_until(settled, 40, "the reporting service has the desk's day")
        sessions = (await http.get(f"{ward.reporting.url}/wards/{w}/report/sessions")).json()

    expected = await cdt_report(ward)
    assert expected["assists"]["total"] == 3
    assert [expected["assists"][o] for o in ("submitted_online", "referred_to_counter",
                                             "not_completed")] == [1, 1, 1]
    context, page = await sign_in(browser, f"{ward.reporting.url}/report?token="
                                  f"{await ward.token(w, 'viewer')}", width=1280)
    assert page.url == f"{ward.reporting.url}/wards/{w}/report/page"
    await check_report_page(page, expected, sessions["sessions"])
    csv = await context.request.get(f"{ward.reporting.url}/wards/{w}/report/tables/outcomes.csv")
    assert csv.status == 200
    assert (await csv.text()).splitlines() == [
        "\ufeffoutcome,assists", "submitted_online,1", "referred_to_counter,1", "not_completed,1"]
    await page.screenshot(path=shots / "report-1280.png", full_page=True)
    await page.set_viewport_size({"width": 360, "height": 800})
    await page.reload()
    await page.screenshot(path=shots / "report-360.png", full_page=True)
    assert not page.problems, page.problems
    await context.close()


async def cell(page, table: str, key: str, column: int = 0) -> str:  # type: ignore[no-untyped-def]
    return (await page.locator(f"#table-{table} tr[data-key='{key}'] td.num")
            .nth(column).inner_text()).strip()


async def check_report_page(page, report: dict, sessions: list[dict]) -> None:  # type: ignore[no-untyped-def]
    """Every figure on the page is the `cdt report` figure, as a Vietnamese reader writes it."""
    online = report["online"]
    assert (await page.locator("#fig-online-ratio .value").inner_text()) == percent(
        online["online_ratio"], "vi")
    assert (await page.locator("#fig-dossiers .value").inner_text()) == str(online["dossiers"])
    assert (await page.locator("#fig-assists .value").inner_text()) == str(
        report["assists"]["total"])
    assert (await page.locator("#fig-hours .value").inner_text()) == number(
        report["volunteers"]["hours"], "vi", 1)
    for outcome in ("submitted_online", "referred_to_counter", "not_completed"):
        assert await cell(page, "outcomes", outcome) == str(report["assists"][outcome])
    assert await cell(page, "outcomes", "total") == str(report["assists"]["total"])
    for channel, dossiers in report["by_channel"].items():
        assert await cell(page, "by_channel", channel) == str(dossiers)
    for row in report["by_field"]:
        assert await cell(page, "by_field", row["field"]) == str(row["dossiers"])
        assert await cell(page, "by_field", row["field"], 2) == percent(row["online_ratio"], "vi")
    for status in ("scheduled", "staffed", "understaffed", "pending", "cancelled"):
        assert await cell(page, "staffing", status) == str(report["staffing"][status])
    for row in report["not_online_reasons"]:
        assert await cell(page, "reasons", row["reason"]) == str(row["assists"])
    for row in report["teams"]:
        assert await cell(page, "teams", row["team_id"]) == number(row["hours"], "vi", 1)
    for row in report["by_week"]:
        assert await cell(page, "by_week", row["week"], 2) == percent(row["online_ratio"], "vi")
    # The chart: one bar and one value label per week, and the dashed 80% line.
    labels = await page.locator("svg.ratio-bars text.value").all_text_contents()
    assert labels == [percent(row["online_ratio"], "vi") for row in report["by_week"]]
    assert await page.locator("svg.ratio-bars line.target[stroke-dasharray]").count() == 1
    # The calendar marks each session with its status.
    for session in sessions:
        mark = page.locator(f"#calendar [data-shift='{session['shift_id']}']")
        assert await mark.get_attribute("data-status") == session["status"]
    assert [s["status"] for s in sessions] == ["staffed"]
    assert await page.locator("#calendar [data-status='staffed']").inner_text() != ""
    # Names with diacritics and HTML's special characters come out as written, never as markup.
    assert "Tổ Đoan Trai" in await page.locator("#table-teams").inner_text()


# Accessibility: axe-core in the same browser. Its script is injected, so these contexts bypass
# the pages' Content-Security-Policy (the scenario above runs with it enforced).



async def axe(page, script) -> list[dict]:  # type: ignore[no-untyped-def]
    await page.add_script_tag(path=str(script))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations', 'passes']})")
    ran = {rule["id"] for rule in result["passes"] + result["violations"]}
    assert {"label", "color-contrast"} <= ran, "axe did not check labels and contrast"
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["violations"]]


@pytest.mark.parametrize("width", [360, 1280])
async def test_the_desk_page_passes_axe(ward: Ward, browser, axe_script, width: int) -> None:
    token = await ward.token(ward.ward_id, "desk")
    context, page = await sign_in(browser, f"{ward.assist.url}/desk?token={token}", width,
                                  bypass_csp=True)
    found: dict[str, list] = {}
    await choose(page, list(MEMBERS)[2])
    found["desk"] = await axe(page, axe_script)
    # With errors next to the fields and the outcome's own parts shown.
    await tile(page, "Chưa hoàn thành")
    await page.get_by_role("button", name="Lưu", exact=True).click()
    await expect(page.locator("#field-error")).to_be_visible()
    found["desk with errors"] = await axe(page, axe_script)
    await page.goto(f"{ward.assist.url}/desk")
    found["sign-in"] = await axe(page, axe_script)
    await context.close()
    assert found == {name: [] for name in found}


@pytest.mark.parametrize("width", [360, 1280])
async def test_the_report_page_passes_axe(ward: Ward, browser, axe_script, width: int) -> None:
    token = await ward.token(ward.ward_id, "viewer")
    context, page = await sign_in(browser, f"{ward.reporting.url}/report?token={token}", width,
                                  bypass_csp=True)
    found = {"report": await axe(page, axe_script)}
    await page.goto(f"{ward.reporting.url}/wards/{ward.ward_id}/report/page?from=2025-13-01")
    found["report with errors"] = await axe(page, axe_script)
    await context.close()
    assert found == {"report": [], "report with errors": []}
