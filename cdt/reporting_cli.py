"""`cdt report` and `cdt reporting rebuild`: a ward's figures, and rebuilding the read models."""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cdt.client import Client
from cdt.output import console, fail

app = typer.Typer(help="Báo cáo / reporting: read models, reports and their rebuild.",
                  no_args_is_help=True)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


def print_report(report: dict[str, Any]) -> None:
    """The report as Rich tables, Vietnamese labels with English."""
    online, target = report["online"], report["target"]
    period = report["period"]
    console.print(f"[bold]Báo cáo phường/xã / ward report: {report['ward_id']}[/]  "
                  f"{period['from']} → {period['to']}")
    t = _table("Hồ sơ trực tuyến / online dossiers", "chỉ số / figure", "giá trị / value")
    t.add_row("Tổng hồ sơ / dossiers", _num(online["dossiers"]))
    t.add_row("Nộp trực tuyến / online", _num(online["online"]))
    t.add_row("Tỷ lệ trực tuyến / online ratio", _pct(online["online_ratio"]))
    t.add_row("Chỉ tiêu / target", _pct(target))
    t.add_row("Đạt chỉ tiêu / meets target", "có / yes" if online["meets_target"] else "chưa / no")
    t.add_row("Toàn trình / fully online over eligible",
              f"{_pct(online['fully_online_ratio'])} ({online['fully_online']}/{online['eligible']})")
    console.print(t)
    t = _table("Theo lĩnh vực / by field", "lĩnh vực / field", "hồ sơ", "trực tuyến", "tỷ lệ",
               "toàn trình")
    for row in report["by_field"]:
        t.add_row(row["field"], _num(row["dossiers"]), _num(row["online"]),
                  _pct(row["online_ratio"]), _pct(row["fully_online_ratio"]))
    console.print(t)
    t = _table("Theo tháng / by month", "tháng / month", "hồ sơ", "trực tuyến", "tỷ lệ",
               "đạt / meets")
    for row in report.get("by_month", []):
        t.add_row(row["month"], _num(row["dossiers"]), _num(row["online"]),
                  _pct(row["online_ratio"]), "✓" if row["meets_target"] else "✗")
    console.print(t)
    t = _table("Theo tuần / by ISO week", "tuần / week", "hồ sơ", "trực tuyến", "tỷ lệ",
               "đạt / meets")
    for row in report["by_week"]:
        t.add_row(f"{row['week']} ({row['from']})", _num(row["dossiers"]), _num(row["online"]),
                  _pct(row["online_ratio"]), "✓" if row["meets_target"] else "✗")
    console.print(t)
    s = report["staffing"]
    t = _table("Ca trực / sessions", "trạng thái / status", "buổi / sessions")
    for key, label in (("scheduled", "Đã lên lịch / scheduled"), ("staffed", "Đủ người / staffed"),
                       ("understaffed", "Thiếu người / understaffed"),
                       ("pending", "Chưa xác định / pending"), ("cancelled", "Đã hủy / cancelled")):
        t.add_row(label, _num(s[key]))
    t.add_row("Tỷ lệ đủ người / staffed ratio", _pct(s["staffed_ratio"]))
    console.print(t)
    v, a = report["volunteers"], report["assists"]
    t = _table("Đóng góp của tổ / volunteers' contribution", "chỉ số / figure", "giá trị / value")
    t.add_row("Lượt hỗ trợ người dân / citizens helped", _num(a["total"]))
    t.add_row("Hỗ trợ nộp trực tuyến / helped to submit online", _num(v["assists_submitted_online"]))
    t.add_row("Hồ sơ trực tuyến có hỗ trợ / online dossiers with desk help",
              _num(v["dossiers_online_assisted"]))
    t.add_row("Tỷ trọng trong hồ sơ trực tuyến / share of online dossiers",
              _pct(v["share_of_online_dossiers"]))
    t.add_row("Giờ tình nguyện / volunteer hours", _num(v["hours"]))
    t.add_row("Hài lòng / satisfied (4-5)", _pct(a["satisfaction_ratio"]))
    console.print(t)
    t = _table("Theo tổ / by team", "tổ / team", "giờ / hours", "buổi / sessions", "thành viên")
    for row in report["teams"]:
        t.add_row(row["name"] or row["team_id"], _num(row["hours"]), _num(row["sessions"]),
                  _num(row["members"]))
    console.print(t)
    t = _table("Theo thành viên / by member", "thành viên / member", "tổ / team", "giờ / hours",
               "buổi / sessions", "vắng / no-shows")
    for row in report["members"]:
        t.add_row(row["display_name"] or row["member_id"], row["team"] or "–", _num(row["hours"]),
                  _num(row["sessions"]), _num(row["no_shows"]))
    console.print(t)
    t = _table("Lý do chưa nộp trực tuyến / why assists did not end online", "lý do / reason",
               "lượt / assists", "tỷ lệ / share")
    for row in report["not_online_reasons"]:
        t.add_row(row["reason"], _num(row["assists"]), _pct(row["share"]))
    console.print(t)


def report(
    ward: str = typer.Option(..., help="Ward id (phường/xã), e.g. ban-thach"),
    from_: str = typer.Option(None, "--from", help="First day, YYYY-MM-DD (default: the campaign's)"),
    to: str = typer.Option(None, "--to", help="Last day, YYYY-MM-DD (default: the campaign's)"),
    format: str = typer.Option("table", "--format", help="table | json | csv"),
) -> None:
    """Print a ward's figures: online ratio against the target, staffing, volunteers (Báo cáo)."""
    if format not in ("table", "json", "csv"):
        fail(f"--format must be table, json or csv, not {format!r}")
    params: dict[str, str] = {"format": "csv" if format == "csv" else "json"}
    for name, value in (("from", from_), ("to", to)):
        if value:
            try:
                params[name] = date.fromisoformat(value).isoformat()
            except ValueError:
                fail(f"--{name} {value!r} is not a date like 2025-08-11")
    with Client("reporting") as client:
        response = client.get(f"/wards/{ward}/report", params=params)
    if format == "csv":
        sys.stdout.write(response.text)
    elif format == "json":
        sys.stdout.write(json.dumps(response.json(), ensure_ascii=False, indent=2) + "\n")
    else:
        print_report(response.json())


@app.command("rebuild")
def rebuild(
    wait: bool = typer.Option(True, help="Wait for the rebuild to finish, showing progress"),
    timeout: float = typer.Option(3600, help="Seconds to wait at most"),
) -> None:
    """Recompute every read model from the topics' beginning (needs an operator token for *)."""
    with Client("reporting") as client:
        started = client.post("/admin/rebuild").json()
        generation = started["generation"]
        if not wait:
            console.print(f"rebuild {generation} started")
            return
        deadline = time.monotonic() + timeout
        columns = (TextColumn("Đang dựng lại / rebuilding"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("rebuild", total=None)
            while True:
                state = client.get("/admin/rebuild").json()
                if state["generation"] != generation:
                    fail("another rebuild was started meanwhile")
                progress.update(task, total=state["total"], completed=state["read"])
                if state["state"] == "done":
                    break
                if time.monotonic() > deadline:
                    fail(f"the rebuild is still running after {timeout:.0f}s")
                time.sleep(0.5)
    console.print(f"Dựng lại xong / rebuilt: {state['applied']:,} events read again, "
                  f"generation {generation}")
