"""The smoke run on a broker of its own: no consumer of another package's processes can hold
this package's partitions, and no group committed past its events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.embedded import EmbeddedKafka, _free_port


@pytest.fixture(scope="package")
def kafka() -> Iterator[EmbeddedKafka]:
    with EmbeddedKafka(port=_free_port()) as broker:
        yield broker
