"""Reading single values of a roster file: headers, occupations, yes/no, dates, phone numbers."""

import re
import unicodedata
from datetime import date, datetime, timedelta

from services.roster.sheets import Cell

MAX_RANGE_DAYS = 731

# Keys are folded (see `fold`): lower case, no diacritics, separators as single spaces.
HEADERS = {
    "team": "team", "to": "team", "ten to": "team", "to cnscd": "team",
    "to cong nghe so cong dong": "team",
    "hamlet": "hamlet", "thon": "hamlet", "to dan pho": "hamlet", "thon to dan pho": "hamlet",
    "khoi pho": "hamlet",
    "member": "member", "name": "member", "thanh vien": "member", "ho va ten": "member",
    "ho ten": "member",
    "occupation": "occupation", "nghe nghiep": "occupation",
    "is leader": "is_leader", "leader": "is_leader", "to truong": "is_leader",
    "phone": "phone", "so dien thoai": "phone", "dien thoai": "phone", "sdt": "phone",
    "unavailable": "unavailable", "ngay ban": "unavailable",
}  # fmt: skip
OCCUPATIONS = {
    "teacher": "teacher", "giao vien": "teacher", "gv": "teacher", "nha giao": "teacher",
    "retiree": "retiree", "huu tri": "retiree", "nghi huu": "retiree", "can bo huu tri": "retiree",
    "youth union": "youth_union", "doan vien": "youth_union", "doan thanh nien": "youth_union",
    "ward official": "ward_official", "can bo phuong": "ward_official",
    "cong chuc": "ward_official", "can bo cong chuc": "ward_official",
    "other": "other", "khac": "other",
}  # fmt: skip
ALLOWED_OCCUPATIONS = (
    "teacher/giáo viên, retiree/hưu trí, youth_union/đoàn viên, ward_official/cán bộ phường, other/khác"
)
YES = {"yes", "y", "true", "1", "co", "x"}
NO = {"no", "n", "false", "0", "khong", ""}


def fold(text: str) -> str:
    """Lower case without diacritics, for forgiving comparisons: "Giáo viên" -> "giao vien"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", bare.lower()).split())


def slugify(text: str) -> str:
    """A stable id from a Vietnamese name: "Mỹ Thạch Tây" -> "my-thach-tay"."""
    return "-".join(re.sub(r"[^a-z0-9]+", " ", fold(text)).split())


def cell_text(cell: Cell) -> str:
    """A cell as trimmed NFC text, so that the same name typed twice compares equal."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "yes" if cell else "no"
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return " ".join(unicodedata.normalize("NFC", str(cell)).split())


def header_key(cell: Cell) -> str | None:
    """The column a header names, in English or Vietnamese, or None for a column we ignore."""
    folded = fold(cell_text(cell))
    # Our own exports write "Vietnamese (English)"; accept either half.
    plain = fold(re.sub(r"\(.*?\)", " ", cell_text(cell)))
    inner = [fold(part) for part in re.findall(r"\((.*?)\)", cell_text(cell))]
    return next((HEADERS[k] for k in (folded, plain, *inner) if k in HEADERS), None)


def parse_date(text: str) -> date:
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        year, month, day = map(int, text.split("-"))
    elif re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
        # Vietnamese write day/month/year.
        day, month, year = map(int, text.split("/"))
    else:
        raise ValueError(text)
    return date(year, month, day)


def parse_occupation(text: str) -> str | None:
    return OCCUPATIONS.get(fold(text))


def parse_flag(text: str) -> bool | None:
    """yes/no, true/false, 1/0, có/không (blank is no); None when it is none of these."""
    folded = fold(text)
    return True if folded in YES else False if folded in NO else None


def parse_unavailable(text: str) -> tuple[frozenset[date], list[str]]:
    """The dates of "2025-09-05; 2025-09-08..2025-09-12", and what could not be read."""
    days: set[date] = set()
    problems: list[str] = []
    for item in filter(None, (part.strip() for part in re.split(r"[;,]", text))):
        first, dots, last = (part.strip() for part in item.partition(".."))
        try:
            start = parse_date(first)
            end = parse_date(last) if dots else start
        except ValueError:
            problems.append(
                f"'{item}' không phải ngày (not a date: use 2025-09-05 or 2025-09-05..2025-09-12)"
            )
            continue
        if end < start:
            problems.append(f"'{item}': ngày kết thúc trước ngày bắt đầu (the range ends before it starts)")
        elif (end - start).days >= MAX_RANGE_DAYS:
            problems.append(
                f"'{item}': quá {MAX_RANGE_DAYS} ngày (longer than {MAX_RANGE_DAYS} "
                "days; deactivate the member instead)"
            )
        else:
            days.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return frozenset(days), problems


def parse_phone(text: str) -> str | None:
    """A Vietnamese phone number as 10-11 digits starting with 0, or None if it is not one."""
    digits = re.sub(r"[\s.\-()]", "", text)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    elif re.fullmatch(r"[1-9]\d{8}", digits):
        # Excel stores 0905123456 typed in a number cell as 905123456.
        digits = "0" + digits
    return digits if re.fullmatch(r"0\d{9,10}", digits) else None
