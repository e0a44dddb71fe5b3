"""The Prometheus text of the cdt_* business families, written per ward straight from its totals.

No prometheus_client metric objects: with 3,321 wards they were 127,000 `Sample`s and label
dicts, most of the memory and the time of a refresh. The text is the one `generate_latest`
wrote for the same families (labels sorted by name, values as Go formats floats, HELP and TYPE
for every family even when it is empty), so that dashboards, rules and tests see no change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from services.reporting import domain
from services.reporting.figures import Snapshot, WardTotals


@dataclass(frozen=True)
class Family:
    name: str  # as exposed: counters end in _total
    type: str
    help: str


# In the order /metrics has always listed them; each family's samples stay together.
FAMILIES = (
    Family("cdt_dossiers_total", "counter", "Dossiers received"),
    Family("cdt_online_dossier_ratio", "gauge", "Online / all dossiers received, over the campaign"),
    Family("cdt_fully_online_dossier_ratio", "gauge",
           "Fully-online dossiers / dossiers of procedures eligible for it"),
    Family("cdt_online_dossier_target_ratio", "gauge", "Target share of online dossiers"),
    Family("cdt_assists_total", "counter", "Citizens helped"),
    Family("cdt_assist_duration_seconds", "histogram", "Time per assist"),
    Family("cdt_shifts_total", "counter", "Sessions by status"),
    Family("cdt_volunteer_seconds_total", "counter", "Checked-in volunteer time"),
    Family("cdt_citizen_satisfaction_ratio", "gauge", "Share of rated assists rated 4 or 5"),
)


def _header(family: Family) -> bytes:
    text = family.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {family.name} {text}\n# TYPE {family.name} {family.type}\n".encode()


HEADERS = tuple(_header(f) for f in FAMILIES)
_BUCKETS = tuple(("+Inf" if b == float("inf") else repr(b), b) for b in domain.DURATION_BUCKETS)


def escape(value: str) -> str:
    """A label value as the exposition format quotes it: backslash, double quote, newline."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def number(value: float) -> str:
    """A sample value as prometheus_client writes it (Go's float format)."""
    if type(value) is int and 0 <= value < 1_000_000:  # counts: the common case, same text
        return f"{value}.0"
    return floatToGoString(value)


def ward_fragments(ward_id: str, w: WardTotals, target: float) -> tuple[bytes, ...]:
    """One ward's lines of each family, in FAMILIES order (b"" where it has none)."""
    ward = escape(ward_id)
    dossiers = "".join(
        f'cdt_dossiers_total{{channel="{escape(channel)}",field="{escape(field)}",ward="{ward}"}}'
        f" {number(n)}\n" for (channel, field), n in sorted(w.dossiers.items()))
    online, fully, satisfaction = w.online_ratio, w.fully_online_ratio, w.satisfaction_ratio
    assists = "".join(
        f'cdt_assists_total{{outcome="{escape(outcome)}",venue="{escape(venue)}",ward="{ward}"}}'
        f" {number(n)}\n" for (venue, outcome), n in sorted(w.assists.items()))
    duration = ""
    if w.durations:
        counts = dict(w.durations)
        cumulative, lines = 0, []
        for le, bound in _BUCKETS:
            cumulative += counts.get(bound, 0)
            lines.append(f'cdt_assist_duration_seconds_bucket{{le="{le}",ward="{ward}"}} '
                         f"{number(cumulative)}\n")
        lines.append(f'cdt_assist_duration_seconds_count{{ward="{ward}"}} {number(cumulative)}\n')
        lines.append(f'cdt_assist_duration_seconds_sum{{ward="{ward}"}} '
                     f"{number(w.duration_ms / 1000)}\n")
        duration = "".join(lines)
    shifts = "".join(f'cdt_shifts_total{{status="{status}",ward="{ward}"}} '
                     f"{number(w.shifts[status])}\n" for status in domain.SHIFT_STATUSES)
    texts = (
        dossiers,
        "" if online is None else f'cdt_online_dossier_ratio{{ward="{ward}"}} {number(online)}\n',
        "" if fully is None else
        f'cdt_fully_online_dossier_ratio{{ward="{ward}"}} {number(fully)}\n',
        f'cdt_online_dossier_target_ratio{{ward="{ward}"}} {number(target)}\n',
        assists,
        duration,
        shifts,
        f'cdt_volunteer_seconds_total{{ward="{ward}"}} {number(w.volunteer_hours * 3600)}\n',
        "" if satisfaction is None else
        f'cdt_citizen_satisfaction_ratio{{ward="{ward}"}} {number(satisfaction)}\n',
    )
    return tuple(t.encode() if t else b"" for t in texts)


def chunks(fragments: Sequence[tuple[bytes, ...]]) -> list[bytes]:
    """The exposition as a list of byte strings: each family's header, then every ward's lines
    of it (wards in the order given), so that a family's samples stay contiguous."""
    out: list[bytes] = []
    for i, header in enumerate(HEADERS):
        out.append(header)
        out.extend(f[i] for f in fragments if f[i])
    return out


def render(snapshot: Snapshot, target_for: Callable[[str], float]) -> str:
    """The text of every ward of a snapshot (wards sorted by id), for tests and tools."""
    return b"".join(chunks(wards_fragments(snapshot.wards.items(), target_for))).decode()


def wards_fragments(wards: Iterable[tuple[str, WardTotals]],
                    target_for: Callable[[str], float]) -> list[tuple[bytes, ...]]:
    return [ward_fragments(ward, w, target_for(ward)) for ward, w in sorted(wards, key=lambda item: item[0])]
