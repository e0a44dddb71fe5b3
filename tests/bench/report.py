"""docs/performance.md from the figures of a `make bench` run (and results.json beside the logs)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from cdt.demo import national
from tests.bench.harness import ARTIFACTS, ROOT, machine

DOC = ROOT / "docs" / "performance.md"
RSS_LIMIT_MB = 200
FLAT_MB = 10  # RSS may move this much during a phase of steady load and still be flat


def _n(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1%}"


def _s(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f} s"


def _ms(value: Any) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value * 1000:,.0f} ms"


def _met(ok: bool | None) -> str:
    return "not run" if ok is None else ("**met**" if ok else "**missed**")


def _ratio(a: float | None, b: float | None) -> float:
    return a / b if a and b and not math.isnan(a) and not math.isnan(b) else float("nan")


def summary_rows(r: dict) -> list[list[str]]:
    rows = []
    ingest = r.get("ingest")
    if ingest:
        for key, label in (("one", "1 process"), ("two", "2 processes")):
            f = ingest[key]
            ratio = _ratio(f["service"], f["baseline"])
            verdict = _met(ratio >= 0.70)
            if ratio < 0.70:
                verdict += " (floor 50%: " + ("kept" if ratio >= 0.50 else "**broken**") + ")"
            rows.append([f"1. reporting ingest, {label}", f"{_n(f['service'])} events/s",
                         f"raw pipeline {_n(f['baseline'])} events/s", _pct(ratio),
                         ">= 70% (never < 50%)", verdict])
    else:
        rows.append(["1. reporting ingest", "", "", "", ">= 70%", _met(None)])
    outbox = r.get("outbox")
    if outbox:
        ratio = _ratio(outbox["service"], outbox["baseline"])
        rows.append(["2. outbox relay", f"{_n(outbox['service'])} events/s",
                     f"raw batched produce {_n(outbox['baseline'])} events/s", _pct(ratio),
                     ">= 50%", _met(ratio >= 0.5)])
    else:
        rows.append(["2. outbox relay", "", "", "", ">= 50%", _met(None)])
    latency = r.get("latency")
    if latency:
        first = latency["stages"][0]
        rm, mx = first["read_model"], first["metrics"]
        rows.append([f"3. intake to read model, {first['rate']}/s",
                     f"p50/p95/p99 {_ms(rm['p50'])} / {_ms(rm['p95'])} / {_ms(rm['p99'])}",
                     "", "", "p99 < 1 s",
                     _met(rm["p99"] < 1.0 and not first["missing_read_model"])])
        rows.append([f"3. intake to /metrics (as scraped), {first['rate']}/s",
                     f"p50/p95/p99 {_ms(mx['p50'])} / {_ms(mx['p95'])} / {_ms(mx['p99'])}",
                     "", "", "p99 < 1 s", _met(mx["p99"] < 1.0 and not first["missing_metrics"])])
        def held(rate: int | None) -> str:
            return f"{rate:,}/s" if rate else "none of the rates tried"

        rows.append(["3. highest rate with p99 < 1 s",
                     f"read model {held(latency['highest_read_model'])}; /metrics "
                     f"{held(latency['highest_metrics'])}", "", "", "(reported)", ""])
    else:
        rows.append(["3. intake to metric", "", "", "", "p99 < 1 s", _met(None)])
    roster = r.get("roster")
    if roster:
        p, c = roster["province"], roster["country"]
        rows.append(["4. one ward's campaign planned (HTTP)", _s(roster["ward"]["plan"]), "", "",
                     "", ""])
        rows.append([f"4. a province ({p['wards']} wards) planned (HTTP)", _s(p["plan"], 1), "",
                     "", "< 10 s", _met(p["plan"] < 10)])
        rows.append([f"4. the country ({c['wards']:,} wards) planned (HTTP)",
                     _s(c["plan"], 0), "", "", "< 5 min", _met(c["plan"] < 300)])
        rows.append([f"4. the country's {c['events']:,} events published",
                     f"{_s(c['published_after_import_start'], 0)} from the first import", "",
                     "", "(reported)", ""])
    else:
        rows.append(["4. roster planning", "", "", "", "< 10 s / < 5 min", _met(None)])
    scrape = r.get("scrape")
    if scrape:
        rows.append([f"5. /metrics scrape p99, {scrape['wards_with_data']:,} wards",
                     _ms(scrape["scrape"]["p99"]), "", "", "< 500 ms",
                     _met(scrape["scrape"]["p99"] < 0.5)])
        rows.append([f"5. ward report p99, {scrape['wards_with_data']:,} wards",
                     _ms(scrape["report_alone"]["p99"]), "", "", "< 100 ms",
                     _met(scrape["report_alone"]["p99"] < 0.1)])
        rows.append(["5. ward report p99 while /metrics is scraped every "
                     f"{scrape['scrape_every']:g} s", _ms(scrape["report_while_scraped"]["p99"]),
                     "", "", "< 100 ms", _met(scrape["report_while_scraped"]["p99"] < 0.1)])
    else:
        rows.append(["5. /metrics and report", "", "", "", "< 500 ms / < 100 ms", _met(None)])
    memory = r.get("memory") or {}
    during = [(phase, name, m) for phase, procs in memory.items() for name, m in procs.items()
              if not name.startswith("raw") and "3,321" not in phase]
    if during:
        peaks: dict[str, float] = {}
        for _, name, m in during:
            service = name.split("-")[0]
            peaks[service] = max(peaks.get(service, 0.0), m["peak_mb"])
        worst = max(peaks.values())
        rows.append(["6. peak RSS during benchmarks 1-4",
                     ", ".join(f"{s} {mb:.0f} MB" for s, mb in sorted(peaks.items())), "", "",
                     "< 200 MB each", _met(worst < RSS_LIMIT_MB)])
        growth = max(m["growth_mb"] for _, _, m in during)
        rows.append(["6. RSS growth during each run's phase of steady load",
                     f"{growth:+.1f} MB at most", "", "", "flat", _met(growth <= FLAT_MB)])
    country = [m for phase, procs in memory.items() if "3,321" in phase for m in procs.values()]
    if country:
        rows.append(["6. (reporting holding 3,321 wards, benchmark 5)",
                     f"{max(m['peak_mb'] for m in country):.0f} MB", "", "", "< 200 MB",
                     _met(max(m["peak_mb"] for m in country) < RSS_LIMIT_MB)])
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


INGEST_HEADER = ["", "reporting service", "raw pipeline (same run)", "ratio",
                 "service CPU us/event (process + PostgreSQL)", "raw CPU us/event (same)"]


def ingest_section(r: dict) -> str:
    f = r.get("ingest")
    if not f:
        return "Not run in this invocation.\n"
    types = "; ".join(f"{t.split('.')[-3]}.{t.split('.')[-2]} {n:,}"
                      for t, n in sorted(f["by_type"].items(), key=lambda kv: -kv[1]))
    rows = []
    for key, label in (("one", "one process"), ("two", "two processes, one consumer group")):
        x = f[key]
        rows.append([label, f"{_n(x['service'])}/s ({_s(x['service_seconds'], 1)})",
                     f"{_n(x['baseline'])}/s (before {_n(x['baseline_before'])}, after "
                     f"{_n(x['baseline_after'])})", _pct(_ratio(x["service"], x["baseline"])),
                     f"{_n(x['service_cpu_us'])} + {_n(x['service_db_us'])}",
                     f"{_n(x['baseline_cpu_us'])} + {_n(x['baseline_db_us'])}"])
    scale_service = _ratio(f["two"]["service"], f["one"]["service"])
    scale_raw = _ratio(f["two"]["baseline"], f["one"]["baseline"])
    return f"""{f['events']:,} events on `cdt.roster.events` and `cdt.assist.events` ({PARTITIONS}
partitions each, keyed by ward), made by `cdt/demo/national.py` for {f['wards']} wards: the
whole campaign's roster and plan, then {f['days']} working days of every ward ({types}).
Generated and produced in {_s(f['generate_seconds'], 0)}.

