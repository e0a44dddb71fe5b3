"""The campaign report printed at the end of the demo, in words a ward official can paste."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.table import Table

from cdt.demo.driver import Totals
from cdt.output import console


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def months(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Online figures by calendar month (from the report's months, else its weeks)."""
    if report.get("by_month"):
        return report["by_month"]
    grouped: dict[str, dict[str, int]] = defaultdict(lambda: {"dossiers": 0, "online": 0})
    for week in report.get("by_week", []):
        month = week["from"][:7]
        grouped[month]["dossiers"] += week["dossiers"]
        grouped[month]["online"] += week["online"]
    return [{"month": m, **g, "online_ratio": g["online"] / g["dossiers"] if g["dossiers"] else None}
            for m, g in sorted(grouped.items())]


def print_campaign_report(report: dict[str, Any], totals: Totals) -> None:
    target = report.get("target", 0.8)
    online = report["online"]
    console.rule(f"[bold]Báo cáo chiến dịch / campaign report: {report['ward_id']} "
                 f"({report['period']['from']} → {report['period']['to']})")

    table = Table(title="Tỷ lệ hồ sơ trực tuyến theo tháng / online dossiers by month "
                  f"(mục tiêu / target {_pct(target)})")
    for column in ("Tháng / month", "Hồ sơ / dossiers", "Trực tuyến / online", "Tỷ lệ / ratio",
                   "Đạt / met"):
        table.add_column(column, justify="right")
    for month in months(report):
        ratio = month["online_ratio"]
        met = "✔ đạt" if ratio is not None and ratio >= target else "✘ chưa"
        table.add_row(month["month"], str(month["dossiers"]), str(month["online"]), _pct(ratio),
                      met)
    table.add_row("Cả kỳ / total", str(online["dossiers"]), str(online["online"]),
                  _pct(online["online_ratio"]), "", style="bold")
    console.print(table)

    staffing = report["staffing"]
    assists = report["assists"]
    volunteers = report["volunteers"]
    summary = Table(title="Tổng hợp / summary", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("", justify="right")
    rows = [
        ("Buổi trực đã lập / sessions scheduled", staffing["scheduled"]),
        ("Đủ người / staffed", staffing["staffed"]),
        ("Thiếu người / understaffed", staffing["understaffed"]),
        ("Đã hủy / cancelled", staffing["cancelled"]),
        ("Lượt hỗ trợ người dân / citizens helped", assists["total"]),
        ("Nộp trực tuyến nhờ tổ / submitted online with desk help",
         volunteers["assists_submitted_online"]),
        ("Tỷ trọng trong hồ sơ trực tuyến / share of online dossiers",
         _pct(volunteers["share_of_online_dossiers"])),
        ("Hồ sơ đủ điều kiện toàn trình đã làm toàn trình / fully online over eligible",
         _pct(online["fully_online_ratio"])),
        ("Giờ tình nguyện / volunteer hours", f"{volunteers['hours']:.1f}"),
        ("Hài lòng (4-5 sao) / satisfied", _pct(assists.get("satisfaction_ratio"))),
    ]
    for label, value in rows:
        summary.add_row(label, str(value))
    console.print(summary)

    teams = Table(title="Tổ tiêu biểu / top teams by volunteer hours")
    for column in ("Tổ / team", "Giờ / hours", "Buổi / sessions", "Lượt trực / member-sessions"):
        teams.add_column(column, justify="right" if column != "Tổ / team" else "left")
    for team in sorted((t for t in report["teams"] if t["hours"] > 0), key=lambda t: -t["hours"])[:5]:
        teams.add_row(team["name"] or team["team_id"], f"{team['hours']:.1f}",
                      str(team["sessions"]), str(team["member_sessions"]))
    console.print(teams)

    console.print(f"Demo produced / đã tạo: {totals.checkins} check-ins, {totals.assists} assists, "
                  f"{totals.dossiers} dossiers over {totals.sessions} sessions.")
