"""Configuration shared by every service: environment variables prefixed CDT_, validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("roster", "assist", "reporting")
DEFAULT_PORTS = {"roster": 8001, "assist": 8002, "reporting": 8003}


class ConfigError(Exception):
    """A setting that cannot be used; the message names the variable in one line."""


def _check_postgres_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a URL like postgresql://user@host:5432/cdt")
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("names no host")
    return value


class CommonSettings(BaseSettings):
    """Settings every service and the `cdt` command read."""

    model_config = SettingsConfigDict(env_prefix="CDT_", env_file=".env", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers (host:port[,host:port]); unset: an embedded broker",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL server URL; each service uses the database {name}_{service} on "
        "it; unset: an embedded server",
    )
    auth_database_url: str | None = Field(
        default=None,
        description="Database of tokens shared by all services; default {database}_auth",
    )
    state_dir: Path = Field(
        default=Path(".cdt"),
        description="Where `cdt up` keeps embedded data, its logs and the operator token",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP servers listen on")
    kafka_partitions: int = Field(default=3, ge=1, le=1000,
                                  description="Partitions of each topic created by the services")
    kafka_replication_factor: int = Field(default=1, ge=1, le=7,
                                          description="Replication factor of created topics")
    kafka_idempotence: bool = Field(
        default=False,
        description="Use the idempotent producer (on for a real Kafka cluster; the embedded "
        "broker rejects it)",
    )
    token_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs access tokens (at least 32 characters); `cdt up` makes one",
    )
    log_level: str = Field(default="INFO", description="Logging level")
    outbox_retention_hours: int = Field(
        default=168, ge=0, description="How long sent outbox rows are kept for `cdt outbox "
        "republish`")
    kafka_session_timeout_ms: int = Field(
        default=6_000, ge=1000, le=300_000,
        description="Consumer group session timeout; joining a group takes about half of it")
    clock: Literal["wall", "watermark"] = Field(
        default="wall",
        description="What 'now' is for time-based decisions (closing check-outs, understaffed "
        "alerts, daily summaries): the wall clock, or per ward the latest time seen in its data "
        "(for replays and the accelerated demo)")
    batch_size: int = Field(default=1000, ge=1, le=100_000,
                            description="Largest batch a consumer takes at once")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How every Kafka client connects: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or "
        "SASL_SSL (a user and password over TLS: what production clusters use)")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism, with SASL_PLAINTEXT or SASL_SSL")
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password")
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA certificates (PEM) that sign the brokers' certificates, "
        "with SSL or SASL_SSL; unset: the system's")
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="Client certificate (PEM) when the brokers require one (mTLS)")
    kafka_ssl_keyfile: Path | None = Field(
        default=None, description="Private key (PEM) of KAFKA_SSL_CERTFILE")
    metrics_refresh_seconds: float = Field(
        default=0.25, ge=0.01, le=60,
        description="Shortest time between two refreshes of /metrics while it is scraped (one "
        "starts after a consumer batch commits); a refresh taking longer than a quarter of it "
        "waits four times its own duration")

    _check_urls = field_validator("database_url", "auth_database_url")(
        classmethod(lambda cls, v: _check_postgres_url(v))
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: str | None) -> str | None:
        if not value:
            return None
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _check_readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _check_kafka_security(self) -> CommonSettings:
        if self.kafka_security_protocol != "PLAINTEXT" and not self.kafka_bootstrap:
            raise ValueError(f"CDT_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "CDT_KAFKA_BOOTSTRAP (the embedded broker speaks PLAINTEXT only)")
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("CDT_KAFKA_SECURITY_PROTOCOL="
                             f"{self.kafka_security_protocol} needs CDT_KAFKA_SASL_USERNAME and "
                             "CDT_KAFKA_SASL_PASSWORD")
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError("CDT_KAFKA_SSL_CERTFILE and CDT_KAFKA_SSL_KEYFILE go together")
        tls = self.kafka_security_protocol in ("SSL", "SASL_SSL")
        if not tls and (self.kafka_ssl_cafile or self.kafka_ssl_certfile):
            raise ValueError("CDT_KAFKA_SSL_* files need CDT_KAFKA_SECURITY_PROTOCOL=SSL or "
                             "SASL_SSL")
        return self

    @field_validator("token_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value


class ServiceSettings(CommonSettings):
    """Settings of one service; subclasses name the service."""

    SERVICE: ClassVar[str] = ""

    @property
    def port(self) -> int:
        return int(getattr(self, f"{self.SERVICE}_port"))

    @property
    def own_database_url(self) -> str | None:
        return getattr(self, f"{self.SERVICE}_database_url")


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """The settings from the environment, or ConfigError naming the bad variable."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            if not error["loc"]:  # a rule over several settings names them itself
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            name = (prefix + "_".join(str(p) for p in error["loc"])).upper()
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None
