"""`cdt serve` stopped by SIGTERM at any moment of its start (embedded broker starting, service
starting, consumer groups joining) leaves nothing running: the embedded broker is in a session of
its own (so a terminal's Ctrl-C reaches `cdt` first), so only `cdt serve` can stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from shared.embedded import _free_port

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration


@pytest.mark.parametrize("after", [0.8, 1.6, 3.0])
def test_sigterm_while_starting_leaves_no_process(state_dir: Path, fresh_database_url: str,
                                                   after: float) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    env.update({"CDT_STATE_DIR": str(state_dir), "CDT_DATABASE_URL": fresh_database_url,
                "CDT_ROSTER_PORT": str(_free_port()), "PYTHONPATH": str(ROOT)})
    serve = subprocess.Popen([sys.executable, "-m", "cdt", "serve", "roster"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        seen: dict[int, psutil.Process] = {}
        commands: list[str] = []
        deadline = time.monotonic() + after
        while time.monotonic() < deadline:  # every child that existed before the signal
            try:
                for child in psutil.Process(serve.pid).children(recursive=True):
                    if child.pid not in seen:
                        seen[child.pid] = child
                        commands.append(" ".join(child.cmdline()))
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == -signal.SIGTERM
        output = serve.stdout.read().decode() if serve.stdout else ""
        assert "Traceback" not in output, output
        _, alive = psutil.wait_procs(list(seen.values()), timeout=15)
        alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"left running: {[(p.pid, p.cmdline()[:2]) for p in alive]}\n{output}"
        assert any("tansu" in c for c in commands), f"no embedded broker started: {commands}"
    finally:
        if serve.poll() is None:
            serve.kill()
