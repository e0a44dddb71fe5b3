"""A tiny dict-based i18n: Vietnamese first, English on request (?lang=en, then a cookie)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
LANG_COOKIE = "cdt_lang"

Translate = Callable[..., str]


def pick_lang(query: str | None, cookie: str | None) -> str:
    """The page language: the query's, else the remembered one, else Vietnamese."""
    for candidate in (query, cookie):
        if candidate in LANGS:
            return candidate  # type: ignore[return-value]
    return DEFAULT_LANG


class Texts:
    """Strings by key, each a (Vietnamese, English) pair; `{name}` placeholders are filled."""

    def __init__(self, table: Mapping[str, tuple[str, str]]) -> None:
        self.table = dict(table)

    def __or__(self, other: Texts) -> Texts:
        return Texts({**self.table, **other.table})

    def has(self, key: str) -> bool:
        return key in self.table

    def translator(self, lang: str) -> Translate:
        index = LANGS.index(lang) if lang in LANGS else 0

        def translate(key: str, **values: object) -> str:
            pair = self.table.get(key)
            text = pair[index] if pair else key
            return text.format(**values) if values else text

        return translate


def number(value: float | int | None, lang: str, digits: int = 0) -> str:
    """A number as people there write it: 12.345,5 in Vietnamese, 12,345.5 in English."""
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", "\u0001").replace(".", ",").replace("\u0001", ".")
    return text


def percent(ratio: float | None, lang: str, digits: int = 1) -> str:
    """A ratio as a percentage (72,5% / 72.5%), or a dash when there is nothing to divide."""
    if ratio is None:
        return "—"
    text = number(ratio * 100, lang, digits)
    if digits and (text.endswith(",0") or text.endswith(".0")):
        text = text[:-2]
    return f"{text}%"


_WEEKDAYS = {"vi": ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"),
             "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def weekday(day: date, lang: str, short: bool = False) -> str:
    name = _WEEKDAYS["vi" if lang == "vi" else "en"][day.weekday()]
    if short and lang == "vi":
        return "CN" if day.weekday() == 6 else f"T{day.weekday() + 2}"
    return name


def day_label(day: date, lang: str, *, with_weekday: bool = True) -> str:
    """08/09/2025 (Thứ Hai, 08/09/2025) in Vietnamese, 8 Sep 2025 (Mon 8 Sep 2025) in English."""
    text = (f"{day:%d/%m/%Y}" if lang == "vi" else f"{day.day} {_MONTHS[day.month - 1]} {day.year}")
    if not with_weekday:
        return text
    return f"{weekday(day, lang)}, {text}" if lang == "vi" else f"{weekday(day, lang)} {text}"