{table(INGEST_HEADER, rows)}

Two processes against one: service x{scale_service:.2f}, raw pipeline x{scale_raw:.2f} (both
share the machine's {(r.get('machine') or machine())['nproc']} cores with PostgreSQL and the
broker).

The CPU columns are CPU time (user + system) per event, from psutil: of the consuming
processes, and of the PostgreSQL backends serving their database. They move much less than the
rates when the machine is busy, and show where the difference lies.

*What is measured.* Events/s from the first to the last committed batch: the benchmark polls
the count of applied events every 50 ms (`event_counts` for the service, one progress row per
worker for the raw pipeline) and divides the events applied between the first poll that saw
progress and the poll that saw all of them by the time between the two. The service runs as
`python -m cdt serve reporting` on a fresh database with `CDT_CLOCK=watermark`, the replay
clock (with the wall clock, replaying 2025 decides every past session as soon as it is
scheduled, before its check-ins arrive, and alerts each as understaffed). For the two-process
run the service's consumer groups are reset to offset 0 and a second fresh database is used.
The raw pipeline (`tests/bench/raw.py`, one or two processes, one consumer group) consumes both
topics with aiokafka (1,000 records a poll), validates each record with the same event models
(`EventCodec`), claims the event ids in an inbox table (`INSERT ... ON CONFLICT DO NOTHING
RETURNING`), counts events per ward, day and type in memory, writes them with one multi-row
upsert, commits the transaction, then commits the offsets. Both deduplicate every event with
one unique insert: the raw pipeline in its inbox, the service in its inbox for roster events and
check-ins and by the fact's own key for dossiers and assists (`docs/delivery.md`). The reporting
database took
{_n(f.get('db_bytes', 0) / 2**20)} MB for these events ({_n(f.get('db_bytes', 0) / f['events'])}
bytes per event, inbox and indexes included).
"""


PARTITIONS = 4


def outbox_section(r: dict) -> str:
    f = r.get("outbox")
    if not f:
        return "Not run in this invocation.\n"
    rows = [["relay: committed rows to broker acks (polls of the unsent count)", _n(f["service"])],
            ["relay, from the rows' `sent_at` (first to last batch)",
             _n(f["service_by_sent_at"])],
            ["raw batched produce of the same records, same producer settings",
             f"{_n(f['baseline'])} (before the relay run {_n(f['baseline_before'])}, after "
             f"{_n(f['baseline_after'])})"],
            ["ratio", _pct(_ratio(f["service"], f["baseline"]))]]
    return f"""{f['events']:,} events (days of a province's wards: dossiers, assists, check-ins and
check-outs, as the assist service writes them) inserted into the assist service's `outbox` with
`shared.outbox.add` in one transaction ({_s(f['insert_seconds'], 1)}), then `python -m cdt serve
assist` started; its relay publishes them to `cdt.assist.events` (acks from all replicas,
batches of 1,000). The assist relay is the one with the volume: every dossier, assist and
check-in goes through it.

