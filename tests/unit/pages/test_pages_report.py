"""The report page: the period picker, the sessions calendar, every table as CSV, and the page
itself rendered from a report (figures, chart, marks readable without colour, escaping)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest

from services.reporting.pages import KIT, parse_period
from services.reporting.web import calendar, tables, view
from shared.web import charts

REPORT = {
    "ward_id": "ban-thach", "period": {"from": "2025-09-01", "to": "2025-09-14"},
    "campaign": {"from": "2025-08-11", "to": "2025-12-31"}, "target": 0.8,
    "online": {"dossiers": 10, "online": 7, "online_ratio": 0.7, "eligible": 4, "fully_online": 2,
               "fully_online_ratio": 0.5, "meets_target": False},
    "by_channel": {"online": 7, "in_person": 2, "postal": 1},
    "by_field": [{"field": "civil_status", "dossiers": 6, "online": 5, "online_ratio": 5 / 6,
                  "eligible": 4, "fully_online": 2, "fully_online_ratio": 0.5},
                 {"field": "land", "dossiers": 4, "online": 2, "online_ratio": 0.5,
                  "eligible": 0, "fully_online": 0, "fully_online_ratio": None}],
    "by_week": [{"week": "2025-W36", "from": "2025-09-01", "to": "2025-09-07", "dossiers": 4,
                 "online": 4, "online_ratio": 1.0, "eligible": 0, "fully_online": 0,
                 "fully_online_ratio": None, "meets_target": True},
                {"week": "2025-W37", "from": "2025-09-08", "to": "2025-09-14", "dossiers": 6,
                 "online": 3, "online_ratio": 0.5, "eligible": 0, "fully_online": 0,
                 "fully_online_ratio": None, "meets_target": False}],
    "by_month": [],
    "staffing": {"staffed": 2, "understaffed": 1, "pending": 1, "cancelled": 1, "scheduled": 4,
                 "staffed_ratio": 2 / 3},
    "assists": {"total": 6, "submitted_online": 3, "referred_to_counter": 2, "not_completed": 1,
                "by_venue": {"service_center": 6}, "duration_seconds": 5400.0,
                "average_minutes": 15.0, "rated": 2, "satisfied": 1, "satisfaction_ratio": 0.5,
                "vneid_blocked": 1},
    "volunteers": {"assists_submitted_online": 3, "dossiers_online_assisted": 2,
                   "share_of_online_dossiers": 2 / 7, "hours": 12.5, "member_sessions": 5},
    "teams": [{"team_id": "doan-trai", "name": "Tổ <Đoan> & \"Trai\"", "hamlet": "Đoan Trai",
               "hours": 12.5, "sessions": 3, "members": 7, "member_sessions": 5}],
    "members": [{"member_id": "hoa", "display_name": "Nguyễn Thị Hoa", "team_id": "doan-trai",
                 "team": "Tổ <Đoan> & \"Trai\"", "hours": 6.25, "sessions": 3, "no_shows": 0}],
    "not_online_reasons": [{"reason": "referred_to_counter", "assists": 2, "share": 2 / 3},
                           {"reason": "missing_documents", "assists": 1, "share": 1 / 3}],
}


def shift(shift_id: str, day: str, period: str, status: str) -> dict:
    hour = {"morning": "07", "afternoon": "13"}[period]
    return {"shift_id": shift_id, "date": day, "period": period,
            "starts_at": f"{day}T{hour}:30:00+07:00", "ends_at": f"{day}T11:30:00+07:00",
            "location": "service_center", "team_id": "doan-trai", "team": "Tổ Đoan Trai",
            "min_staff": 2, "on_time": 2, "status": status}


SESSIONS = [shift("s1", "2025-09-01", "afternoon", "staffed"),
            shift("s2", "2025-09-01", "morning", "understaffed"),
            shift("s3", "2025-09-03", "morning", "cancelled"),
            shift("s4", "2025-09-12", "morning", "pending")]


@pytest.mark.parametrize(("raw_from", "raw_to", "errors"), [
    (None, None, {}), ("2025-09-01", "2025-09-14", {}), ("2025-13-01", None, {"from": "picker.bad_date"}),
    ("2025-09-14", "2025-09-01", {"from": "picker.order"}),
    ("2020-01-01", "2025-01-01", {"to": "picker.too_long"}), ("", "", {})])
def test_the_period_picker_names_the_field_at_fault(raw_from, raw_to, errors) -> None:
    assert parse_period(raw_from, raw_to)[2] == errors


def test_the_calendar_has_weeks_from_monday_and_sessions_in_time_order() -> None:
    grid = calendar.calendar(SESSIONS, date(2025, 9, 2), date(2025, 9, 12))
    assert grid.weekdays == [0, 1, 2, 3, 4]
    assert [monday for monday, _ in grid.weeks] == [date(2025, 9, 1), date(2025, 9, 8)]
    first_day = grid.weeks[0][1][0]
    assert first_day.day == date(2025, 9, 1) and not first_day.in_period  # before "from"
    assert [s["shift_id"] for s in first_day.sessions] == ["s2", "s1"]
    assert grid.weeks[1][1][4].sessions[0]["status"] == "pending"


def test_a_weekend_session_adds_its_column_and_a_long_period_keeps_its_last_weeks() -> None:
    grid = calendar.calendar([shift("s", "2025-09-06", "morning", "staffed")],
                             date(2025, 1, 1), date(2025, 12, 31), max_weeks=10)
    assert grid.weekdays == [0, 1, 2, 3, 4, 5] and grid.truncated and len(grid.weeks) == 10


@pytest.mark.parametrize("table", tables.TABLES)
def test_every_table_downloads_as_csv_with_a_bom(table: str) -> None:
    text = tables.to_csv(REPORT, SESSIONS, table)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] and all(len(r) == len(rows[0]) for r in rows)


def test_csv_rows_hold_the_reports_numbers_and_names_unchanged() -> None:
    rows = list(csv.reader(io.StringIO(tables.to_csv(REPORT, SESSIONS, "outcomes")[1:])))
    assert rows == [["outcome", "assists"], ["submitted_online", "3"],
                    ["referred_to_counter", "2"], ["not_completed", "1"]]
    teams = list(csv.reader(io.StringIO(tables.to_csv(REPORT, SESSIONS, "teams")[1:])))
    assert teams[1][:4] == ["doan-trai", "Tổ <Đoan> & \"Trai\"", "Đoan Trai", "12.5"]
    weeks = list(csv.reader(io.StringIO(tables.to_csv(REPORT, SESSIONS, "by_week")[1:])))
    assert weeks[2] == ["2025-W37", "2025-09-08", "2025-09-14", "6", "3", "0.5", "false"]


def render(report: dict | None = REPORT, lang: str = "vi", **overrides) -> str:  # type: ignore[no-untyped-def]
    t = KIT.texts.translator(lang)
    start, end = date(2025, 9, 1), date(2025, 9, 14)
    context = dict(
        t=t, lang=lang, other_lang="en", lang_switch_url="/x", ward="ban-thach", report=report,
        errors={}, picked={"from": "", "to": ""}, start=start, end=end, sessions=SESSIONS,
        calendar=calendar.calendar(SESSIONS, start, end), statuses=calendar.STATUSES,
        channels=tables.CHANNELS, outcomes=tables.OUTCOMES,
        outcome_counts=[REPORT["assists"][o] for o in tables.OUTCOMES],
        fills=("solid", "hatch", "dots"), top_reasons=5, period_query="from=2025-09-01",
        weeks_chart=view.weeks_chart(REPORT, t, lang), defs=charts.defs(),
        weekday_name=lambda wd: ["T2", "T3", "T4", "T5", "T6", "T7", "CN"][wd],
        printed_at="2025-09-15 08:00")
    context.update(overrides)
    return KIT.env.get_template("report.html").render(**context)


def test_the_page_shows_the_figures_as_a_vietnamese_reader_writes_them() -> None:
    html = render()
    assert re.search(r'id="fig-online-ratio">.*?<span class="value">70%</span>', html, re.S)
    assert "✕ Chưa đạt mục tiêu" in html and "Mục tiêu 80%" in html
    assert re.search(r'id="fig-hours">.*?<span class="value">12,5</span>', html, re.S)
    assert '<td class="num">83,3%</td>' in html  # civil status: 5 of 6 online
    assert 'Tuần 37<span class="block small">08/09–14/09</span>' in html


def test_the_weekly_chart_has_the_target_line_and_a_label_per_week() -> None:
    chart = str(view.weeks_chart(REPORT, KIT.texts.translator("vi"), "vi"))
    assert chart.count('class="target"') == 1
    assert re.findall(r'class="value"[^>]*>([^<]*)<', chart) == ["100%", "50%"]
    assert "T36" in chart and "01/09" in chart


def test_calendar_marks_read_without_colour() -> None:
    html = render()
    marks = dict(re.findall(r'data-shift="(s\d)" data-status="\w+"><b aria-hidden="true">(.)</b>',
                            html))
    assert marks == {"s1": "✔", "s2": "!", "s3": "✕", "s4": "…"}
    assert '<span class="sr-only">: Thiếu người · Tổ Đoan Trai</span>' in html
    for label in ("✔</b> Đủ người", "!</b> Thiếu người", "✕</b> Đã hủy", "…</b> Chưa đến hạn"):
        assert label in html  # the legend


def test_every_table_has_a_csv_link_for_the_same_period() -> None:
    html = render()
    links = set(re.findall(r'/wards/ban-thach/report/tables/(\w+)\.csv\?from=2025-09-01', html))
    assert links == set(tables.TABLES)


def test_team_names_are_escaped() -> None:
    html = render()
    assert "Tổ &lt;Đoan&gt; &amp; &#34;Trai&#34;" in html and "<Đoan>" not in html


def test_the_period_errors_show_next_to_the_picker_and_no_figures() -> None:
    html = render(None, errors={"from": "picker.order"}, picked={"from": "2025-09-14",
                                                                  "to": "2025-09-01"})
    assert 'id="from-error">Ngày bắt đầu phải trước ngày kết thúc.' in html
    assert 'aria-invalid="true" aria-describedby="from-error"' in html
    assert "fig-online-ratio" not in html and 'value="2025-09-14"' in html


def test_the_page_prints_on_a4_and_reads_in_english() -> None:
    from shared.web.render import STATIC

    css = (STATIC / "cdt-web.css").read_text()
    assert "@media print" in css and "size: A4" in css
    html = render(lang="en")
    assert "Online ratio by week" in html and "Volunteer hours by team" in html
