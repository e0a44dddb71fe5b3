"""Plan exports: CSV for Excel, a printable workbook per month, and a volunteer's calendar."""

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from services.roster.domain import Volunteer, plan_rotation
from services.roster.exports import ExportRow, to_csv, to_ics, to_xlsx
from services.roster.importer import parse_roster
from services.roster.reference import (
    CAMPAIGN_END,
    CAMPAIGN_START,
    REFERENCE_WARD,
    reference_roster_csv,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2025, 8, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rows() -> list[ExportRow]:
    roster = parse_roster(reference_roster_csv(), "ban-thach.csv", REFERENCE_WARD)
    names = {m.member_id: m.name for m in roster.members}
    teams = {t.team_id: t.name for t in roster.teams}
    volunteers = [Volunteer(m.member_id, m.team_id, m.unavailable) for m in roster.members]
    plan = plan_rotation(REFERENCE_WARD, list(teams), volunteers, CAMPAIGN_START, CAMPAIGN_END)
    return [
        ExportRow(
            shift_id=s.shift_id,
            date=s.date,
            period=s.period,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            team=teams[s.team_id],
            location=s.location,
            status="scheduled",
            members=tuple(names[m] for m in plan.assignments[s.shift_id]),
        )
        for s in plan.sessions
    ]


def row(**changes) -> ExportRow:
    base = dict(
        shift_id="ban-thach-20250811-morning",
        date=date(2025, 8, 11),
        period="morning",
        starts_at=datetime(2025, 8, 11, 7, 30, tzinfo=HCM),
        ends_at=datetime(2025, 8, 11, 11, 30, tzinfo=HCM),
        team="Đoan Trai",
        members=("Nguyễn Thị Hồng Nhung", "Trần Văn Đức"),
        location="service_center",
        status="scheduled",
    )
    return ExportRow(**{**base, **changes})


def unfold(ics: bytes) -> list[str]:
    return ics.decode("utf-8").replace("\r\n ", "").split("\r\n")[:-1]


# CSV


def test_the_csv_starts_with_a_bom_and_keeps_vietnamese_for_excel(rows):
    content = to_csv(rows)
    assert content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert table[0][:3] == ["Ngày (date)", "Thứ (weekday)", "Buổi (period)"]
    assert len(table) == 1 + 202
    assert table[1][:6] == ["2025-08-11", "Thứ Hai", "Sáng", "07:30", "11:30", "Đoan Trai"]
    assert table[1][6] == "; ".join(rows[0].members)


def test_the_csv_never_lets_a_name_run_as_a_formula():
    content = to_csv([row(team='=HYPERLINK("http://x")', members=("@Lê Văn Tám",))])
    line = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))[1]
    assert line[5].startswith("'=") and line[6] == "'@Lê Văn Tám"


def test_rows_may_be_given_as_mappings():
    as_dict = {**row().__dict__}
    assert to_csv([as_dict]) == to_csv([row()])


# XLSX


def test_the_workbook_has_one_sheet_per_month_and_keeps_vietnamese(rows):
    workbook = load_workbook(io.BytesIO(to_xlsx(rows, "Kế hoạch trực phường Bàn Thạch")))
    assert workbook.sheetnames == ["2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]
    august = workbook["2025-08"]
    assert august.max_row == 1 + 2 * 15  # 11-29 August: 15 working days
    assert august["A2"].value == datetime(2025, 8, 11) and august["A2"].number_format == "DD/MM/YYYY"
    assert august["F2"].value == "Đoan Trai" and august["G2"].value == "; ".join(rows[0].members)
    assert workbook.properties.title == "Kế hoạch trực phường Bàn Thạch"
    assert sum(ws.max_row - 1 for ws in workbook) == 202


def test_each_sheet_prints_on_a4_portrait_fit_to_width_with_the_header_on_every_page(rows):
    workbook = load_workbook(io.BytesIO(to_xlsx(rows, "Bàn Thạch")))
    for sheet in workbook:
        assert sheet["A1"].font.bold and sheet["A1"].value == "Ngày (date)"
        assert sheet.column_dimensions["G"].width > sheet.column_dimensions["B"].width
        assert int(sheet.page_setup.paperSize) == 9  # A4
        assert sheet.page_setup.orientation == "portrait"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.print_title_rows == "$1:$1"
        assert sheet.freeze_panes == "A2"


def test_text_that_looks_like_a_formula_stays_text_in_the_workbook():
    workbook = load_workbook(io.BytesIO(to_xlsx([row(team="=1+1")], "x")))
    assert workbook["2025-08"]["F2"].value == "=1+1"
    assert workbook["2025-08"]["F2"].data_type == "s"


def test_an_empty_plan_still_gives_a_workbook_with_its_header():
    workbook = load_workbook(io.BytesIO(to_xlsx([], "Bàn Thạch")))
    assert workbook.sheetnames == ["Kế hoạch"] and workbook.active.max_row == 1


# iCalendar


def test_every_ics_line_ends_with_crlf_and_is_at_most_75_octets(rows):
    long_team = row(team="Tổ công nghệ số cộng đồng Tổ dân phố Mỹ Thạch Tây, phường Bàn Thạch")
    content = to_ics("Nguyễn Thị Hồng Nhung", [*rows[:20], long_team], "Lịch trực", now=NOW)
    assert content.endswith(b"\r\n") and b"\n" not in content.replace(b"\r\n", b"")
    physical = content.split(b"\r\n")[:-1]
    assert max(len(line) for line in physical) <= 75
    assert any(line.startswith(b" ") for line in physical)
    for line in physical:
        line.decode("utf-8")  # folding never splits a Vietnamese character


def test_the_ics_parses_into_one_event_per_session_in_utc():
    content = to_ics(
        "Nguyễn Thị Hồng Nhung",
        [
            row(),
            row(
                shift_id="x-2",
                period="afternoon",
                starts_at=datetime(2025, 8, 11, 13, 30, tzinfo=HCM),
                ends_at=datetime(2025, 8, 11, 17, 0, tzinfo=HCM),
            ),
        ],
        "Lịch trực",
        now=NOW,
    )
    lines = unfold(content)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(line.startswith("PRODID:") for line in lines)
    depth, events = 0, []
    for line in lines:
        name, _, value = line.partition(":")
        assert name and value, line
        if name == "BEGIN":
            depth += 1
            events.append({}) if value == "VEVENT" else None
        elif name == "END":
            depth -= 1
        elif depth == 2:
            events[-1][name] = value
    assert depth == 0 and len(events) == 2
    first = events[0]
    assert first["UID"] == "ban-thach-20250811-morning@cdt-desk"
    assert (first["DTSTART"], first["DTEND"]) == ("20250811T003000Z", "20250811T043000Z")
    assert first["DTSTAMP"] == "20250801T090000Z"
    assert first["SUMMARY"] == "Trực bàn hỗ trợ - Buổi sáng"
    assert events[1]["SUMMARY"] == "Trực bàn hỗ trợ - Buổi chiều"
    assert first["LOCATION"] == "Trung tâm Phục vụ hành chính công"


def test_ics_text_is_escaped():
    content = to_ics(
        "Lê Văn Tám", [row(team="Tổ 1, khu A; phía Nam", status="cancelled")], "Lịch; trực", now=NOW
    )
    lines = unfold(content)
    assert "X-WR-CALNAME:Lịch\\; trực" in lines
    description = next(line for line in lines if line.startswith("DESCRIPTION:"))
    assert "Tổ: Tổ 1\\, khu A\\; phía Nam\\nThành viên:" in description
    assert "STATUS:CANCELLED" in lines
