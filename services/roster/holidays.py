"""Days Vietnam's public offices close in 2025 and 2026, and the Saturdays they work instead."""

from collections.abc import Iterable
from datetime import date, timedelta

# Only decided closures are listed: the Labour Code 2019 (art. 112) fixes the holidays, but the
# lunar dates and the days swapped around them are set each year by the Prime Minister, so they
# cannot be computed; a year not listed here has no calendar rather than a guessed one.
COVERED_YEARS = frozenset({2025, 2026})


def _span(first: date, last: date, name: str) -> dict[date, str]:
    days = (last - first).days + 1
    return {first + timedelta(days=offset): name for offset in range(days)}


_QUOC_KHANH = "Quốc khánh"
_CHIEN_THANG = "Ngày Giải phóng miền Nam, thống nhất đất nước"
_LAO_DONG = "Ngày Quốc tế Lao động"

_CLOSED: dict[int, dict[date, str]] = {
    # Government Office dispatch 8726/VPCP-KGVX (26 Nov 2024): Tết Ất Tỵ is 27-31 Jan, a
    # nine-day break with the weekends (25 Jan - 2 Feb); 30 Apr - 4 May with Friday 2 May
    # swapped for Saturday 26 Apr. National Day is Monday 1 and Tuesday 2 Sep.
    2025: {
        date(2025, 1, 1): "Tết Dương lịch",
        **_span(date(2025, 1, 27), date(2025, 1, 31), "Tết Nguyên đán Ất Tỵ"),
        date(2025, 4, 7): "Giỗ Tổ Hùng Vương",
        date(2025, 4, 30): _CHIEN_THANG,
        date(2025, 5, 1): _LAO_DONG,
        date(2025, 5, 2): "Nghỉ hoán đổi dịp 30/4 - 1/5 (làm bù thứ Bảy 26/4/2025)",
        date(2025, 9, 1): _QUOC_KHANH,
        date(2025, 9, 2): _QUOC_KHANH,
    },
    # Ministry of Home Affairs notice 9441/TB-BNV (16 Oct 2025): Tết Bính Ngọ is 16-20 Feb
    # (break 14-22 Feb); National Day is 1-2 Sep with Monday 31 Aug swapped for Saturday
    # 22 Aug. Government Office dispatch 12729/VPCP-KGVX (25 Dec 2025): New Year 1-4 Jan with
    # Friday 2 Jan swapped for Saturday 10 Jan. Hùng Kings' day falls on Sunday 26 Apr, so
    # Monday 27 Apr is the day off in lieu (Labour Code art. 111).
    2026: {
        date(2026, 1, 1): "Tết Dương lịch",
        date(2026, 1, 2): "Nghỉ hoán đổi dịp Tết Dương lịch (làm bù thứ Bảy 10/1/2026)",
        **_span(date(2026, 2, 16), date(2026, 2, 20), "Tết Nguyên đán Bính Ngọ"),
        date(2026, 4, 26): "Giỗ Tổ Hùng Vương",
        date(2026, 4, 27): "Nghỉ bù Giỗ Tổ Hùng Vương",
        date(2026, 4, 30): _CHIEN_THANG,
        date(2026, 5, 1): _LAO_DONG,
        date(2026, 8, 31): "Nghỉ hoán đổi dịp Quốc khánh (làm bù thứ Bảy 22/8/2026)",
        date(2026, 9, 1): _QUOC_KHANH,
        date(2026, 9, 2): _QUOC_KHANH,
    },
}

_MAKEUP_WORKDAYS: dict[int, dict[date, str]] = {
    2025: {date(2025, 4, 26): "Làm bù cho thứ Sáu 2/5/2025"},
    2026: {
        date(2026, 1, 10): "Làm bù cho thứ Sáu 2/1/2026",
        date(2026, 8, 22): "Làm bù cho thứ Hai 31/8/2026",
    },
}

# Politburo resolution 80-NQ/TW (Jan 2026) makes 24 Nov "Ngày Văn hóa Việt Nam" a paid holiday,
# but it needs an amendment of Labour Code art. 112 (Government resolution 30/NQ-CP tasks it);
# until that passes it is offered, not imposed.
PENDING_HOLIDAYS: dict[date, str] = {date(2026, 11, 24): "Ngày Văn hóa Việt Nam"}


def _check_years(years: Iterable[int]) -> list[int]:
    wanted = sorted(set(years))
    unknown = [year for year in wanted if year not in COVERED_YEARS]
    if unknown:
        raise ValueError(
            f"no holiday calendar for {', '.join(map(str, unknown))}: "
            f"known years are {', '.join(map(str, sorted(COVERED_YEARS)))}"
        )
    return wanted


def vietnam_holidays(years: Iterable[int], *, include_pending: bool = False) -> dict[date, str]:
    """The days public offices are closed in `years`, with their Vietnamese names."""
    closed: dict[date, str] = {}
    for year in _check_years(years):
        closed.update(_CLOSED[year])
        if include_pending:
            closed.update({day: name for day, name in PENDING_HOLIDAYS.items() if day.year == year})
    return dict(sorted(closed.items()))


def vietnam_makeup_workdays(years: Iterable[int]) -> dict[date, str]:
    """The weekend days public offices work to make up for a swapped weekday."""
    makeup: dict[date, str] = {}
    for year in _check_years(years):
        makeup.update(_MAKEUP_WORKDAYS[year])
    return dict(sorted(makeup.items()))
