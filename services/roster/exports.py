"""The plan as files people open: CSV and XLSX for the ward office, iCalendar for a volunteer."""

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from itertools import groupby
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

WARD_TIMEZONE = "Asia/Ho_Chi_Minh"
PERIODS = {"morning": "Sáng", "afternoon": "Chiều", "evening": "Tối"}
LOCATIONS = {
    "service_center": "Trung tâm Phục vụ hành chính công",
    "cultural_house": "Nhà văn hóa",
    "other": "Khác",
}
STATUSES = {
    "scheduled": "Đã lên lịch",
    "staffed": "Đủ người",
    "understaffed": "Thiếu người",
    "unstaffable": "Không đủ người",
    "cancelled": "Đã hủy",
}
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
COLUMNS = (
    ("Ngày (date)", 12),
    ("Thứ (weekday)", 10),
    ("Buổi (period)", 8),
    ("Bắt đầu (starts)", 9),
    ("Kết thúc (ends)", 9),
    ("Tổ (team)", 18),
    ("Thành viên (members)", 44),
    ("Số người (staff)", 8),
    ("Địa điểm (location)", 22),
    ("Trạng thái (status)", 14),
    ("Mã buổi (shift id)", 30),
)


@dataclass(frozen=True)
class ExportRow:
    shift_id: str
    date: date
    period: str
    starts_at: datetime
    ends_at: datetime
    team: str
    members: tuple[str, ...]
    location: str
    status: str


def _rows(rows: Iterable[ExportRow | Mapping]) -> list[ExportRow]:
    names = [f.name for f in fields(ExportRow)]
    out = [r if isinstance(r, ExportRow) else ExportRow(**{n: r[n] for n in names}) for r in rows]
    return sorted(out, key=lambda r: (r.starts_at, r.shift_id))


def _values(row: ExportRow, tz: ZoneInfo) -> list:
    return [
        row.date,
        WEEKDAYS[row.date.weekday()],
        PERIODS.get(row.period, row.period),
        f"{row.starts_at.astimezone(tz):%H:%M}",
        f"{row.ends_at.astimezone(tz):%H:%M}",
        row.team,
        "; ".join(row.members),
        len(row.members),
        LOCATIONS.get(row.location, row.location),
        STATUSES.get(row.status, row.status),
        row.shift_id,
    ]


def _inert(value: object) -> object:
    # Excel runs a CSV cell starting with = + - @ as a formula; a name must never run.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_csv(rows: Iterable[ExportRow | Mapping], *, timezone: str = WARD_TIMEZONE) -> bytes:
    """The plan as CSV with a BOM, so that Excel shows the Vietnamese names correctly."""
    tz = ZoneInfo(timezone)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(title for title, _ in COLUMNS)
    for row in _rows(rows):
        values = _values(row, tz)
        values[0] = row.date.isoformat()
        writer.writerow(_inert(v) for v in values)
    return out.getvalue().encode("utf-8-sig")


def _sheet(workbook: Workbook, name: str, title: str, rows: list[ExportRow], tz: ZoneInfo):
    sheet = workbook.create_sheet(name)
    sheet.append([heading for heading, _ in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for index, (_, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = width
    for row in rows:
        sheet.append(_values(row, tz))
        line = sheet.max_row
        for cell in sheet[line]:
            if cell.data_type == "f":
                cell.data_type = "s"  # text that looks like a formula stays text
        sheet.cell(line, 1).number_format = "DD/MM/YYYY"
        sheet.cell(line, 7).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    sheet.print_title_rows = "1:1"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_PORTRAIT
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.oddHeader.center.text = f"{title} - {name}"
    sheet.oddFooter.center.text = "Trang &P / &N"


def to_xlsx(rows: Iterable[ExportRow | Mapping], title: str, *, timezone: str = WARD_TIMEZONE) -> bytes:
    """The plan as a workbook with one printable sheet per month, named like "2025-08"."""
    tz = ZoneInfo(timezone)
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.title = title
    ordered = _rows(rows)
    for month, group in groupby(ordered, key=lambda r: f"{r.date:%Y-%m}"):
        _sheet(workbook, month, title, list(group), tz)
    if not ordered:
        _sheet(workbook, "Kế hoạch", title, [], tz)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "")


def _fold(line: str) -> bytes:
    """Split a content line into lines of at most 75 octets, never inside a UTF-8 character."""
    parts: list[bytes] = []
    current = b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > 75:
            parts.append(current)
            current = b" "
        current += encoded
    parts.append(current)
    return b"\r\n".join(parts) + b"\r\n"


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def to_ics(
    member_name: str,
    rows: Iterable[ExportRow | Mapping],
    calendar_name: str,
    *,
    now: datetime | None = None,
) -> bytes:
    """A volunteer's sessions as an iCalendar file (RFC 5545) their phone can subscribe to."""
    stamp = _utc(now or datetime.now(UTC))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//CDT Desk//Roster//VI",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(calendar_name)}",
        f"X-WR-CALDESC:{_escape(f'Lịch trực của {member_name}')}",
    ]
    for row in _rows(rows):
        what = "Trực bàn hỗ trợ" if row.location == "service_center" else "Hỗ trợ cộng đồng"
        period = PERIODS.get(row.period, row.period).lower()
        details = f"Tổ: {row.team}\nThành viên: {', '.join(row.members)}\nMã buổi: {row.shift_id}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{row.shift_id}@cdt-desk",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_utc(row.starts_at)}",
            f"DTEND:{_utc(row.ends_at)}",
            f"SUMMARY:{_escape(f'{what} - Buổi {period}')}",
            f"LOCATION:{_escape(LOCATIONS.get(row.location, row.location))}",
            f"DESCRIPTION:{_escape(details)}",
            f"STATUS:{'CANCELLED' if row.status == 'cancelled' else 'CONFIRMED'}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return b"".join(_fold(line) for line in lines)
