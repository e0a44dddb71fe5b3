"""Five faces for the citizen's satisfaction, drawn as SVG (no emoji font needed)."""

from markupsafe import Markup

_CURVE = {1: -8.0, 2: -4.0, 3: 0.0, 4: 4.0, 5: 8.0}


def face(level: int) -> Markup:
    """A face from very unhappy (1) to very happy (5); decoration: its label says the level."""
    curve = _CURVE[level]
    y = round(28 - curve * 0.35, 2)
    mouth = f"M12 {y} Q20 {round(y + curve, 2)} 28 {y}"
    return Markup(
        '<svg viewBox="0 0 40 40" aria-hidden="true" focusable="false">'
        '<circle cx="20" cy="20" r="17" fill="#fff" stroke="#111" stroke-width="2"/>'
        '<circle cx="14" cy="16" r="2.2" fill="#111"/><circle cx="26" cy="16" r="2.2" fill="#111"/>'
        f'<path d="{mouth}" fill="none" stroke="#111" stroke-width="2.4" stroke-linecap="round"/>'
        "</svg>")
