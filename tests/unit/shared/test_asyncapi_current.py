"""The committed AsyncAPI documents are the ones the code generates."""

from pathlib import Path

import pytest

from cdt.asyncapi import generate
from shared.config import SERVICES

DOCS = Path(__file__).resolve().parents[3] / "docs" / "asyncapi"


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_asyncapi_document_is_current(service: str) -> None:
    committed = (DOCS / f"{service}.json").read_text("utf-8")
    assert committed == generate(service), f"run `make asyncapi` to update {service}.json"
