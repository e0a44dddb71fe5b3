"""What the report page draws from a report: the weekly chart and the bars' scales, pure."""

from __future__ import annotations

from datetime import date
from typing import Any

from markupsafe import Markup

from shared.web import charts, i18n
from shared.web.i18n import Translate


def weeks_chart(report: dict[str, Any], t: Translate, lang: str) -> Markup:
    """The online ratio of each week as bars against the dashed target line."""
    target = report["target"]
    target_text = i18n.percent(target, lang, 0)
    points = [charts.Point(label=f"{'T' if lang == 'vi' else 'W'}{w['week'].split('-W')[-1]}",
                           sublabel=date.fromisoformat(w["from"]).strftime("%d/%m"),
                           value=w["online_ratio"]) for w in report["by_week"]]
    return charts.ratio_bars(
        points, target, chart_id="weeks-chart", title=t("weeks.heading"),
        description=t("weeks.desc", target=target_text),
        value_label=lambda v: i18n.percent(v, lang),
        target_label=t("weeks.target", target=target_text), no_data="—")


def largest(values: list[float | int | None]) -> float:
    """The scale of a column of bars (at least 1, so that all-zero columns draw empty bars)."""
    return max([v for v in values if v is not None] + [1])


def week_label(week: dict[str, Any], lang: str) -> str:
    """2025-W37 as people say it: Tuần 37 / Week 37."""
    return f"{'Tuần' if lang == 'vi' else 'Week'} {int(week['week'].split('-W')[-1])}"


def week_days(week: dict[str, Any], lang: str) -> str:
    start, end = date.fromisoformat(week["from"]), date.fromisoformat(week["to"])
    if lang == "vi":
        return f"{start:%d/%m}–{end:%d/%m}"
    return f"{start.day} {start:%b} – {end.day} {end:%b}"
