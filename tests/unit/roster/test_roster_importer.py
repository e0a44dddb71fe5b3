"""Roster files as operators bring them: what parses, and every bad row named with its reason."""

import io
import unicodedata
from dataclasses import dataclass, field
from datetime import date

import pytest
from openpyxl import Workbook

from services.roster.importer import (
    RosterFileError,
    diff_roster,
    parse_roster,
    slugify,
)
from services.roster.reference import reference_roster_csv, reference_roster_xlsx

HEADER = "team,hamlet,member,occupation,is_leader,phone,unavailable"
GOOD = [
    "Đoan Trai,Tổ dân phố Đoan Trai,Nguyễn Thị Hồng Nhung,teacher,no,0905123456,2025-09-05",
    "Đoan Trai,Tổ dân phố Đoan Trai,Trần Văn Đức,retiree,yes,,",
    "Mỹ Thạch Tây,Tổ dân phố Mỹ Thạch Tây,Lê Thị Thu Thảo,youth_union,,,",
]


def csv_file(*lines: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *lines]).encode("utf-8")


def xlsx_file(rows: list[list]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def errors_of(content: bytes, filename: str = "to.csv") -> list[tuple[int, str | None, str]]:
    with pytest.raises(RosterFileError) as caught:
        parse_roster(content, filename, "ban-thach")
    return [(e.row, e.field, e.reason) for e in caught.value.errors]


# Files that parse


def test_the_reference_roster_parses_into_24_teams_of_7_with_one_leader_each():
    roster = parse_roster(reference_roster_csv(), "ban-thach.csv", "ban-thach")
    assert len(roster.teams) == 24 and len(roster.members) == 168
    assert roster.teams[0].name == "Đoan Trai" and roster.teams[0].team_id == "doan-trai"
    assert all(t.leader_member_id for t in roster.teams)
    assert {m.occupation for m in roster.members} == {
        "teacher",
        "retiree",
        "youth_union",
        "ward_official",
        "other",
    }


def test_a_csv_with_a_bom_and_semicolons_parses_like_a_plain_one():
    plain = parse_roster(csv_file(*GOOD), "to.csv", "ban-thach")
    semicolons = "\r\n".join(line.replace(",", ";") for line in [HEADER, *GOOD])
    excel = parse_roster(semicolons.encode("utf-8-sig"), "to.csv", "ban-thach")
    assert excel == plain


def test_vietnamese_names_survive_exactly_and_in_nfc():
    decomposed = [unicodedata.normalize("NFD", line) for line in GOOD]
    roster = parse_roster(csv_file(*decomposed), "to.csv", "ban-thach")
    assert [m.name for m in roster.members] == ["Nguyễn Thị Hồng Nhung", "Trần Văn Đức", "Lê Thị Thu Thảo"]
    assert all(unicodedata.is_normalized("NFC", m.name) for m in roster.members)
    assert roster.teams[1].hamlet == "Tổ dân phố Mỹ Thạch Tây"


def test_the_xlsx_and_the_csv_of_the_same_roster_give_the_same_result():
    assert parse_roster(reference_roster_xlsx(), "ban-thach.xlsx", "ban-thach") == parse_roster(
        reference_roster_csv(), "ban-thach.csv", "ban-thach"
    )


def test_vietnamese_headers_and_labels_are_understood():
    header = "Tổ,Thôn/Tổ dân phố,Họ và tên,Nghề nghiệp,Tổ trưởng,Số điện thoại,Ngày bận"
    rows = [
        "Trường Đồng,,Phạm Văn Hùng,Giáo viên,Có,,05/09/2025",
        "Trường Đồng,,Võ Thị Mai,HƯU TRÍ,không,,",
        "Trường Đồng,,Đỗ Văn Long,doan vien,,,",
        "Trường Đồng,,Hồ Thị Vân,Cán bộ phường,,,",
        "Trường Đồng,,Ngô Văn Nam,Khác,,,",
    ]
    roster = parse_roster(csv_file(*rows, header=header), "to.csv", "ban-thach")
    assert [m.occupation for m in roster.members] == [
        "teacher",
        "retiree",
        "youth_union",
        "ward_official",
        "other",
    ]
    assert roster.members[0].is_leader and roster.members[0].unavailable == {date(2025, 9, 5)}
    assert roster.teams[0].hamlet == "Trường Đồng"  # a blank hamlet is the team's own name


def test_headers_as_our_own_exports_write_them_are_understood():
    header = "Tổ (team),Thôn (hamlet),Thành viên (member),Nghề nghiệp (occupation)"
    roster = parse_roster(csv_file("Phú Ân,,Bùi Văn Khoa,other", header=header), "x.csv", "ban-thach")
    assert roster.members[0].name == "Bùi Văn Khoa"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("yes", True), ("TRUE", True), ("1", True), ("Có", True), ("co", True), ("", False),
     ("no", False), ("false", False), ("0", False), ("Không", False)],
)  # fmt: skip
def test_is_leader_accepts_yes_no_true_false_one_zero_and_co_khong(value, expected):
    roster = parse_roster(csv_file(f"Phú Sơn,,Đinh Văn Quân,other,{value},,"), "x.csv", "ban-thach")
    assert roster.members[0].is_leader is expected


