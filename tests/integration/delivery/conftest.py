"""The probe service as a process, for the delivery and token tests."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shared.embedded import _free_port

ROOT = Path(__file__).resolve().parents[3]


class Probe:
    """The probe service (probe_service.py) as a process that tests can kill anywhere."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.env = {**env, "CDT_PROBE_PORT": str(self.port)}
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def start(self, wait: bool = True, **extra_env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.delivery.probe_service"],
            env={**self.env, **extra_env}, cwd=ROOT,
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(self.log.read_text()[-3000:])

    def exited(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def state(self) -> dict:
        return self.http.get("/state").json()

    def emit(self, start: int, count: int, **params: object) -> None:
        self.http.post("/emit", params={"start": start, "count": count, **params})

    def wait_applied(self, expected: int, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        state = self.state()
        while time.monotonic() < deadline:
            state = self.state()
            if state["applied"] >= expected and state["unsent"] == 0:
                return state
            time.sleep(0.25)
        raise AssertionError(f"applied {state} of {expected} in {timeout}s")


@pytest.fixture
def probe_env(service_env: dict[str, str]) -> dict[str, str]:
    return {**service_env, "PROBE_TOPIC": f"probe.{uuid.uuid4().hex[:8]}"}


@pytest.fixture
def make_probe(probe_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Probe]]:
    probes: list[Probe] = []

    def make(**env: str) -> Probe:
        probe = Probe({**probe_env, **env}, tmp_path / f"probe-{len(probes)}.log")
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.stop()