{table(['', 'events/s'], rows)}

*What is measured.* The relay figure is (rows sent between the first poll that saw a row sent
and the poll that saw none left) / (time between those polls), polled every 0.5 s (counting
unsent rows scans the outbox index, so it is not polled more often); the `sent_at` figure is
(rows sent before the last batch) / (last batch's `sent_at` - first batch's). The raw figure is
`tests/bench/raw.py:produce`: an `AIOKafkaProducer` with the relay's settings (`acks=all`,
`linger_ms=5`, 256 KiB batches) sends 1,000 records, awaits their acks, and so on; it runs
before and after the relay (their mean is the baseline), so that a change of load on the shared
machine shows.
"""


LATENCY_HEADER = ["rate", "dossiers", "to the read model p50 / p95 / p99",
                  "to /metrics as scraped p50 / p95 / p99",
                  "not seen within 30 s (read model / metrics)"]


def latency_section(r: dict) -> str:
    f = r.get("latency")
    if not f:
        return "Not run in this invocation.\n"
    closing = [("then ", f["closing"])] if f.get("closing") else []
    rows = [[f"{then}{s['rate']:,}/s (achieved {s['achieved']:,.0f}/s)", f"{s['dossiers']:,}",
             " / ".join(_ms(s["read_model"][q]) for q in ("p50", "p95", "p99")),
             " / ".join(_ms(s["metrics"][q]) for q in ("p50", "p95", "p99")),
             f"{s['missing_read_model']} / {s['missing_metrics']}"]
            for then, s in [("", s) for s in f["stages"]] + closing]
    return f"""Dossiers published on `cdt.intake.dossiers` by a paced producer (round-robin over
{f['wards']} wards), through the assist service (validation, dedupe, its outbox and relay) and
`cdt.assist.events` to the reporting service. The rate doubles from 200/s until the read
model's p99 reaches 1 s, then goes back to 200/s for a last stage (for the memory figures: each
service's RSS is compared at the same rate early and late).

