"""The reliability run: one system for the whole session, shared by the fault, fuzz and security
tests (in that order), and docs/reliability.md written from it at the end.

Environment: RELIABILITY_WARDS (5), RELIABILITY_DAYS (the whole campaign), RELIABILITY_SEED
(2025), RELIABILITY_QUICK=1 (2 wards, 12 days: to debug the suite), RELIABILITY_DOC (the page
written; default docs/reliability.md, none when RELIABILITY_QUICK is set).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.reliability.run import Run

ROOT = Path(__file__).resolve().parents[2]


def _settings() -> dict:
    quick = os.environ.get("RELIABILITY_QUICK", "") not in ("", "0")
    doc = os.environ.get("RELIABILITY_DOC")
    if doc is None and not quick:
        doc = str(ROOT / "docs" / "reliability.md")
    return {
        "quick": quick,
        "wards": int(os.environ.get("RELIABILITY_WARDS", "2" if quick else "5")),
        "days": int(os.environ.get("RELIABILITY_DAYS", "12" if quick else "0")) or None,
        "seed": int(os.environ.get("RELIABILITY_SEED", "2025")),
        "doc": doc,
    }


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture(scope="session")
async def run() -> AsyncIterator[Run]:
    settings = _settings()
    artifacts = ROOT / "tests" / "artifacts" / "reliability" / time.strftime("%Y%m%d-%H%M%S")
    the_run = Run(artifacts, wards=settings["wards"], seed=settings["seed"],
                  quick=settings["quick"])
    the_run.settings = settings
    # A SIGTERM (e.g. `timeout`) unwinds like Ctrl-C, so that every process started is stopped.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        await the_run.start()
        if settings["days"]:
            the_run.days_total = min(the_run.days_total, settings["days"])
        yield the_run
    finally:
        the_run.phases["total"] = the_run.now()
        await the_run.stop()
        if settings["doc"]:
            from tests.reliability.report import write

            write(the_run, Path(settings["doc"]))
        signal.signal(signal.SIGTERM, previous)
        print(f"\nreliability artifacts: {artifacts}")
