"""`cdt serve` stopped by SIGTERM at any moment of its start (embedded broker just started,
HTTP up while consumer groups join, ready) leaves nothing running: the embedded broker is in a
session of its own (so a terminal's Ctrl-C reaches `cdt` first), so only `cdt serve` can stop
it."""

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


def _reached(stage: str, serve: subprocess.Popen, port: int,
             seen: dict[int, psutil.Process], commands: dict[int, str]) -> bool:
    try:
        for child in psutil.Process(serve.pid).children(recursive=True):
            seen.setdefault(child.pid, child)
            commands[child.pid] = " ".join(child.cmdline())  # again: a fork shows its parent's
    except psutil.NoSuchProcess:
        return True
    if stage == "broker started":
        return any("tansu" in c for c in commands.values())
    try:
        path = "/healthz" if stage == "serving HTTP" else "/readyz"
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("stage", ["broker started", "serving HTTP", "ready"])
def test_sigterm_while_starting_leaves_no_process(state_dir: Path, fresh_database_url: str,
                                                   stage: str) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    env.update({"CDT_STATE_DIR": str(state_dir), "CDT_DATABASE_URL": fresh_database_url,
                "CDT_ROSTER_PORT": str(port), "PYTHONPATH": str(ROOT)})
    serve = subprocess.Popen([sys.executable, "-m", "cdt", "serve", "roster"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        seen: dict[int, psutil.Process] = {}
        commands: dict[int, str] = {}
        deadline = time.monotonic() + 60
        while not _reached(stage, serve, port, seen, commands):
            assert time.monotonic() < deadline, f"never reached {stage!r}: {commands}"
            time.sleep(0.01)
        assert serve.poll() is None, serve.stdout.read().decode() if serve.stdout else ""
        assert any("tansu" in c for c in commands.values()), commands
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == -signal.SIGTERM
        output = serve.stdout.read().decode() if serve.stdout else ""
        assert "Traceback" not in output, output
        _, alive = psutil.wait_procs(list(seen.values()), timeout=15)
        alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"left running: {[(p.pid, p.cmdline()[:2]) for p in alive]}\n{output}"
    finally:
        if serve.poll() is None:
            serve.kill()
