"""The reporting service's end-to-end test on a broker of its own.

`cdt reporting rebuild` re-reads cdt.roster.events and cdt.assist.events from their beginning. On
the session's broker those topics also hold the events of every package tested before (the assist
tests' wards, ...), which this test's fresh database has never seen when the cdt-reporting.*
consumer groups already committed past them: the rebuild would then alert them (true alerts, new
to this database), and the outbox would hold more than this ward's alerts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.embedded import EmbeddedKafka, _free_port


@pytest.fixture(scope="package")
def kafka() -> Iterator[EmbeddedKafka]:
    """Only the events this package publishes, and no consumer group that moved on without them."""
    with EmbeddedKafka(port=_free_port()) as broker:
        yield broker
