"""Vietnamese first, English on request; numbers and days as each language writes them."""

from __future__ import annotations

from datetime import date

import pytest

from services.assist.web.texts import TEXTS as DESK
from services.reporting.web.texts import TEXTS as REPORT
from shared.web import i18n
from shared.web.kit import COMMON


@pytest.mark.parametrize(("query", "cookie", "lang"), [
    (None, None, "vi"), ("en", None, "en"), (None, "en", "en"), ("vi", "en", "vi"),
    ("fr", None, "vi"), ("<script>", "xx", "vi")])
def test_the_language_is_the_querys_then_the_remembered_one_then_vietnamese(
        query, cookie, lang) -> None:
    assert i18n.pick_lang(query, cookie) == lang


def test_numbers_and_percentages_are_written_as_each_language_writes_them() -> None:
    assert i18n.number(12345.25, "vi", 1) == "12.345,2"
    assert i18n.number(12345.25, "en", 1) == "12,345.2"
    assert i18n.number(3, "vi") == "3"
    assert i18n.percent(0.725, "vi") == "72,5%"
    assert i18n.percent(0.725, "en") == "72.5%"
    assert i18n.percent(0.8, "vi") == "80%"
    assert i18n.percent(None, "vi") == i18n.number(None, "vi") == "—"


def test_days_read_naturally() -> None:
    monday = date(2025, 9, 8)
    assert i18n.day_label(monday, "vi") == "Thứ Hai, 08/09/2025"
    assert i18n.day_label(monday, "en") == "Mon 8 Sep 2025"
    assert i18n.weekday(date(2025, 9, 14), "vi", short=True) == "CN"
    assert i18n.weekday(monday, "vi", short=True) == "T2"


def test_texts_fill_placeholders_and_show_the_key_when_missing() -> None:
    texts = i18n.Texts({"hello": ("Chào {name}", "Hello {name}")})
    assert texts.translator("vi")("hello", name="Hoa") == "Chào Hoa"
    assert texts.translator("en")("hello", name="Hoa") == "Hello Hoa"
    assert texts.translator("vi")("missing.key") == "missing.key"


@pytest.mark.parametrize("texts", [DESK, REPORT, COMMON], ids=["desk", "report", "common"])
def test_every_text_has_both_languages_and_the_same_placeholders(texts) -> None:
    import string

    for key, (vi, en) in texts.table.items():
        assert vi.strip() and en.strip(), key
        fields = [{f for _, f, _, _ in string.Formatter().parse(s) if f} for s in (vi, en)]
        assert fields[0] == fields[1], key
