"""`cdt up` on a fresh machine: everything ready within 30 s, Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from shared.embedded import _free_port

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration


def _env(state_dir: Path, **extra: str) -> tuple[dict[str, str], dict[str, int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    ports = {name: _free_port() for name in ("roster", "assist", "reporting")}
    env.update({f"CDT_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env.update({"CDT_STATE_DIR": str(state_dir), "CDT_KAFKA_SESSION_TIMEOUT_MS": "3000",
                "PYTHONPATH": str(ROOT), **extra})
    return env, ports


def _all_ready(ports: dict[str, int], deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            if all(httpx.get(f"http://127.0.0.1:{p}/readyz", timeout=2).status_code == 200 and
                   httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=2).status_code == 200
                   for p in ports.values()):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def _run_up_and_interrupt(env: dict[str, str], ports: dict[str, int]) -> list[str]:
    """Start `cdt up`, wait for readiness, press Ctrl-C; returns the names of its children."""
    began = time.monotonic()
    up = subprocess.Popen([sys.executable, "-m", "cdt", "up"], env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ready = _all_ready(ports, began + 30)
        token = Path(env["CDT_STATE_DIR"]) / "operator.token"
        while not token.exists() and time.monotonic() < began + 30:
            time.sleep(0.1)
        assert token.exists(), "no operator token written"
        tree = psutil.Process(up.pid).children(recursive=True)
        names = [" ".join(p.cmdline()[:4]) for p in tree if p.is_running()]
        assert ready, f"not ready within 30 s; children: {names}"
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
        output = up.stdout.read().decode() if up.stdout else ""
        assert up.returncode == 0, output
        _, alive = psutil.wait_procs(tree, timeout=10)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], \
            f"left behind: {[p.pid for p in alive]}"
        return names
    finally:
        if up.poll() is None:
            up.kill()


def test_cdt_up_on_embedded_defaults_is_ready_in_30s_and_ctrl_c_stops_everything(
        state_dir: Path) -> None:
    env, ports = _env(state_dir)
    children = _run_up_and_interrupt(env, ports)
    assert any("tansu" in c for c in children), children
    assert any("postgres" in c for c in children), children
    assert not (state_dir / "state.json").exists()  # removed on the way out


def test_cdt_up_with_configured_broker_and_database_starts_nothing_embedded(
        state_dir: Path, kafka, fresh_database_url: str) -> None:
    env, ports = _env(state_dir, CDT_KAFKA_BOOTSTRAP=kafka.bootstrap,
                      CDT_DATABASE_URL=fresh_database_url)
    children = _run_up_and_interrupt(env, ports)
    assert not any("tansu" in c or "postgres" in c for c in children), children
    assert len(children) == 3, children
