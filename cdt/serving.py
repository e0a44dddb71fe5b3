"""`cdt serve` and `cdt up`: run one service, or the whole system with embedded infrastructure."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import subprocess
import sys
import time

import httpx
import uvicorn

from cdt import infra
from cdt.output import console, fail
from shared import allocator
from shared.config import DEFAULT_PORTS, SERVICES, CommonSettings, ConfigError, load_settings

SETTINGS_CLASSES = {
    "roster": "services.roster.config:RosterSettings",
    "assist": "services.assist.config:AssistSettings",
    "reporting": "services.reporting.config:ReportingSettings",
}


def _load(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def service_settings(service: str, **overrides):
    return load_settings(_load(SETTINGS_CLASSES[service]), **overrides)


class _Terminated(BaseException):
    """SIGTERM, raised where the process is, so that every `with` on the way out runs."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise _Terminated


def serve(service: str) -> None:
    """Run one service in this process until SIGINT/SIGTERM."""
    # SIGTERM must unwind the `with` in _serve, which stops an embedded broker and database: they
    # run in sessions of their own, so nothing else stops them. Uvicorn handles SIGTERM while it
    # serves and raises it again once it has shut down; the handler below then unwinds, and the
    # process ends by SIGTERM as before (its exit status says so).
    signal.signal(signal.SIGTERM, _raise_terminated)
    allocator.fix_mmap_threshold()  # before the service allocates its first fetch buffers
    try:
        _serve(service)
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _serve(service: str) -> None:
    if service not in SERVICES:
        fail(f"unknown service {service!r}; choose one of {', '.join(SERVICES)}")
    try:
        settings = service_settings(service)
    except ConfigError as exc:
        fail(f"configuration: {exc}")
    logging.basicConfig(level=settings.log_level.upper(),
                        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    with infra.start_infrastructure(settings, log=lambda m: console.print(m)) as resolved:
        settings = service_settings(service, kafka_bootstrap=resolved.kafka_bootstrap,
                                    database_url=resolved.database_url,
                                    token_secret=resolved.token_secret)
        try:
            app = _load(f"services.{service}.app:create_app")(settings)
        except ConfigError as exc:
            fail(f"configuration: {exc}")
        config = uvicorn.Config(app, host=settings.host, port=settings.port,
                                log_level=settings.log_level.lower(), access_log=False,
                                lifespan="on", timeout_graceful_shutdown=15)
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            fail(f"the {service} service could not start; see the log above")


def _wait_ready(urls: dict[str, str], procs: dict[str, subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    with httpx.Client(timeout=2.0) as client:
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                if procs[name].poll() is not None:
                    raise RuntimeError(f"the {name} service exited with code "
                                       f"{procs[name].returncode}; see its log")
                try:
                    if client.get(f"{url}/readyz").status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
    if pending:
        raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")


class System:
    """The three services as child processes on resolved infrastructure."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.infra: infra.Infrastructure | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.urls: dict[str, str] = {}

    def start(self, timeout: float = 60.0) -> None:
        self.infra = infra.start_infrastructure(self.settings, log=lambda m: None)
        logs = self.infra.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.infra.env()}
        for service in SERVICES:
            port = int(os.environ.get(f"CDT_{service.upper()}_PORT", DEFAULT_PORTS[service]))
            self.urls[service] = f"http://{self.settings.host}:{port}"
            log_file = open(logs / f"{service}.log", "ab")  # noqa: SIM115 - owned by the child
            self.procs[service] = subprocess.Popen(
                [sys.executable, "-m", "cdt", "serve", service], env=env,
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_ready(self.urls, self.procs, timeout)
        infra.write_state(self.infra, self.urls)

    def stop(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan children
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.infra is not None:
            infra.clear_state(self.infra.state_dir)
            self.infra.close()

    def __enter__(self) -> System:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_interrupt(system: System) -> None:
    """Block until Ctrl-C or SIGTERM, or until a service dies."""
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    while not stopping:
        for name, proc in system.procs.items():
            if proc.poll() is not None:
                console.print(f"[red]the {name} service stopped (exit {proc.returncode});"
                              f" see {system.settings.state_dir / 'logs' / name}.log[/]")
                return
        time.sleep(0.2)