def test_unavailable_dates_and_inclusive_ranges_are_read():
    line = 'Xuân Quý,,Mai Thị Yến,teacher,no,,"2025-09-05; 2025-10-01..2025-10-03"'
    roster = parse_roster(csv_file(line), "x.csv", "ban-thach")
    assert roster.members[0].unavailable == {
        date(2025, 9, 5),
        date(2025, 10, 1),
        date(2025, 10, 2),
        date(2025, 10, 3),
    }


def test_member_ids_are_stable_and_the_same_name_in_two_teams_is_two_people():
    roster = parse_roster(
        csv_file("Đoan Trai,,Nguyễn Văn An,other,,,", "Kim Đới,,Nguyễn Văn An,other,,,"),
        "x.csv",
        "ban-thach",
    )
    assert [m.member_id for m in roster.members] == ["doan-trai-nguyen-van-an", "kim-doi-nguyen-van-an"]
    assert slugify("Mỹ Thạch Tây") == "my-thach-tay" and slugify("Đoan Trai") == "doan-trai"


def test_an_excel_number_cell_phone_gets_its_leading_zero_back():
    content = xlsx_file([HEADER.split(","), ["An Hà", "", "Châu Văn Phúc", "other", True, 905123456]])
    roster = parse_roster(content, "x.xlsx", "ban-thach")
    assert roster.members[0].phone == "0905123456" and roster.members[0].is_leader


# Files that do not parse


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        (",Thôn 1,Nguyễn Văn An,other,,,", "team", "missing team"),
        ("Đoan Trai,,,other,,,", "member", "missing member name"),
        ("Đoan Trai,,Nguyễn Văn An,giáo sư,,,", "occupation", "allowed: teacher"),
        ("Đoan Trai,,Nguyễn Văn An,other,maybe,,", "is_leader", "must be yes/no"),
        ("Đoan Trai,,Nguyễn Văn An,other,,12345,", "phone", "not a Vietnamese phone"),
        ("Đoan Trai,,Nguyễn Văn An,other,,,2025-02-30", "unavailable", "not a date"),
        ("Đoan Trai,,Nguyễn Văn An,other,,,thứ Hai", "unavailable", "not a date"),
        ("Đoan Trai,,Nguyễn Văn An,other,,,2025-09-12..2025-09-05", "unavailable", "ends before"),
    ],
)
def test_a_bad_value_is_reported_with_its_row_field_and_reason(line, field, reason):
    [(row, got_field, got_reason)] = errors_of(csv_file(GOOD[0], line))
    assert (row, got_field) == (3, field)
    assert reason in got_reason


def test_a_duplicate_member_names_the_row_it_repeats():
    errors = errors_of(csv_file(GOOD[0], GOOD[1], GOOD[0].replace("no,", "yes,")))
    assert errors == [(4, "member", "trùng với dòng 2 (duplicate of row 2: same member in team 'Đoan Trai')")]


