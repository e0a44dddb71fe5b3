"""The business families written straight from the totals: the same text prometheus_client wrote."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from services.reporting import domain, exposition
from services.reporting.figures import Snapshot, WardTotals


def previous_text(snapshot: Snapshot, target_for) -> str:
    """The families as services/reporting/metrics.py built them with prometheus_client until
    the exposition was written directly: the reference the new text must equal."""
    dossiers = CounterMetricFamily("cdt_dossiers", "Dossiers received",
                                   labels=["ward", "channel", "field"])
    online = GaugeMetricFamily("cdt_online_dossier_ratio",
                               "Online / all dossiers received, over the campaign", labels=["ward"])
    fully = GaugeMetricFamily("cdt_fully_online_dossier_ratio",
                              "Fully-online dossiers / dossiers of procedures eligible for it",
                              labels=["ward"])
    target = GaugeMetricFamily("cdt_online_dossier_target_ratio", "Target share of online dossiers",
                               labels=["ward"])
    assists = CounterMetricFamily("cdt_assists", "Citizens helped", labels=["ward", "venue", "outcome"])
    duration = HistogramMetricFamily("cdt_assist_duration_seconds", "Time per assist",
                                     labels=["ward"])
    shifts = CounterMetricFamily("cdt_shifts", "Sessions by status", labels=["ward", "status"])
    seconds = CounterMetricFamily("cdt_volunteer_seconds", "Checked-in volunteer time",
                                  labels=["ward"])
    satisfaction = GaugeMetricFamily("cdt_citizen_satisfaction_ratio",
                                     "Share of rated assists rated 4 or 5", labels=["ward"])
    for ward, w in snapshot.wards.items():
        for (channel, field), n in sorted(w.dossiers.items()):
            dossiers.add_metric([ward, channel, field], n)
        if w.online_ratio is not None:
            online.add_metric([ward], w.online_ratio)
        if w.fully_online_ratio is not None:
            fully.add_metric([ward], w.fully_online_ratio)
        target.add_metric([ward], target_for(ward))
        for (venue, outcome), n in sorted(w.assists.items()):
            assists.add_metric([ward, venue, outcome], n)
        if w.durations:
            counts = dict(w.durations)
            cumulative, buckets = 0, []
            for bound in domain.DURATION_BUCKETS:
                cumulative += counts.get(bound, 0)
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            duration.add_metric([ward], buckets, w.duration_ms / 1000)
        for status in domain.SHIFT_STATUSES:
            shifts.add_metric([ward, status], w.shifts[status])
        seconds.add_metric([ward], w.volunteer_hours * 3600)
        if w.satisfaction_ratio is not None:
            satisfaction.add_metric([ward], w.satisfaction_ratio)
    families = [dossiers, online, fully, target, assists, duration, shifts, seconds, satisfaction]

    class Collector:
        def collect(self):
            yield from families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def busy_ward() -> WardTotals:
    return WardTotals(
        dossiers={("online", "civil_status"): 1_234_567, ("in_person", "land"): 3,
                  ("online", "residence"): 999_999, ("postal", "justice"): 0},
        eligible=1_300_000, fully_online=1_000_001,
        assists={("service_center", "submitted_online"): 41, ("cultural_house", "not_completed"): 2},
        duration_ms=12_345_678, rated=40, satisfied=31,
        durations=[(60.0, 5), (300.0, 30), (3600.0, 7), (float("inf"), 1)],
        shifts={"scheduled": 12, "staffed": 9, "understaffed": 2, "cancelled": 1},
        seconds=7 * 3600 + 1)


def sample_snapshot() -> Snapshot:
    """Wards with every kind of figure, none at all, big counts and awkward label values."""
    return Snapshot({
        "an-phu": busy_ward(),
        "bình-thạnh": WardTotals(dossiers={("online", "land"): 1}, eligible=0, seconds=1),
        "empty": WardTotals(),
        'quote"back\\slash\nnewline': WardTotals(
            dossiers={('on"line', "a\\b"): 2, ("in\nperson", "x"): 1}, eligible=3, fully_online=1,
            assists={("venue \"v\"", "out\\come"): 1}, rated=1, satisfied=1,
            durations=[(180.0, 1)], duration_ms=100_001),
    })


def target_for(ward: str) -> float:
    return {"an-phu": 0.85}.get(ward, 0.8)


def test_the_text_equals_what_prometheus_client_wrote_for_the_same_snapshot() -> None:
    snapshot = sample_snapshot()
    assert exposition.render(snapshot, target_for) == previous_text(snapshot, target_for)


def test_an_empty_snapshot_still_declares_every_family() -> None:
    text = exposition.render(Snapshot(), target_for)
    assert text == previous_text(Snapshot(), target_for)
    assert text.count("# HELP ") == text.count("# TYPE ") == len(exposition.FAMILIES)


def test_label_values_escape_backslash_double_quote_and_newline() -> None:
    assert exposition.escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert exposition.escape("Phường Bình Thạnh") == "Phường Bình Thạnh"
    text = exposition.render(sample_snapshot(), target_for)
    assert 'ward="quote\\"back\\\\slash\\nnewline"' in text
    assert 'channel="on\\"line",field="a\\\\b"' in text
    parsed = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(text) for s in f.samples}
    ward = 'quote"back\\slash\nnewline'
    assert parsed[("cdt_dossiers_total", (("channel", 'on"line'), ("field", "a\\b"),
                                          ("ward", ward)))] == 2
    assert parsed[("cdt_dossiers_total", (("channel", "in\nperson"), ("field", "x"),
                                          ("ward", ward)))] == 1


def test_histogram_buckets_are_cumulative_with_count_and_sum_in_seconds() -> None:
    text = exposition.render(Snapshot({"an-phu": busy_ward()}), target_for)
    lines = [line for line in text.splitlines() if line.startswith("cdt_assist_duration")]
    assert lines == [
        'cdt_assist_duration_seconds_bucket{le="60.0",ward="an-phu"} 5.0',
        'cdt_assist_duration_seconds_bucket{le="180.0",ward="an-phu"} 5.0',
        'cdt_assist_duration_seconds_bucket{le="300.0",ward="an-phu"} 35.0',
        'cdt_assist_duration_seconds_bucket{le="600.0",ward="an-phu"} 35.0',
        'cdt_assist_duration_seconds_bucket{le="900.0",ward="an-phu"} 35.0',
        'cdt_assist_duration_seconds_bucket{le="1800.0",ward="an-phu"} 35.0',
        'cdt_assist_duration_seconds_bucket{le="3600.0",ward="an-phu"} 42.0',
        'cdt_assist_duration_seconds_bucket{le="+Inf",ward="an-phu"} 43.0',
        'cdt_assist_duration_seconds_count{ward="an-phu"} 43.0',
        'cdt_assist_duration_seconds_sum{ward="an-phu"} 12345.678',
    ]


def test_values_are_written_as_go_writes_floats() -> None:
    assert [exposition.number(v) for v in (0, 7, 999_999, 1_000_000, 1_234_567, 0.8, 25201.0)] \
        == ["0.0", "7.0", "999999.0", "1e+06", "1.234567e+06", "0.8", "25201.0"]
    text = exposition.render(Snapshot({"an-phu": busy_ward()}), target_for)
    assert ('cdt_dossiers_total{channel="online",field="civil_status",ward="an-phu"} '
            "1.234567e+06") in text


def test_each_family_s_samples_are_contiguous_and_wards_sorted() -> None:
    text = exposition.render(sample_snapshot(), target_for)
    families = [f.name for f in text_string_to_metric_families(text)]
    assert len(families) == len(set(families)) == len(exposition.FAMILIES)
    seen: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            name = line.split("{", 1)[0].removesuffix("_bucket").removesuffix("_count") \
                .removesuffix("_sum")
            if not seen or seen[-1] != name:
                assert name not in seen, f"{name} is split"
                seen.append(name)
    targets = [line for line in text.splitlines() if line.startswith("cdt_online_dossier_target")]
    assert targets[0].startswith('cdt_online_dossier_target_ratio{ward="an-phu"} 0.85')
    assert len(targets) == 4


def test_promtool_accepts_the_text() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: apt-get update && apt-get install -y prometheus")
    check = subprocess.run([promtool, "check", "metrics"], capture_output=True, text=True,
                           input=exposition.render(sample_snapshot(), target_for), timeout=60)
    findings = [line for line in (check.stdout + check.stderr).splitlines() if line.strip()]
    assert check.returncode == 0 and findings == [], findings
