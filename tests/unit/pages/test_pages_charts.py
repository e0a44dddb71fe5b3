"""The SVG charts: a dashed target line, a value label per bar, patterns that need no colour."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from shared.web import charts
from shared.web.i18n import percent

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def weeks(*values: float | None) -> list[charts.Point]:
    return [charts.Point(f"T{36 + i}", f"0{i + 1}/09", v) for i, v in enumerate(values)]


def chart(points: list[charts.Point], target: float = 0.8, **overrides: str) -> ET.Element:
    options = {"chart_id": "c", "title": "Tỷ lệ trực tuyến", "description": "mô tả",
               "target_label": "Mục tiêu 80%", "no_data": "—", **overrides}
    return parse(charts.ratio_bars(points, target, value_label=lambda v: percent(v, "vi"),
                                   **options))


def test_the_chart_has_a_dashed_target_line_at_the_target() -> None:
    svg = chart(weeks(0.5, 0.9))
    lines = [e for e in svg.iter(f"{SVG}line") if e.get("class") == "target"]
    assert len(lines) == 1 and lines[0].get("stroke-dasharray")
    grid = {e.get("y1"): e for e in svg.iter(f"{SVG}line") if e.get("class") == "grid"}
    # 80% lies where the 80% grid line is.
    assert lines[0].get("y1") in grid
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert ticks == ["0%", "20%", "40%", "60%", "80%", "100%"]


def test_every_bar_has_its_value_written_above_it() -> None:
    svg = chart(weeks(0.725, 0.8, 1.0, 0.0))
    values = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "value"]
    assert values == ["72,5%", "80%", "100%", "0%"]
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels[::2] == ["T36", "T37", "T38", "T39"]


def test_bars_below_the_target_are_hatched_and_those_meeting_it_solid() -> None:
    svg = chart(weeks(0.79, 0.8))
    bars = [e for e in svg.iter(f"{SVG}rect") if "bar" in (e.get("class") or "")]
    assert [b.get("class") for b in bars] == ["bar below", "bar meets"]
    assert bars[0].get("fill") == "url(#hatch)" and bars[1].get("fill") == charts.PRIMARY
    # Taller means more: 80% is higher than 79%.
    assert float(bars[1].get("height")) > float(bars[0].get("height"))


def test_a_week_without_dossiers_shows_a_dash_and_no_bar() -> None:
    svg = chart(weeks(None, 0.5))
    values = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "value"]
    assert values == ["—", "50%"]
    assert len([e for e in svg.iter(f"{SVG}rect") if "bar" in (e.get("class") or "")]) == 1


def test_the_chart_is_an_image_named_by_its_title_and_description() -> None:
    svg = chart(weeks(0.5))
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c-title c-desc"
    assert svg.find(f"{SVG}title").text == "Tỷ lệ trực tuyến"


def test_text_in_a_chart_is_escaped() -> None:
    markup = str(charts.ratio_bars(
        [charts.Point("<b>W1</b>", "&", 0.5)], 0.8, chart_id="c", title="Tổ <Đoan> & \"Trai\"",
        description="x", value_label=str, target_label="<script>", no_data="—"))
    assert "<script>" not in markup and "<b>" not in markup
    assert "Tổ &lt;Đoan&gt; &amp; &#34;Trai&#34;" in markup
    parse(markup)  # still well-formed


def test_a_narrow_chart_fits_a_phone_and_a_wide_one_scrolls() -> None:
    assert "fit" in chart(weeks(*[0.5] * 5)).get("class")
    wide = chart(weeks(*[0.5] * 21))
    assert "fit" not in wide.get("class") and int(wide.get("width")) > 1000


def test_a_table_bar_is_proportional_and_never_overflows() -> None:
    def width(markup: str) -> float:
        fills = [e for e in parse(markup).iter(f"{SVG}rect") if e.get("class") == "fill"]
        return float(fills[0].get("width")) if fills else 0.0

    assert width(charts.bar(3, 12)) == 25.0
    assert width(charts.bar(20, 12)) == 100.0
    assert width(charts.bar(0, 12)) == 0.0
    assert width(charts.bar(5, 0)) == 0.0
    assert 'aria-hidden="true"' in charts.bar(1, 2)  # the cell's number carries the value


def test_the_legend_swatches_match_the_bars() -> None:
    assert "url(#hatch)" in charts.swatch("hatch")
    assert "stroke-dasharray" in charts.swatch("target")
    defs = parse(charts.defs())
    assert {p.get("id") for p in defs.iter(f"{SVG}pattern")} == {"hatch", "dots"}