{table(LATENCY_HEADER, rows)}

Highest rate holding p99 < 1 s: **{_n(f['highest_read_model'])}/s to the read model**
(rates tried: {', '.join(f"{s['rate']:,}/s" for s in f['stages'])}); to `/metrics`:
{_n(f['highest_metrics']) + '/s' if f['highest_metrics'] else 'none of them'}.

*What is measured.* Per dossier: from the moment it is handed to the producer to the first
observation showing it: a query of reporting's `rp_dossier_totals` every 50 ms (the read model),
and a `GET /metrics` every 100 ms parsing `cdt_dossiers_total` (what a scraper sees). Each
ward's dossiers stay in order on one partition, so the n-th dossier of a ward is visible when
the ward's count reaches n. While `/metrics` is scraped, reporting refreshes it soon after each
committed batch (at most every `CDT_METRICS_REFRESH_SECONDS`, 0.25 s, and never more than a
quarter of the time) and serves the last refresh meanwhile, so the second column is the first
plus up to one refresh interval and one scrape interval; a real Prometheus adds its own scrape
interval (15 s by default) on top of either.
"""


def roster_section(r: dict) -> str:
    f = r.get("roster")
    if not f:
        return "Not run in this invocation.\n"
    w, p, c = f["ward"], f["province"], f["country"]
    rows = [["one ward (the reference ward, 168 members), HTTP", _s(w["import"]), _s(w["plan"]),
             f"{_s(w['published'])} after the plan request", f"{w['events']:,}",
             f"{w['sessions']:,} / {w['assignments']:,}"],
            [f"a province ({p['wards']} simulated wards), HTTP, 4 requests in flight",
             _s(p["import"], 1), f"**{_s(p['plan'], 1)}**",
             f"{_s(p['published_after_plan_start'], 1)} after the first plan request",
             f"{p['events']:,}", f"{p['sessions']:,} / {p['assignments']:,} "
             f"({p['unstaffable']} unstaffable)"],
            [f"the country ({c['wards']:,} wards: the province, then the others), HTTP, 4 "
             "requests in flight", _s(c["import"], 0), f"**{_s(c['plan'], 0)}**",
             f"{_s(c['published_after_import_start'], 0)} after the first import",
             f"{c['events']:,}", f"{c['sessions']:,} / {c['assignments']:,} "
             f"({c['unstaffable']} unstaffable)"]]
    header = ["", "import", "plan", "until every event is published", "events",
              "sessions / assignments"]
    return f"""{table(header, rows)}

