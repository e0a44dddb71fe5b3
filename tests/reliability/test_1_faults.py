"""Faults under load: after each, every figure of every ward equals the truth (lost 0, double 0).

The campaign of every ward is cut into segments; each scenario plays one segment while its
fault is injected (at random moments drawn from the run's seeded generator), then waits until
the reporting figures equal the truth of everything the driver got accepted so far.
"""

from __future__ import annotations

import os

import pytest

from tests.reliability import faults
from tests.reliability.run import Run, ScenarioResult

pytestmark = pytest.mark.integration

# name, what is injected, share of the campaign's days, fault (None: no fault)
SCENARIOS = [
    ("baseline", "no fault (warm-up)", 3, None),
    ("kill-9 roster", "kill -9 of roster at 2 random moments", 5,
     lambda run, days: faults.kill9(run, "roster", 2, days)),
    ("kill-9 assist", "kill -9 of assist at 3 random moments", 8,
     lambda run, days: faults.kill9(run, "assist", 3, days)),
    ("kill-9 reporting", "kill -9 of reporting at 3 random moments", 8,
     lambda run, days: faults.kill9(run, "reporting", 3, days)),
    ("failpoint relay_after_publish", "each service restarted with CDT_FAILPOINTS="
     "relay_after_publish dies after the broker's acks, before marking rows sent", 6,
     lambda run, days: faults.failpoint(run, "relay_after_publish",
                                        ["assist", "roster", "reporting"], days)),
    ("failpoint consumer_after_commit", "each service restarted with CDT_FAILPOINTS="
     "consumer_after_commit dies after its database commit, before the offset commit", 6,
     lambda run, days: faults.failpoint(run, "consumer_after_commit",
                                        ["reporting", "assist", "roster"], days)),
    ("SIGTERM during work", "SIGTERM of assist, reporting and roster under load, restarted", 6,
     lambda run, days: faults.sigterm(run, ["assist", "reporting", "roster"], days)),
    ("broker paused 30 s", "broker SIGSTOP for 30 s, then SIGCONT", 6,
     lambda run, days: faults.broker_pause(run, 30, days)),
    ("broker lost its data", "broker kill -9 and restart empty; cdt outbox republish --since; "
     "the provincial system re-sends", 6, lambda run, days: faults.broker_restart(run, days)),
    ("PostgreSQL restart", "PostgreSQL stopped under load and started again", 6,
     lambda run, days: faults.postgres_restart(run, days)),
    ("network latency", "TCP proxy: +100 ms on broker links, +30 ms on database links", 5,
     lambda run, days: faults.proxy_latency(run, days)),
    ("network cuts", "TCP proxy: broker, assist's and reporting's database links cut 8 s each",
     5, lambda run, days: faults.proxy_cuts(run, days)),
    ("connection resets", "TCP proxy: RST on every broker and database connection, 3 times", 5,
     lambda run, days: faults.proxy_resets(run, days)),
    ("rebalance", "a second reporting replica joins the consumer group, then leaves", 8,
     lambda run, days: faults.rebalance(run, days)),
    ("final", "no fault: the rest of the campaign, then a closing dossier per ward", 0, None),
]
QUICK = {"baseline", "kill-9 assist", "failpoint consumer_after_commit", "broker lost its data",
         "final"}


def selected(run: Run, name: str) -> bool:
    only = os.environ.get("RELIABILITY_ONLY")
    if only:
        return name in only.split(",")
    return not run.quick or name in QUICK


def _days(run: Run, index: int) -> int:
    """Days of a scenario: its share of the campaign; the final one plays what is left."""
    chosen = [s for s in SCENARIOS if selected(run, s[0])]
    weights = sum(s[2] for s in chosen)
    name = SCENARIOS[index][0]
    if name == "final":
        assert run.driver is not None
        return max(0, run.days_total - run.driver.wards[0].days_played)
    share = max(1, round(run.days_total * SCENARIOS[index][2] / max(weights, 1)))
    played = run.driver.wards[0].days_played if run.driver else 0
    return max(0, min(share, run.days_total - played - 1))


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[s[0] for s in SCENARIOS])
async def test_fault(run: Run, index: int) -> None:
    name, fault, _, make = SCENARIOS[index]
    if not selected(run, name):
        pytest.skip("not selected (RELIABILITY_QUICK, RELIABILITY_ONLY)")
    days = _days(run, index)
    run.log(f"\n[{run.now():7.1f}s] scenario {name}: {days} days of {len(run.ward_names)} wards")
    inject = make(run, days) if make else None
    result: ScenarioResult = await run.scenario(name, fault, days, inject)
    run.log(f"[{run.now():7.1f}s] {name}: {result.events} records, lost {result.lost}, "
            f"double {result.double}, converged {result.converged} "
            f"({result.load_end_to_converged_s:.1f}s after the load), ready {result.ready_s}, "
            f"notes {result.notes}")
    assert result.converged, f"{name}: figures differ from the truth: {result.mismatches}"
    assert result.lost == 0 and result.double == 0
