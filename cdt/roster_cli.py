"""`cdt roster`: import a ward's teams and members, plan the desk rotation, list and change it."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from cdt.client import Client
from cdt.output import console, fail

app = typer.Typer(help="Tổ CNSCĐ: teams, members and the desk rotation of a ward (roster service).",
                  no_args_is_help=True)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERIODS = {"morning": "Sáng", "afternoon": "Chiều", "evening": "Tối"}
WEEKDAYS = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")
STATUSES = {"scheduled": "Đã lên lịch", "unstaffable": "Thiếu người", "cancelled": "Đã hủy"}
WARD = typer.Option(..., "--ward", "-w", help="The ward's id, e.g. ban-thach")
DAY = {"formats": ["%Y-%m-%d"]}


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    ics = "ics"
    xlsx = "xlsx"


class RosterClient(Client):
    """The roster service's client; `import` reads a 422 body itself to list every bad row."""

    def __init__(self) -> None:
        super().__init__("roster")

    def send_file(self, path: str, content: bytes, filename: str) -> httpx.Response:
        kind = XLSX if filename.lower().endswith((".xlsx", ".xlsm")) else "text/csv"
        try:
            return self._http.post(path, params={"filename": filename}, content=content,
                                   headers={"Content-Type": kind})
        except httpx.HTTPError as exc:
            fail(f"cannot reach the roster service at {self.base}: {type(exc).__name__}; "
                 "is it running (`cdt up`)?")


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column)
    return table


def _print_row_errors(body: dict[str, Any]) -> None:
    table = _table("Lỗi trong tệp (errors in the file)", "Dòng (row)", "Cột (field)", "Lý do (reason)")
    for error in body.get("errors", []):
        table.add_row(str(error["row"]), error.get("field") or "-", error["reason"])
    console.print(table)


def _print_counts(title: str, body: dict[str, Any], labels: dict[str, str]) -> None:
    table = _table(title, "Mục (item)", "Số (count)")
    for key, label in labels.items():
        if key in body:
            table.add_row(label, str(body[key]))
    console.print(table)


def _print_changes(body: dict[str, Any], *, events: bool = True) -> None:
    for pair in body.get("unassigned", []):
        console.print(f"− {pair['member_id']} rời buổi (leaves) {pair['shift_id']}")
    for pair in body.get("assigned", []):
        console.print(f"+ {pair['member_id']} nhận buổi (takes) {pair['shift_id']}")
    _print_unstaffable(body.get("unstaffable", []))
    if events:
        console.print(f"{body.get('events', 0)} sự kiện đã ghi (events published)")


def _print_unstaffable(sessions: list[dict[str, Any]]) -> None:
    if not sessions:
        return
    table = _table("Buổi không đủ người (sessions that cannot be staffed)", "Buổi (session)",
                   "Cần (needed)", "Có (assigned)", "Lý do (reason)")
    for s in sessions:
        table.add_row(s["shift_id"], str(s["needed"]), str(s["assigned"]), s["reason"])
    console.print(table)


@app.command("import")
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="CSV (UTF-8) or XLSX roster file"),
    ward: str = WARD,
) -> None:
    """Import teams and members; a file with any bad row imports nothing and lists every bad row."""
    with RosterClient() as client, console.status("Đang nhập danh sách / importing…"):
        response = client.send_file(f"/wards/{ward}/roster/import", file.read_bytes(), file.name)
    try:
        body = response.json()
    except ValueError:
        fail(f"the roster service answered HTTP {response.status_code} without a JSON body")
    if response.status_code == 422 and body.get("error") == "invalid_file":
        _print_row_errors(body)
        fail(body["message"])
    if response.status_code >= 400:
        fail(f"{body.get('message') or body.get('error')} (HTTP {response.status_code})")
    _print_counts(f"Đã nhập / imported {file.name} → {ward}", body, {
        "teams": "Tổ trong tệp (teams in the file)", "members": "Thành viên (members)",
        "teams_registered": "Tổ mới (new teams)", "teams_updated": "Tổ cập nhật (teams updated)",
        "members_registered": "Thành viên mới (new members)",
        "members_updated": "Thành viên cập nhật (members updated)",
        "members_deactivated": "Thành viên ngừng (members deactivated)",
        "events": "Sự kiện (events published)"})
    if body.get("assigned") or body.get("unassigned"):
        _print_changes(body, events=False)


@app.command()
def plan(
    ward: str = WARD,
    start: datetime = typer.Option(..., "--from", help="First day, YYYY-MM-DD", **DAY),
    end: datetime = typer.Option(..., "--to", help="Last day (inclusive), YYYY-MM-DD", **DAY),
) -> None:
    """Plan the rotation for a period; planning it again changes nothing."""
    with Client("roster", timeout=300) as client, console.status("Đang lập lịch trực / planning…"):
        body = client.post(f"/wards/{ward}/plan",
                           json={"from": f"{start:%Y-%m-%d}", "to": f"{end:%Y-%m-%d}"}).json()
    _print_counts(f"Lịch trực / plan {ward} {body['from']} → {body['to']}", body, {
        "sessions": "Buổi trực (sessions)", "assignments": "Lượt phân công (assignments)",
        "scheduled": "Buổi mới (new sessions)", "rescheduled": "Buổi đổi tổ/giờ (sessions changed)",
        "locked": "Buổi giữ nguyên (sessions kept: past, checked in, changed by hand)",
        "cancelled": "Buổi đã hủy (cancelled)", "assigned": "Phân công mới (assigned)",
        "unassigned": "Bỏ phân công (unassigned)", "events": "Sự kiện (events published)"})
    _print_unstaffable(body["unstaffable"])


