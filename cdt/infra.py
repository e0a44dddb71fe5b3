"""Resolves the broker, database and token key: configured ones, or embedded ones we start."""

from __future__ import annotations

import json
import os
import secrets
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from shared.config import CommonSettings
from shared.db import with_database
from shared.embedded import EmbeddedKafka, EmbeddedPostgres

DEFAULT_DATABASE = "cdt"


@dataclass
class Infrastructure:
    """What the services connect to; embedded servers are stopped when it closes."""

    kafka_bootstrap: str
    database_url: str
    token_secret: str
    state_dir: Path
    embedded: list[str] = field(default_factory=list)
    _stack: ExitStack = field(default_factory=ExitStack)

    def env(self) -> dict[str, str]:
        """Environment for a service process: everything resolved, nothing embedded again."""
        return {
            "CDT_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "CDT_DATABASE_URL": self.database_url,
            "CDT_TOKEN_SECRET": self.token_secret,
            "CDT_STATE_DIR": str(self.state_dir),
        }

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Infrastructure:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def token_secret(settings: CommonSettings) -> str:
    """CDT_TOKEN_SECRET, or the key kept in the state directory (made once)."""
    if settings.token_secret:
        return settings.token_secret.get_secret_value()
    path = settings.state_dir / "secret"
    if path.exists():
        return path.read_text().strip()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret


def start_infrastructure(settings: CommonSettings, *, log=print) -> Infrastructure:
    """Use the configured broker and database; start embedded ones for what is unset."""
    state = settings.state_dir.resolve()
    stack = ExitStack()
    embedded = []
    try:
        bootstrap = settings.kafka_bootstrap
        if not bootstrap:
            (state / "logs").mkdir(parents=True, exist_ok=True)
            kafka = stack.enter_context(EmbeddedKafka(log_path=state / "logs" / "kafka.log"))
            bootstrap = kafka.bootstrap
            embedded.append(f"Kafka-compatible broker (Tansu) at {bootstrap}")
            log(f"embedded broker: {bootstrap}")
        database_url = settings.database_url
        if not database_url:
            postgres = stack.enter_context(EmbeddedPostgres(state / "postgres"))
            database_url = with_database(postgres.url, DEFAULT_DATABASE)
            embedded.append(f"PostgreSQL at 127.0.0.1:{postgres.port} ({state / 'postgres'})")
            log(f"embedded PostgreSQL: 127.0.0.1:{postgres.port}")
        infra = Infrastructure(kafka_bootstrap=bootstrap, database_url=database_url,
                               token_secret=token_secret(settings), state_dir=state,
                               embedded=embedded, _stack=stack)
    except BaseException:
        stack.close()
        raise
    return infra


def write_state(infra: Infrastructure, services: dict[str, str]) -> None:
    """Tell later `cdt` commands where the running system is (no secrets in this file)."""
    path = infra.state_dir / "state.json"
    path.write_text(json.dumps({"kafka_bootstrap": infra.kafka_bootstrap,
                                "database_url": infra.database_url,
                                "services": services, "pid": os.getpid()}, indent=2))


def read_state(state_dir: Path) -> dict:
    path = state_dir / "state.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


def clear_state(state_dir: Path) -> None:
    (state_dir / "state.json").unlink(missing_ok=True)