*What each figure measures.* Campaign: 2025-08-11 to 2025-12-31. *One
ward* and *a province* go through the roster service as an operator would: `POST
/wards/{{ward}}/roster/import` with the ward's roster file (CSV), then `POST
/wards/{{ward}}/plan` for the campaign; "plan" is the wall time of the plan requests (each
commits its shifts, assignments and events in one transaction), "published" runs until the
roster database's outbox has no unsent row (every event acknowledged by the broker). *The
country* continues in the same roster process and database: after the province, the other
wards are imported, then planned, the same way; its figures are the sums over both rounds
(import, plan, and the time from each round's first import until its events were published).
The relay publishes while the plans are being made, so most of the events are on the broker
when the last plan commits.
"""


def scrape_section(r: dict) -> str:
    f = r.get("scrape")
    if not f:
        return "Not run in this invocation.\n"
    rows = []
    for key, label in (("scrape", f"`GET /metrics`, one every {f['scrape_every']:g} s"),
                       ("report_alone", "`GET /wards/{ward}/report` (JSON), one after another"),
                       ("report_while_scraped", "the same reports while /metrics is scraped")):
        q = f[key]
        rows.append([label, str(q["n"]), _ms(q["p50"]), _ms(q["p95"]), _ms(q["p99"]),
                     _ms(q["max"])])
    wire = f", {_n(f['metrics_wire_bytes'] / 2**20, 1)} MB gzip-encoded on the wire" \
        if f.get("metrics_wire_bytes") else ""
    return f"""Reporting holds {f['wards_with_data']:,} wards: the province of benchmark 1 (100
wards, weeks of data each) plus one working day of each of {f['wards'] - 100:,} more wards
({f['extra_events']:,} more events, applied at {_n(f['ingest_rate'])} events/s). The database
is {_n(f['db_bytes'] / 2**20)} MB; `/metrics` has {f['series']:,} series
({_n(f['metrics_bytes'] / 2**20, 1)} MB{wire}). The first scrape after start, which waits for the
first rendering, took {_s(f['first_scrape'])}.

{table(['request', 'n', 'p50', 'p95', 'p99', 'max'], rows)}

Reports are of the 100 wards with weeks of data (the largest reports), chosen at random.
"""


MEMORY_HEADER = ["run", "process", "peak MB", "growth MB", "measured between", "events",
                 f"flat (<= {FLAT_MB} MB)", f"< {RSS_LIMIT_MB} MB"]


def memory_section(r: dict) -> str:
    memory = r.get("memory") or {}
    rows = []
    for phase, procs in memory.items():
        for name, m in procs.items():
            flat = m["growth_mb"] <= FLAT_MB
            # Results written before the growth was measured between named moments.
            before, after = m.get("growth_from_mb", m["half_mb"]), m.get("growth_to_mb", m["end_mb"])
            over = m.get("growth_over", "half-way and end of the events")
            over += "".join(f"; {label}: {mb:.0f} MB" for label, mb in m.get("marks", {}).items()
                            if label not in over)
            rows.append([phase, name, f"{m['peak_mb']:.0f}",
                         f"{m['growth_mb']:+.1f} ({before:.0f} → {after:.0f})", over,
                         f"{m['events']:,}", "yes" if flat else "**no**",
                         "yes" if m["peak_mb"] < RSS_LIMIT_MB else "**no**"])
    if not rows:
        return "Not run in this invocation.\n"
    return f"""RSS of every service process, sampled with psutil every 0.25 s during benchmarks 1-5.
The growth is the RSS added during a phase of steady load, so that it shows what the events
processed leave behind (a leak) and not what a heavier load holds: in benchmarks 1, 2, 4 and 5,
which apply a backlog or a plan at full speed, from the moment half of the run's events had
been processed to the moment all had; in benchmark 3, whose rate doubles from stage to stage,
over a closing 200/s stage run after the highest rate. That RSS is also compared with the RSS at
the end of the first 200/s stage: the difference is what the higher rates left behind (the
allocator's high-water mark; see the analysis below), which the peak column bounds.

{table(MEMORY_HEADER, rows)}
"""


def scaling_section(r: dict) -> str:
    ingest = r.get("ingest") or {}
    by_type = ingest.get("by_type") or {}
    dossiers = by_type.get("vn.cdt.assist.dossier.received.v1", 0)
    assist_events = sum(n for t, n in by_type.items() if ".assist." in t)
    per_dossier = assist_events / dossiers if dossiers else 1.19
    year = national.DOSSIERS_PER_YEAR
    assist_year = year * per_dossier
    office_seconds = national.WORKING_DAYS_PER_YEAR * 10 * 3600
    peak_factor = national.arrival_peak_factor()
    avg = assist_year / office_seconds
    peak = avg * peak_factor * 1.15  # Mondays are 15% busier
    one = (ingest.get("one") or {}).get("service") or float("nan")
    raw = (ingest.get("one") or {}).get("baseline") or float("nan")
    bytes_per_event = ingest.get("db_bytes", 0) / ingest["events"] if ingest.get("events") else 500
    rebuild_events = assist_year + 6e6
    rebuild_hours = rebuild_events / one / 3600 if one == one else float("nan")
    replicas_1h = math.ceil(rebuild_events / 3600 / one) if one == one else "n/a"
    outbox = (r.get("outbox") or {}).get("service") or float("nan")
    return f"""### The country's volume

| | per year | average over office hours | morning peak |
|---|---|---|---|
| dossiers (all channels), on `cdt.intake.dossiers` | {year / 1e6:,.0f} M \
| {year / office_seconds:,.1f}/s | {year / office_seconds * peak_factor * 1.15:,.0f}/s |
| `cdt.assist.events` ({per_dossier:.2f} events a dossier in the simulation: dossiers, \
assists, check-ins/outs) | {assist_year / 1e6:,.0f} M | {avg:,.1f}/s | {peak:,.0f}/s |
| `cdt.roster.events` (imports, plans and changes; about 700 events a ward a campaign) \
| about 6 M | bursts when wards plan | |
| `cdt.reporting.events` (daily summaries, understaffed alerts) | about {3321 * 250 * 1.2 / 1e6:.0f} M | | |

Office hours are {national.WORKING_DAYS_PER_YEAR} working days of 10 hours; the peak is the
simulation's busiest quarter-hour ({peak_factor:.1f}x the day's mean, from the arrival curve in
`cdt/demo/national.py`) on a Monday (+15%). A province (100 wards) sees 1/33 of these rates.

Live traffic is small: the whole country's morning peak (about {peak:,.0f} events/s on the
assist topic) is a fraction of what one reporting process applies on this 2-core machine
({_n(one)}/s, against {_n(raw)}/s for the raw pipeline). What sizes the cluster is catching up:
a replay or a `cdt reporting rebuild` of a year ({rebuild_events / 1e6:,.0f} M events) takes
{rebuild_hours:,.1f} hours with one replica at the measured rate, and a backlog after an outage
(a province's dossier system re-sending a day, about 12,000 dossiers, at 200/s) must drain
within minutes, which benchmark 3 shows one replica doing at up to
{_n((r.get('latency') or {}).get('highest_read_model'))}/s with p99 < 1 s.

### Partitions per topic

Every event is keyed by its ward, so a ward's events stay in order on one partition and a
partition is the unit of parallelism: a consumer group uses at most as many replicas as the
topic has partitions. With 3,321 wards, keys spread evenly enough over up to a few hundred
partitions (48 partitions: about 69 wards each).

| topic | partitions | why |
|---|---|---|
| `cdt.intake.dossiers`, `cdt.assist.events` | 48 | replay parallelism for 12-24 replicas, \
room to double |
| `cdt.roster.events` | 12 | low volume; bursts when many wards plan at once |
| `cdt.reporting.events` | 6 | daily summaries and alerts |
| `*.dlt` | 3 | dead letters: should stay near empty |

Partitions cannot be reduced later and adding them moves wards between partitions (their order
holds only after the old partitions are drained), so they are set at creation
(`CDT_KAFKA_PARTITIONS`), with replication factor 3 and `min.insync.replicas=2`.

### Consumer replicas

Each service's consumers are one group per consumed topic; replicas share its partitions.
For live traffic two replicas per service are for availability, not load. For catching up,
replicas = events to apply / (time allowed x rate of one replica): a year's rebuild in one hour
needs {rebuild_events / 3600:,.0f} events/s, that is {replicas_1h} replicas at this machine's
single-process rate, provided PostgreSQL keeps up (below). Two processes on this machine reached
x{_ratio((ingest.get('two') or {}).get('service'), one):.2f} of one, because they share two
cores with PostgreSQL and the broker; on separate machines replicas add nearly linearly until
the database saturates. The outbox relay is one active relay per database (an advisory lock
keeps each ward's events in order), at {_n(outbox)} events/s here: ample for live traffic, and
the bound on how fast a service can republish.

### What the PostgreSQL cluster needs

- **Write rate.** Applying one event writes a fact row (dossier, assist, check-in; the
  dossier's and assist's key is their inbox, other events also write an inbox row) and
  increments two or three aggregate rows, in a transaction per 1,000 events. A
  rebuild at {rebuild_events / 3600:,.0f} events/s is about {rebuild_events / 3600 * 4 / 1000:,.0f}k
  row writes/s and the matching WAL: a primary with 16+ cores and NVMe storage, or reporting
  split by province (one database per group of provinces: read models are per ward, so the split
  follows the Kafka key). Live traffic needs a small fraction of one core.
- **Storage.** The benchmark's reporting database used {_n(bytes_per_event)} bytes per event
  (inbox and indexes included): about {assist_year * bytes_per_event / 2**30:,.0f} GiB a year for
  reporting, similar for assist (its own facts, inbox and 7 days of outbox). The inbox only has
  to outlive the topics' retention (a redelivery can only come from the topic), so pruning it
  after the retention saves what is left of it (roster events and check-ins in reporting).
- **Durability costs little here.** The benchmark's PostgreSQL ran with `fsync` off; with
  durable commits each batch waits for one WAL flush (about 1-2 ms on NVMe, more with a
  synchronous standby) per 1,000 events, a few percent at the measured rates. The relay's and
  the consumers' batches are what make that affordable: a commit per event would be bound by
  the flush latency (hundreds of events/s).
- **Connections.** Each service process opens a pool of up to 10 connections plus 4 for
  tokens: 3 services x 4 replicas is about 170 connections; put PgBouncer in front (session
  pooling for the relay's `LISTEN cdt_outbox` connection; transaction pooling for the rest
  needs PgBouncer >= 1.21 with `max_prepared_statements`, since asyncpg prepares every
  statement).
- **Availability.** A synchronous standby per primary (`synchronous_commit=on`): the outbox
  and inbox make delivery exactly-once in effect only if a committed transaction survives a
  failover. Read replicas can serve reports and `/metrics` refreshes.
"""


COMPLETE = ("ingest", "outbox", "latency", "roster", "scrape")


def write(data: dict) -> None:
    """Write tests/artifacts/bench/results.json and the page: docs/performance.md after a
    complete run at full scale, tests/artifacts/bench/performance.md after a partial one (so that
    one benchmark, or a run on a fraction of the data, never replaces the published figures)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    end = data.setdefault("machine_end", machine())
    (ARTIFACTS / "results.json").write_text(json.dumps(data, indent=2, default=str))
    m = data.get("machine") or end
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(data["started"]))
    scale = "" if data["scale"] == 1 else (
        f"\n> **Partial scale**: `CDT_BENCH_SCALE={data['scale']}`; figures are not comparable "
        "with the targets.\n")
    body = f"""# Performance

Generated by `make bench` (`.venv/bin/python -m pytest -q -s tests/bench`) on {when}, in
{_n(data.get('seconds', 0) / 60, 1)} minutes. Do not edit by hand: the benchmarks rewrite it.
{scale}
Every benchmark runs the real services as processes (`python -m cdt serve NAME`) on a real
broker and a real PostgreSQL, and compares each throughput with the same machine's limit
measured in the same run by a raw baseline (aiokafka + pydantic + batched asyncpg, no framework),
so that the ratios hold on a busy machine even when the absolute figures move.

**Machine.** {m['nproc']} CPUs ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}. Load
average at the start {m['load']}, at the end {end['load']}: the CPUs were shared with other
work, so absolute figures are lower than on an idle machine. **Broker**: the embedded broker
(Tansu, in memory), a fresh one per benchmark. **PostgreSQL**: {data.get('postgres', 'n/a')}.

## Summary

{table(['figure', 'measured', 'baseline (same run)', 'ratio', 'target', 'verdict'], summary_rows(data))}

## 1. Reporting ingest

{ingest_section(data)}
## 2. Outbox relay

{outbox_section(data)}
## 3. Intake to metric latency

{latency_section(data)}
## 4. Roster planning

{roster_section(data)}
## 5. `/metrics` and report latency with 3,321 wards

{scrape_section(data)}
## 6. Memory

{memory_section(data)}
## Where the time goes, what was changed, and the plan for what is missed

{analysis()}
## Scaling out to the country

{scaling_section(data) if data.get('ingest') else 'Needs benchmark 1.'}
## Commands

```
make bench                                   # everything (under 20 minutes), rewrites this page
CDT_BENCH_SCALE=0.05 make bench              # the same on a twentieth of the data (harness check)
.venv/bin/python -m pytest -q -s tests/bench/test_3_latency.py   # one benchmark
CDT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench   # a configured PostgreSQL
.venv/bin/python -m tests.bench.profile ingest --events 500000   # py-spy profile of reporting ingest
.venv/bin/python -m tests.bench.profile ingest --idle            # ... with each thread's busy share
.venv/bin/python -m tests.bench.profile scrape --wards 3321      # ... of /metrics and reports
.venv/bin/python -m tests.bench.profile plan --wards 100         # ... of roster import + plan
.venv/bin/python -m tests.bench.profile relay --events 200000    # ... of the outbox relay
.venv/bin/python -m tests.bench.fetch_sizes                      # the broker's fetch response sizes
.venv/bin/python -m tests.bench.inbox_claim                      # the inbox claim alone, on PostgreSQL
.venv/bin/python -m tests.bench.write_path                       # reporting's transaction, in-process
```

A partial run (one benchmark, or `CDT_BENCH_SCALE` below 1) writes its page to
`tests/artifacts/bench/performance.md` instead of this one.

Per-run details (every sample summary, the logs of the services) are kept in
`tests/artifacts/bench/`. The profiles need `py-spy` (`.venv/bin/pip install py-spy`).
"""
    complete = data["scale"] == 1 and all(data.get(k) for k in COMPLETE)
    target = DOC if complete else ARTIFACTS / "performance.md"
    target.write_text(body)
    print(f"\n{target.relative_to(ROOT)} written" + ("" if complete else
          " (a partial run: docs/performance.md is left as it was)"))


ANALYSIS_PATH = Path(__file__).with_name("analysis.md")


def analysis() -> str:
    """The hand-written part, as it is when the page is written (it may be edited during a run)."""
    return ANALYSIS_PATH.read_text() if ANALYSIS_PATH.exists() else ""


if __name__ == "__main__":
    # Re-render the page from the last run's figures (tests/artifacts/bench/results.json), e.g.
    # after editing analysis.md: .venv/bin/python -m tests.bench.report
    write(json.loads((ARTIFACTS / "results.json").read_text()))
