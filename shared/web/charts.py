"""Server-side SVG charts, pure: readable without colour (patterns, dashes, value labels)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

INK = "#111"
PRIMARY = "#0b4f8a"
GRID = "#8a8a8a"
TARGET = "#a8071a"
HALO = 'stroke="#fff" stroke-width="4" paint-order="stroke"'  # a label stays readable on a line


@dataclass(frozen=True)
class Point:
    """One bar: its label (two short lines) and its value, a ratio 0..1 or None (no data)."""

    label: str
    sublabel: str
    value: float | None


def defs() -> Markup:
    """The fills the charts refer to, once per page: solid (meets the target) and hatched."""
    return Markup(
        '<svg class="svg-defs" width="0" height="0" aria-hidden="true" focusable="false">'
        '<defs>'
        f'<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{PRIMARY}" stroke-width="3"/></pattern>'
        f'<pattern id="dots" width="5" height="5" patternUnits="userSpaceOnUse">'
        f'<rect width="5" height="5" fill="#fff"/><circle cx="2.5" cy="2.5" r="1.4" '
        f'fill="{PRIMARY}"/></pattern>'
        '</defs></svg>')


FILLS = {"solid": PRIMARY, "hatch": "url(#hatch)", "dots": "url(#dots)"}


def swatch(kind: str) -> Markup:
    """A legend sample of a fill, or of the dashed target line."""
    if kind == "target":
        body = (f'<line x1="0" y1="8" x2="26" y2="8" stroke="{TARGET}" stroke-width="2.5" '
                'stroke-dasharray="6 4"/>')
    else:
        body = (f'<rect x="1" y="1" width="24" height="14" fill="{FILLS[kind]}" '
                f'stroke="{PRIMARY}" stroke-width="1.5"/>')
    return Markup(f'<svg viewBox="0 0 26 16" aria-hidden="true" focusable="false">{body}</svg>')


def bar(value: float, maximum: float, kind: str = "solid") -> Markup:
    """A bar for a table cell (the cell's text holds the number; the bar is decoration)."""
    share = 0.0 if maximum <= 0 else max(0.0, min(1.0, value / maximum))
    width = round(share * 100, 2)
    body = (f'<rect x="0" y="1" width="100" height="8" fill="#fff" stroke="{GRID}" '
            'stroke-width="0.5" vector-effect="non-scaling-stroke"/>')
    if width:
        body += (f'<rect class="fill" x="0" y="1" width="{width}" height="8" fill="{FILLS[kind]}" '
                 f'stroke="{PRIMARY}" stroke-width="1" vector-effect="non-scaling-stroke"/>')
    return Markup(f'<svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" '
                  f'focusable="false">{body}</svg>')


def ratio_bars(points: Sequence[Point], target: float, *, chart_id: str, title: str,
               description: str, value_label: Callable[[float], str], target_label: str,
               no_data: str) -> Markup:
    """Ratios as vertical bars against a dashed target line, each bar with its value on top:
    solid when it meets the target, hatched when below, a dash when there is no data."""
    left, slot, right, top, bottom, height = 46, 58, 14, 34, 46, 270
    width = max(320, left + slot * len(points) + right)
    plot = height - top - bottom

    def y(value: float) -> float:
        return round(top + plot * (1 - value), 2)

    parts = [f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(description)}</desc>']
    for step in range(0, 6):
        value = step / 5
        parts.append(f'<line class="grid" x1="{left}" y1="{y(value)}" x2="{width - right}" '
                     f'y2="{y(value)}" stroke="{GRID}" stroke-width="{1 if step else 1.5}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y(value) + 4}" text-anchor="end" '
                     f'font-size="11" fill="{INK}">{escape(value_label(value))}</text>')
    bars, labels = [], []
    for i, point in enumerate(points):
        x = left + i * slot + 10
        middle = x + (slot - 20) / 2
        if point.value is None:
            labels.append(f'<text class="value" x="{middle}" y="{y(0) - 6}" text-anchor="middle" '
                          f'font-size="12" fill="{INK}" {HALO}>{escape(no_data)}</text>')
        else:
            meets = point.value >= target
            top_y = y(point.value)
            bars.append(f'<rect class="bar {"meets" if meets else "below"}" x="{x}" y="{top_y}" '
                        f'width="{slot - 20}" height="{round(y(0) - top_y, 2)}" '
                        f'fill="{FILLS["solid" if meets else "hatch"]}" stroke="{PRIMARY}" '
                        'stroke-width="1.5"/>')
            labels.append(f'<text class="value" x="{middle}" y="{top_y - 6}" text-anchor="middle" '
                          f'font-size="12" font-weight="700" fill="{INK}" {HALO}>'
                          f'{escape(value_label(point.value))}</text>')
        labels.append(f'<text class="label" x="{middle}" y="{y(0) + 16}" text-anchor="middle" '
                      f'font-size="11" fill="{INK}">{escape(point.label)}</text>')
        labels.append(f'<text class="label" x="{middle}" y="{y(0) + 30}" text-anchor="middle" '
                      f'font-size="10" fill="{INK}">{escape(point.sublabel)}</text>')
    # The target line over the bars, the labels (with a white halo) over the line.
    parts += bars
    parts.append(f'<line class="target" x1="{left}" y1="{y(target)}" x2="{width - right}" '
                 f'y2="{y(target)}" stroke="{TARGET}" stroke-width="2.5" '
                 'stroke-dasharray="8 5"/>')
    parts.append(f'<text class="target-label" x="{width - right}" y="14" text-anchor="end" '
                 f'font-size="12" fill="{INK}" {HALO}>- - {escape(target_label)}</text>')
    parts += labels
    fit = " fit" if width <= 360 else ""  # small enough to scale to a phone's width
    return Markup(
        f'<svg class="ratio-bars{fit}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">{"".join(parts)}</svg>')
