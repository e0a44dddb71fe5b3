"""Each service starts as a process, answers its health routes and serves its AsyncAPI document."""

import time

import httpx
import pytest

from shared.config import SERVICES


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_is_ready_within_30_seconds_and_documents_its_events(start_service,
                                                                        name) -> None:
    began = time.monotonic()
    service = start_service(name, wait=False)
    service.wait_ready(timeout=30)
    assert time.monotonic() - began < 30
    assert httpx.get(f"{service.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["checks"] == {"database": "ok", "migrations": "ok", "broker": "ok"}
    metrics = httpx.get(f"{service.url}/metrics")
    assert metrics.status_code == 200
    assert "cdt_events_processed_total" in metrics.text or name == "roster"
    document = httpx.get(f"{service.url}/asyncapi.json").json()
    assert any(channel.startswith(f"cdt.{name}.events") for channel in document["channels"])
    page = httpx.get(f"{service.url}/asyncapi").text
    assert "asyncapi/try" not in page  # the "try it out" route could publish to the broker
    assert httpx.post(f"{service.url}/asyncapi/try", json={}).status_code in (404, 405)
    openapi = httpx.get(f"{service.url}/openapi.json").json()
    assert "/healthz" not in openapi["paths"]