def test_a_second_leader_in_a_team_is_reported_on_its_row():
    errors = errors_of(csv_file(*GOOD, "Đoan Trai,,Hồ Văn Tài,other,có,,"))
    assert [(r, f) for r, f, _ in errors] == [(5, "is_leader")]
    assert "Trần Văn Đức" in errors[0][2]


def test_every_bad_row_is_reported_not_just_the_first():
    content = csv_file(GOOD[0], ",,,,,,", ",,Lê Văn Cường,giáo sư,,,", "Đoan Trai,,,other,x,,")
    errors = errors_of(content)
    assert [(r, f) for r, f, _ in errors] == [(4, "occupation"), (4, "team"), (5, "member")]
    with pytest.raises(RosterFileError) as caught:
        parse_roster(content, "to.csv", "ban-thach")
    assert str(caught.value).count("\n") == 2 and "dòng 4 (row 4), team" in str(caught.value)


def test_a_missing_required_header_is_reported_on_row_1():
    errors = errors_of(csv_file(GOOD[0], header="team,hamlet,member,is_leader"))
    assert errors[0][:2] == (1, None) and "occupation" in errors[0][2]


def test_an_empty_file_is_reported():
    assert errors_of(b"")[0][:2] == (1, None)
    assert "no member rows" in errors_of(csv_file())[0][2]


def test_a_file_that_is_not_utf8_names_the_line():
    # Excel's plain "CSV" saves in the Windows code page; line 3 is the first non-ASCII one.
    lines = [HEADER, "Phu An,,Nguyen Van An,other,,,", "Phú Ân,,Lê Tâm,other,,,"]
    content = "\n".join(lines).encode("cp1252")
    [(row, _, reason)] = errors_of(content)
    assert row == 3 and "not UTF-8" in reason and "CSV UTF-8" in reason


def test_an_xlsx_that_cannot_be_opened_is_reported():
    [(row, _, reason)] = errors_of(b"PK\x03\x04 this is not a workbook", "to.xlsx")
    assert row == 0 and "cannot open the XLSX" in reason


def test_an_old_xls_file_is_refused_with_what_to_do():
    assert "save it as .xlsx" in errors_of(b"\xd0\xcf\x11\xe0", "to.xls")[0][2]


# Re-importing


@dataclass
class Stored:
    name: str
    team_id: str
    occupation: str
    is_leader: bool
    unavailable: frozenset = field(default_factory=frozenset)
    active: bool = True


def stored(roster):
    return {
        m.member_id: Stored(m.name, m.team_id, m.occupation, m.is_leader, m.unavailable)
        for m in roster.members
    }


def test_reimporting_the_same_file_changes_nothing():
    roster = parse_roster(reference_roster_csv(), "ban-thach.csv", "ban-thach")
    changes = diff_roster(stored(roster), roster)
    assert changes.empty


def test_a_changed_file_gives_only_the_differences():
    before = parse_roster(csv_file(*GOOD), "to.csv", "ban-thach")
    after = parse_roster(
        csv_file(
            GOOD[0].replace("teacher", "retiree"),
            GOOD[1],
            "Kim Đới,Tổ dân phố Kim Đới,Dương Văn Lộc,ward_official,yes,,",
        ),
        "to.csv",
        "ban-thach",
    )
    changes = diff_roster(stored(before), after)
    assert [t.team_id for t in changes.new_teams] == ["kim-doi"]
    assert [m.member_id for m in changes.new_members] == ["kim-doi-duong-van-loc"]
    assert changes.deactivated_member_ids == ("my-thach-tay-le-thi-thu-thao",)
    assert [(m.member_id, m.occupation) for m in changes.updated_members] == [
        ("doan-trai-nguyen-thi-hong-nhung", "retiree")
    ]


def test_a_deactivated_member_back_in_the_file_is_registered_again():
    roster = parse_roster(csv_file(*GOOD), "to.csv", "ban-thach")
    current = stored(roster)
    current["doan-trai-tran-van-duc"].active = False
    changes = diff_roster(current, roster)
    assert [m.member_id for m in changes.new_members] == ["doan-trai-tran-van-duc"]
    assert not changes.deactivated_member_ids and not changes.updated_members