def _shift_table(ward: str, shifts: list[dict[str, Any]]) -> Table:
    table = _table(f"Lịch trực Tổ công nghệ số cộng đồng - {ward}", "Ngày", "Thứ", "Buổi", "Giờ",
                   "Tổ", "Thành viên", "Trạng thái")
    for s in shifts:
        day = datetime.fromisoformat(s["date"])
        starts, ends = (datetime.fromisoformat(s[k]) for k in ("starts_at", "ends_at"))
        table.add_row(f"{day:%d/%m/%Y}", WEEKDAYS[day.weekday()], PERIODS.get(s["period"], s["period"]),
                      f"{starts:%H:%M}-{ends:%H:%M}", s["team_name"],
                      ", ".join(m["display_name"] for m in s["members"]),
                      STATUSES.get(s["status"], s["status"]))
    return table


@app.command()
def shifts(
    ward: str = WARD,
    start: datetime | None = typer.Option(None, "--from", help="First day, YYYY-MM-DD", **DAY),
    end: datetime | None = typer.Option(None, "--to", help="Last day, YYYY-MM-DD", **DAY),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table, csv, json, ics or xlsx"),
    member: str | None = typer.Option(None, "--member", help="Only this member's sessions (needed for ics)"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file"),
) -> None:
    """List the plan: a table to paste into a report, or CSV, JSON, XLSX, iCalendar."""
    if format is Format.xlsx and output is None:
        fail("--format xlsx needs --output FILE")
    params = {"format": "json" if format is Format.table else format.value}
    if start:
        params["from"] = f"{start:%Y-%m-%d}"
    if end:
        params["to"] = f"{end:%Y-%m-%d}"
    if member:
        params["member_id"] = member
    with Client("roster") as client:
        content = client.get(f"/wards/{ward}/shifts", params=params).content
    if format is Format.table:
        shifts = json.loads(content)
        if output:
            with output.open("w", encoding="utf-8") as out:
                Console(file=out, width=160).print(_shift_table(ward, shifts))
        else:
            console.print(_shift_table(ward, shifts))
        console.print(f"{len(shifts)} buổi (sessions)", highlight=False)
    elif output:
        output.write_bytes(content)
        console.print(f"đã ghi / wrote {output}")
    else:
        sys.stdout.buffer.write(content)


@app.command()
def swap(
    shift_id: str = typer.Argument(..., help="The session, e.g. ban-thach-20251006-morning"),
    ward: str = WARD,
    out_member: str = typer.Option(..., "--out", help="The member leaving the session"),
    in_member: str = typer.Option(..., "--in", help="The member taking their place"),
    reason: str = typer.Option("", "--reason", help="Why"),
) -> None:
    """Put one member in another's place on a session that has not started."""
    with Client("roster") as client:
        body = client.post(f"/wards/{ward}/shifts/{shift_id}/swap",
                           json={"out_member_id": out_member, "in_member_id": in_member,
                                 "reason": reason}).json()
    _print_changes(body)


@app.command()
def release(
    shift_id: str = typer.Argument(..., help="The session"),
    member: str = typer.Argument(..., help="The member taken off it"),
    ward: str = WARD,
    reason: str = typer.Option(..., "--reason", help="Why (e.g. ốm / sick)"),
) -> None:
    """Take a member off a session; it is refilled from their team first, then the ward."""
    with Client("roster") as client:
        body = client.post(f"/wards/{ward}/shifts/{shift_id}/release",
                           json={"member_id": member, "reason": reason}).json()
    _print_changes(body)


@app.command()
def cancel(
    shift_id: str | None = typer.Argument(None, help="The session to cancel (or give --day)"),
    ward: str = WARD,
    day: datetime | None = typer.Option(None, "--day", help="Cancel every session of this day", **DAY),
    reason: str = typer.Option(..., "--reason", help="Why (e.g. bão / storm)"),
) -> None:
    """Cancel one session, or every session of a day (storm, closure)."""
    if (shift_id is None) == (day is None):
        fail("give either a SHIFT_ID or --day DATE")
    if shift_id:
        path = f"/wards/{ward}/shifts/{shift_id}/cancel"
    else:
        path = f"/wards/{ward}/days/{day:%Y-%m-%d}/cancel"
    with Client("roster") as client:
        body = client.post(path, json={"reason": reason}).json()
    console.print(f"Đã hủy (cancelled): {body['cancelled']} buổi; đã hủy trước đó (already cancelled): "
                  f"{body['already_cancelled']}; đã bắt đầu (started, kept): {body['started']}")


@app.command()
def deactivate(
    member: str = typer.Argument(..., help="The member id"),
    ward: str = WARD,
    reason: str = typer.Option(..., "--reason", help="Why"),
) -> None:
    """Deactivate a member; their future sessions are released and refilled."""
    with Client("roster") as client:
        body = client.post(f"/wards/{ward}/members/{member}/deactivate", json={"reason": reason}).json()
    _print_changes(body)


@app.command()
def teams(ward: str = WARD) -> None:
    """The ward's teams in rotation order."""
    with Client("roster") as client:
        rows = client.get(f"/wards/{ward}/teams").json()
    table = _table(f"Tổ CNSCĐ - {ward}", "Mã tổ (team id)", "Tổ (team)", "Thôn/TDP (hamlet)",
                   "Tổ trưởng (leader)", "Thành viên (members)")
    for t in rows:
        table.add_row(t["team_id"], t["name"], t["hamlet"], t["leader_member_id"] or "-", str(t["members"]))
    console.print(table)
