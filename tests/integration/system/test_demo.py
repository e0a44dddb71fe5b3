"""`cdt demo --days 5` on embedded defaults: under 2 minutes, its report is the system's, and
every PromQL expression of the rules and the dashboard evaluates on a Prometheus scraping it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from shared.embedded import _free_port
from tests.integration.deploy.promql_live import evaluate_every_expression

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration


def _metric(text: str, name: str, ward: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and f'ward="{ward}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _settled_metrics(port: int, dossiers: int) -> str:
    """/metrics once it shows the final figures (a scrape may serve the previous rendering)."""
    deadline = time.monotonic() + 20
    while True:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        if _metric(text, "cdt_dossiers_total", "ban-thach") == dossiers or \
                time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_a_five_day_demo_reports_what_cdt_report_and_metrics_say(tmp_path: Path,
                                                                  state_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    ports = {name: _free_port() for name in ("roster", "assist", "reporting")}
    env.update({f"CDT_{n.upper()}_PORT": str(p) for n, p in ports.items()})
    env.update({"CDT_STATE_DIR": str(state_dir), "PYTHONPATH": str(ROOT)})
    report_file = tmp_path / "report.json"
    began = time.monotonic()
    demo = subprocess.Popen([sys.executable, "-m", "cdt", "demo", "--days", "5",
                             "--report-json", str(report_file)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        while not report_file.exists() and time.monotonic() - began < 120:
            assert demo.poll() is None, demo.stdout.read().decode() if demo.stdout else ""
            time.sleep(0.5)
        elapsed = time.monotonic() - began
        assert report_file.exists(), "no report within 2 minutes"
        assert elapsed < 120
        produced = json.loads(report_file.read_text())
        shown, totals = produced["report"], produced["totals"]
        assert shown["online"]["dossiers"] == totals["dossiers"] > 0
        assert shown["assists"]["total"] == totals["assists"] > 0
        assert shown["staffing"]["scheduled"] == 10

        cli = subprocess.run([sys.executable, "-m", "cdt", "report", "--ward", "ban-thach",
                              "--from", shown["period"]["from"], "--to", shown["period"]["to"],
                              "--format", "json"], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        reported = json.loads(cli.stdout)
        for key in ("online", "staffing", "assists", "volunteers", "by_channel"):
            assert reported[key] == shown[key], key

        metrics = _settled_metrics(ports["reporting"], shown["online"]["dossiers"])
        assert _metric(metrics, "cdt_dossiers_total", "ban-thach") == shown["online"]["dossiers"]
        assert _metric(metrics, "cdt_assists_total", "ban-thach") == shown["assists"]["total"]
        ratio = re.search(r'cdt_online_dossier_ratio\{ward="ban-thach"\} (\S+)', metrics)
        assert ratio and float(ratio.group(1)) == pytest.approx(shown["online"]["online_ratio"])

        # Every alert, recording rule and dashboard expression evaluates on a real Prometheus
        # that scraped this demo run, and the ward's ratio is there.
        results = evaluate_every_expression(f"127.0.0.1:{ports['reporting']}", tmp_path)
        assert any(series for expr, series in results.items()
                   if "cdt_online_dossier_ratio" in expr), "no online ratio for the ward"
        tree = psutil.Process(demo.pid).children(recursive=True)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(tree, timeout=10)
        assert not alive
    finally:
        if demo.poll() is None:
            demo.kill()
