"""Roster files through the running service and the `cdt roster` command: bad rows, tables, exports."""

from __future__ import annotations

import io

from openpyxl import Workbook

from services.roster.reference import reference_roster_xlsx
from tests.integration.roster.conftest import cli, http, path_of, roster_csv

HAMLET = "Tổ dân phố Đoan Trai"
BAD_ROWS = roster_csv(
    [
        ("Đoan Trai", HAMLET, "Nguyễn Văn An", "hưu trí", "có", "0905123456", ""),
        ("", HAMLET, "Trần Thị Bích", "giáo viên", "không", "", ""),
        ("Đoan Trai", HAMLET, "Lê Văn Cường", "thợ mộc", "no", "", ""),
        ("Đoan Trai", HAMLET, "Phạm Thị Dung", "teacher", "no", "", "2025-13-45"),
        ("Đoan Trai", HAMLET, "Nguyễn Văn An", "retiree", "no", "", ""),
        ("Đoan Trai", HAMLET, "Huỳnh Văn Đạt", "youth_union", "yes", "", ""),
    ]
)
# Each kind of bad row the issue names, with the row number Excel shows and words of its reason.
EXPECTED = {
    (3, "team"): "missing team",
    (4, "occupation"): "unknown occupation",
    (5, "unavailable"): "not a date",
    (6, "member"): "duplicate of row 2",
    (7, "is_leader"): "already has a leader",
}


async def test_a_file_with_bad_rows_is_refused_whole_naming_each_row_and_reason(
    roster_service, make_token
) -> None:
    ward = "phuong-loi-http"
    operator = await make_token(ward, "operator")
    with http(roster_service, operator) as client:
        response = client.post(
            f"/wards/{ward}/roster/import", params={"filename": "to.csv"}, content=BAD_ROWS
        )
        teams = client.get(f"/wards/{ward}/teams").json()
        members = client.get(f"/wards/{ward}/members", params={"include_inactive": True}).json()
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_file" and body["field"] == "file"
    found = {(e["row"], e["field"]): e["reason"] for e in body["errors"]}
    assert set(found) == set(EXPECTED)
    for where, words in EXPECTED.items():
        assert words in found[where], (where, found[where])
    assert teams == [] and members == []


async def test_the_cli_prints_every_bad_row_and_exits_non_zero_importing_nothing(
    roster_service, make_token, tmp_path
) -> None:
    ward = "phuong-loi-cli"
    operator = await make_token(ward, "operator")
    bad_xlsx = Workbook()
    bad_xlsx.active.append(["team", "hamlet", "member", "occupation", "is_leader", "phone", "unavailable"])
    bad_xlsx.active.append(["Kim Đới", "Kim Đới", "Võ Thị Hà", "giáo viên", "", "", "05/09/2025"])
    bad_xlsx.active.append(["Kim Đới", "Kim Đới", "Đặng Văn Hùng", "kỹ sư", "", "", ""])
    out = io.BytesIO()
    bad_xlsx.save(out)

    result = cli(
        roster_service, operator, "import", str(path_of(tmp_path, "to.csv", BAD_ROWS)), "--ward", ward
    )
    assert result.returncode != 0
    assert "Dòng (row)" in result.stdout and "Lý do (reason)" in result.stdout
    for (row, field), words in EXPECTED.items():
        line = next(line for line in result.stdout.splitlines() if f"│ {row} " in line)
        assert field in line and words.split()[0] in line, line
    assert "nothing was imported" in result.stderr and "Traceback" not in result.stderr

    result = cli(
        roster_service, operator, "import", str(path_of(tmp_path, "to.xlsx", out.getvalue())), "--ward", ward
    )
    assert result.returncode != 0
    assert "unknown occupation" in result.stdout and "│ 3 " in result.stdout
    with http(roster_service, operator) as client:
        assert client.get(f"/wards/{ward}/teams").json() == []


async def test_an_operator_imports_plans_and_prints_the_plan_with_the_cli(
    roster_service, make_token, tmp_path
) -> None:
    ward = "ban-thach-cli"
    operator = await make_token(ward, "operator")
    roster = path_of(tmp_path, "Danh sách tổ CNSCĐ.xlsx", reference_roster_xlsx())

    imported = cli(roster_service, operator, "import", str(roster), "--ward", ward)
    assert imported.returncode == 0, imported.stderr
    assert "Thành viên mới (new members)" in imported.stdout and "168" in imported.stdout
    planned = cli(
        roster_service, operator, "plan", "--ward", ward, "--from", "2025-10-01", "--to", "2025-10-31"
    )
    assert planned.returncode == 0, planned.stderr
    assert "Buổi trực (sessions)" in planned.stdout and " 46 " in planned.stdout

    table = cli(
        roster_service, operator, "shifts", "--ward", ward, "--from", "2025-10-01", "--to", "2025-10-03"
    )
    assert table.returncode == 0, table.stderr
    for heading in ("Ngày", "Thứ", "Buổi", "Tổ", "Thành viên", "Trạng thái"):
        assert heading in table.stdout
    assert "01/10/2025" in table.stdout and "Sáng" in table.stdout and "Đoan Trai" in table.stdout
    assert "6 buổi (sessions)" in table.stdout

    target = tmp_path / "lich-truc.csv"
    written = cli(
        roster_service, operator, "shifts", "--ward", ward, "--format", "csv", "--output", str(target)
    )
    assert written.returncode == 0, written.stderr
    assert len(target.read_bytes().decode("utf-8-sig").strip().splitlines()) == 1 + 46

    with http(roster_service, operator) as client:
        member = client.get(f"/wards/{ward}/shifts", params={"from": "2025-10-01", "to": "2025-10-01"}).json()
    member_id = member[0]["members"][0]["member_id"]
    ics = cli(roster_service, operator, "shifts", "--ward", ward, "--format", "ics", "--member", member_id)
    assert ics.returncode == 0 and ics.stdout.startswith("BEGIN:VCALENDAR")

    again = cli(
        roster_service, operator, "plan", "--ward", ward, "--from", "2025-10-01", "--to", "2025-10-31"
    )
    assert again.returncode == 0
    events_line = next(line for line in again.stdout.splitlines() if "Sự kiện" in line)
    assert events_line.split("│")[-2].strip() == "0"

    refused = cli(
        roster_service, operator, "plan", "--ward", "tam-ky", "--from", "2025-10-01", "--to", "2025-10-31"
    )
    assert refused.returncode != 0 and "not tam-ky" in refused.stderr and "Traceback" not in refused.stderr
