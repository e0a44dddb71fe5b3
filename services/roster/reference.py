"""The reference ward, Bàn Thạch: 24 CDT teams of 7 members, as an operator's roster file."""

import csv
import io
import random
from datetime import date

from openpyxl import Workbook

REFERENCE_WARD = "ban-thach"
CAMPAIGN_START = date(2025, 8, 11)
CAMPAIGN_END = date(2025, 12, 31)
MEMBERS_PER_TEAM = 7
HEADERS = ("team", "hamlet", "member", "occupation", "is_leader", "phone", "unavailable")

TEAM_NAMES = (
    "Đoan Trai", "Mỹ Thạch Tây", "Mỹ Thạch Bắc", "Trường Đồng", "Mỹ Thạch Đông", "Mỹ Thạch Trung",
    "Mỹ Thạch Nam", "Bàn Thạch", "Xuân Quý", "Phú Ân", "Phú Sơn", "Tân Thạnh", "Hương Trà Đông",
    "Hương Trà Tây", "Ngọc Nam", "Kim Đới", "An Hà", "Thạch Tân", "Đàn Hạ", "Đàn Thượng",
    "Tịch Tây", "Trường Xuân", "Mỹ Cang", "Xuân Hòa",
)  # fmt: skip

FAMILY_NAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
    "Dương", "Trương", "Đoàn", "Đinh", "Lâm", "Mai", "Châu", "Thái",
)  # fmt: skip
MIDDLE_NAMES = {
    "male": ("Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Thanh", "Ngọc", "Tấn", "Xuân"),
    "female": ("Thị", "Thu", "Ngọc", "Thanh", "Mỹ", "Kim", "Hồng", "Thùy", "Bích", "Diệu"),
}
GIVEN_NAMES = {
    "male": (
        "An", "Bình", "Cường", "Dũng", "Hùng", "Khoa", "Long", "Nam", "Phúc", "Quân", "Sơn",
        "Tài", "Thắng", "Tuấn", "Vinh", "Hải", "Hiếu", "Trung", "Toàn", "Đạt", "Lộc", "Nghĩa",
    ),
    "female": (
        "Anh", "Chi", "Dung", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai", "Nga",
        "Nhung", "Phượng", "Thảo", "Trang", "Tuyết", "Vân", "Yến", "Hằng", "Thủy", "Oanh", "Ly",
    ),
}  # fmt: skip

# About a third teachers, as in the ward; the rest retirees, youth-union members, ward officials.
OCCUPATION_COUNTS = {
    "teacher": 56,
    "retiree": 40,
    "youth_union": 36,
    "ward_official": 20,
    "other": 16,
}


def _full_name(rng: random.Random) -> str:
    sex = rng.choice(("male", "female"))
    family = rng.choice(FAMILY_NAMES)
    return f"{family} {rng.choice(MIDDLE_NAMES[sex])} {rng.choice(GIVEN_NAMES[sex])}"


def reference_roster(seed: int = 2025) -> list[dict[str, str]]:
    """One row per member, with the values an operator would type in the roster file."""
    rng = random.Random(seed)
    occupations = [job for job, count in OCCUPATION_COUNTS.items() for _ in range(count)]
    rng.shuffle(occupations)
    phones = rng.sample(range(10**8), len(occupations))
    rows: list[dict[str, str]] = []
    for team_index, team in enumerate(TEAM_NAMES):
        names: list[str] = []
        while len(names) < MEMBERS_PER_TEAM:
            name = _full_name(rng)
            if name not in names:
                names.append(name)
        jobs = occupations[team_index * MEMBERS_PER_TEAM : (team_index + 1) * MEMBERS_PER_TEAM]
        # The residential group head leads the team: usually a retiree or a ward official.
        leader = next((i for i, job in enumerate(jobs) if job in ("retiree", "ward_official")), 0)
        for i, (name, job) in enumerate(zip(names, jobs, strict=True)):
            number = phones[team_index * MEMBERS_PER_TEAM + i]
            rows.append(
                {
                    "team": team,
                    "hamlet": f"Tổ dân phố {team}",
                    "member": name,
                    "occupation": job,
                    "is_leader": "yes" if i == leader else "no",
                    "phone": f"09{number:08d}",
                    "unavailable": "",
                }
            )
    return rows


def _with_term(rows: list[dict[str, str]], teachers_unavailable_from: date | None):
    if teachers_unavailable_from is None or teachers_unavailable_from > CAMPAIGN_END:
        return rows
    term = f"{teachers_unavailable_from:%Y-%m-%d}..{CAMPAIGN_END:%Y-%m-%d}"
    return [{**r, "unavailable": term} if r["occupation"] == "teacher" else r for r in rows]


def reference_roster_csv(seed: int = 2025, teachers_unavailable_from: date | None = None) -> bytes:
    """The roster as Excel saves "CSV UTF-8": with a BOM; teachers busy from a date if given."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(_with_term(reference_roster(seed), teachers_unavailable_from))
    return out.getvalue().encode("utf-8-sig")


def reference_roster_xlsx(seed: int = 2025, teachers_unavailable_from: date | None = None) -> bytes:
    """The same roster as an Excel workbook, the form most ward offices keep it in."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Danh sách tổ CNSCĐ"
    sheet.append(HEADERS)
    for row in _with_term(reference_roster(seed), teachers_unavailable_from):
        sheet.append([row[h] for h in HEADERS])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
