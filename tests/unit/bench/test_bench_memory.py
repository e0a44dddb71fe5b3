"""The benchmarks' memory figures: growth read during a phase of steady load, and its verdict."""

from tests.bench import report
from tests.bench.harness import RssSampler


def add(sampler: RssSampler, name: str, *samples: tuple[float, int]) -> None:
    """Samples of (RSS MB, events processed), a second apart (no process is watched)."""
    series = sampler.samples.setdefault(name, [])
    for mb, events in samples:
        series.append((float(len(series)), mb, events, 0.1 * len(series)))


def stepped_run() -> RssSampler:
    """Benchmark 3's shape: 200/s, higher rates, then 200/s again."""
    sampler = RssSampler()
    add(sampler, "assist", (77, 0), (78, 6000))
    sampler.mark("end of the first stage")
    add(sampler, "assist", (101, 60_000), (98, 96_000))
    sampler.mark("start of the closing stage")
    add(sampler, "assist", (98.5, 102_000))
    sampler.mark("its end")
    return sampler


def test_growth_is_from_half_of_the_events_to_all_of_them_by_default() -> None:
    sampler = RssSampler()
    add(sampler, "reporting", (80, 0), (150, 100), (120, 500), (124, 1000))
    m = sampler.summary()["reporting"]
    assert (m["peak_mb"], m["growth_from_mb"], m["growth_to_mb"], m["growth_mb"]) == (
        150, 120, 124, 4)
    assert m["growth_over"] == "half-way and end of the events"


def test_growth_between_marks_leaves_out_what_a_heavier_stage_held() -> None:
    m = stepped_run().summary(growth=("start of the closing stage", "its end"))["assist"]
    assert (m["peak_mb"], m["growth_mb"]) == (101, 0.5)
    assert m["growth_over"] == "start of the closing stage and its end"
    assert m["marks"]["end of the first stage"] == 78


def test_the_memory_table_says_what_the_growth_was_measured_between() -> None:
    summary = stepped_run().summary(growth=("start of the closing stage", "its end"))
    text = report.memory_section({"memory": {"intake to metric": summary}})
    assert ("| intake to metric | assist | 101 | +0.5 (98 → 98) | start of the closing stage "
            "and its end; end of the first stage: 78 MB | 102,000 | yes | yes |") in text


def test_results_written_before_the_growth_had_a_phase_still_render() -> None:
    old = {"peak_mb": 95.0, "half_mb": 83.0, "end_mb": 94.0, "growth_mb": 11.0, "events": 48_000}
    text = report.memory_section({"memory": {"intake to metric": {"assist": old}}})
    assert "| +11.0 (83 → 94) | half-way and end of the events | 48,000 | **no** | yes |" in text


def test_flat_is_met_only_when_every_run_grew_less_than_the_limit() -> None:
    def verdict(growths: list[float]) -> str:
        memory = {"run": {f"p{i}": {"peak_mb": 100.0, "growth_mb": g}
                          for i, g in enumerate(growths)}}
        row = next(r for r in report.summary_rows({"memory": memory}) if "growth" in r[0])
        return row[-1]

    assert verdict([0.5, report.FLAT_MB]) == "**met**"
    assert verdict([0.5, report.FLAT_MB + 0.1]) == "**missed**"
