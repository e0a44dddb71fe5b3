"""Every rule and dashboard query evaluates on Debian's Prometheus (used by the demo's end-to-end test)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from shared.embedded import _free_port
from tests.integration.deploy.promql_sources import RULE_FILES, every_expression, rules

pytestmark = pytest.mark.integration


def wait_for(check, what: str, timeout: float, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise TimeoutError(f"{what} within {timeout:.0f}s; Prometheus said:\n{log.read_text()[-3000:]}")


def write_config(tmp_path: Path, target: str) -> Path:
    """A config scraping `target` as job reporting each second, with our rules evaluated each second."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for path in RULE_FILES:
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            group.pop("interval", None)  # the global 1s instead of 30s or 1m
        (rules_dir / path.name).write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules_dir / "*.yml")],
        "scrape_configs": [{"job_name": "reporting",
                            "static_configs": [{"targets": [target]}]}],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def evaluate_every_expression(target: str, tmp_path: Path) -> dict[str, list]:
    """Start Debian's Prometheus scraping `target`, wait for the rules, evaluate every rule and
    dashboard expression; returns each expression's result (all must succeed)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: apt-get update && apt-get install -y prometheus")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    config = write_config(tmp_path, target)
    log = tmp_path / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(timeout=5) as http:
            def query(expr: str) -> dict:
                return http.post(f"{api}/query", data={"query": expr}).json()

            def scraped() -> bool:
                try:
                    result = query('up{job="reporting"} == 1')
                except (httpx.HTTPError, ValueError):  # not listening, or 503 while starting
                    return False
                return bool(result.get("data", {}).get("result"))

            wait_for(scraped, "no successful scrape of the reporting service", 20, log)
            # The service's own cdt_* metrics arrived, not only `up`.
            lag = query('count(cdt_event_lag_seconds_bucket{service="reporting"})')
            assert lag["status"] == "success" and lag["data"]["result"], lag

            def rules_evaluated() -> list[dict] | None:
                groups = http.get(f"{api}/rules").json()["data"]["groups"]
                loaded = [rule for group in groups for rule in group["rules"]]
                # Never evaluated yet: lastEvaluation is the zero time, 0001-01-01.
                done = all(not rule.get("lastEvaluation", "0001").startswith("0001")
                           for rule in loaded)
                return loaded if loaded and done else None

            loaded = wait_for(rules_evaluated, "rules not evaluated", 10, log)
            assert len(loaded) == len(rules())
            for rule in loaded:
                assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))

            failures, results = {}, {}
            for where, expr in every_expression():
                answer = query(expr)
                if answer.get("status") != "success":
                    failures[where] = answer.get("error", answer)
                else:
                    results[expr] = answer["data"]["result"]
            assert not failures, failures
            return results
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
