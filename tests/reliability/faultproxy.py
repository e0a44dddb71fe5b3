"""A small TCP fault proxy (asyncio, loopback only) run as its own process.

Between the services and the broker or a database, it forwards bytes and, on command, injects:

- ``latency``: every chunk is delayed by N ms in both directions (order kept);
- ``blackhole``: nothing is forwarded and new connections hang, as in a network cut where
  packets are dropped; when it ends, the connections held meanwhile are closed (as a NAT or a
  firewall would have forgotten them);
- ``reset``: every open connection is aborted with an RST (SO_LINGER 0), once;
- ``refuse``: new connections are accepted and reset at once, for as long as it lasts;
- ``normal``: forward again.

Run: ``python -m tests.reliability.faultproxy --control PORT NAME=LISTEN:TARGET ...``
(all on 127.0.0.1). The control port takes one JSON command per line and answers one JSON
line: ``{"proxy": NAME, "mode": "latency", "ms": 200}``, ``{"proxy": NAME, "mode": "reset"}``,
``{"proxy": "*", "mode": "normal"}``, ``{"stats": true}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import time
from dataclasses import dataclass, field

HOST = "127.0.0.1"
CHUNK = 65536


@dataclass
class Stats:
    accepted: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    resets: int = 0
    refused: int = 0
    held: int = 0


@dataclass(eq=False)
class Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)


def _abort(writer: asyncio.StreamWriter | None) -> None:
    """Close with an RST rather than a FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(Exception):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()


class Proxy:
    def __init__(self, name: str, listen: int, target: int) -> None:
        self.name, self.listen, self.target = name, listen, target
        self.mode = "normal"
        self.latency = 0.0
        self.stats = Stats()
        self.conns: set[Conn] = set()
        self.open = asyncio.Event()
        self.open.set()
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, HOST, self.listen,
                                                 reuse_address=True, backlog=512)

    def set_mode(self, mode: str, ms: float = 0) -> None:
        if mode == "reset":
            for conn in list(self.conns):
                self.stats.resets += 1
                self._drop(conn, rst=True)
            return
        previous = self.mode
        self.mode = mode
        self.latency = ms / 1000 if mode == "latency" else 0.0
        if mode == "blackhole":
            self.open.clear()
        else:
            self.open.set()
        if previous == "blackhole" and mode != "blackhole":
            # The cut heals: what was held across it is gone, as after a real partition.
            for conn in list(self.conns):
                self._drop(conn, rst=True)

    def _drop(self, conn: Conn, *, rst: bool) -> None:
        self.conns.discard(conn)
        for task in conn.tasks:
            task.cancel()
        for writer in (conn.client, conn.upstream):
            if rst:
                _abort(writer)
            elif writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        if self.mode == "refuse":
            self.stats.refused += 1
            _abort(writer)
            return
        conn = Conn(writer)
        self.conns.add(conn)
        try:
            if not self.open.is_set():
                self.stats.held += 1
                await self.open.wait()
            up_reader, up_writer = await asyncio.open_connection(HOST, self.target)
        except (OSError, asyncio.CancelledError):
            self._drop(conn, rst=True)
            return
        if conn not in self.conns:  # dropped while connecting
            _abort(up_writer)
            return
        conn.upstream = up_writer
        conn.tasks = [asyncio.create_task(self._pipe(conn, reader, up_writer, up=True)),
                      asyncio.create_task(self._pipe(conn, up_reader, writer, up=False))]
        # The callback lives as long as the connection (its end would close the streams).
        await asyncio.gather(*conn.tasks, return_exceptions=True)

    async def _pipe(self, conn: Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    *, up: bool) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    with contextlib.suppress(Exception):
                        writer.write_eof()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.open.wait()
                writer.write(data)
                await writer.drain()

        async def deliver_or_drop() -> None:
            try:
                await deliver()
            except (OSError, ConnectionError):
                self._drop(conn, rst=True)

        sender = asyncio.create_task(deliver_or_drop())
        errored = False
        try:
            while True:
                data = await reader.read(CHUNK)
                await self.open.wait()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                queue.put_nowait((time.monotonic() + self.latency, data))
                if not data:
                    break
            await sender
        except (OSError, ConnectionError, asyncio.CancelledError):
            errored = True
        finally:
            sender.cancel()
            # The client's end of sending is passed on (write_eof); the server's ends it all.
            if conn in self.conns and (errored or not up):
                self._drop(conn, rst=errored)

    def describe(self) -> dict:
        return {"mode": self.mode, "latency_ms": self.latency * 1000, "open": len(self.conns),
                **self.stats.__dict__}


async def serve(control: int, specs: list[str]) -> None:
    proxies: dict[str, Proxy] = {}
    for spec in specs:
        name, _, ports = spec.partition("=")
        listen, _, target = ports.partition(":")
        proxy = Proxy(name, int(listen), int(target))
        await proxy.start()
        proxies[name] = proxy

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    command = json.loads(line)
                    if command.get("stats"):
                        answer = {n: p.describe() for n, p in proxies.items()}
                    else:
                        names = list(proxies) if command["proxy"] == "*" else [command["proxy"]]
                        for n in names:
                            proxies[n].set_mode(command["mode"], float(command.get("ms", 0)))
                        answer = {"ok": True}
                except Exception as exc:  # noqa: BLE001 - answered to the controller
                    answer = {"ok": False, "error": repr(exc)}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, HOST, control, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("proxies", nargs="+")
    args = parser.parse_args()
    asyncio.run(serve(args.control, args.proxies))


if __name__ == "__main__":
    main()
