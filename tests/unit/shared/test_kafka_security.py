"""CDT_KAFKA_SECURITY_PROTOCOL and friends, turned into the arguments of every Kafka client."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from shared.config import CommonSettings, ConfigError, load_settings
from shared.messaging import kafka_options, kafka_security


def settings(**values: object) -> CommonSettings:
    return load_settings(CommonSettings, kafka_bootstrap="kafka-1:9093", **values)


def test_plaintext_by_default() -> None:
    assert kafka_security(settings()) is None
    assert kafka_options(settings()) == {"bootstrap_servers": "kafka-1:9093"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_tls(mechanism: str) -> None:
    options = kafka_options(settings(kafka_security_protocol="SASL_SSL",
                                     kafka_sasl_mechanism=mechanism, kafka_sasl_username="cdt",
                                     kafka_sasl_password="s3cret-pass"))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert options["ssl_context"].check_hostname
    user = options.get("sasl_plain_username")
    assert user == "cdt" and options["sasl_plain_password"] == "s3cret-pass"


def test_sasl_without_tls() -> None:
    options = kafka_options(settings(kafka_security_protocol="SASL_PLAINTEXT",
                                     kafka_sasl_mechanism="SCRAM-SHA-512",
                                     kafka_sasl_username="cdt", kafka_sasl_password="pw"))
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["ssl_context"] is None


def test_password_never_printed() -> None:
    s = settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="cdt",
                 kafka_sasl_password="s3cret-pass")
    assert "s3cret-pass" not in repr(s) and "s3cret-pass" not in str(s.model_dump())


@pytest.mark.parametrize(("values", "message"), [
    ({"kafka_security_protocol": "SASL_SSL"}, "needs CDT_KAFKA_SASL_USERNAME"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "/etc/hostname"},
     "CDT_KAFKA_SSL_CERTFILE and CDT_KAFKA_SSL_KEYFILE go together"),
    ({"kafka_ssl_cafile": "/etc/hostname"}, "need CDT_KAFKA_SECURITY_PROTOCOL=SSL"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/no/such/ca.pem"},
     "CDT_KAFKA_SSL_CAFILE: Value error, no such file"),
    ({"kafka_security_protocol": "TLS"}, "CDT_KAFKA_SECURITY_PROTOCOL: Input should be"),
])
def test_bad_combinations_name_the_variables(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**values)


def test_tls_needs_a_configured_broker() -> None:
    with pytest.raises(ConfigError, match="needs CDT_KAFKA_BOOTSTRAP"):
        load_settings(CommonSettings, kafka_security_protocol="SSL")


def test_ca_file_is_loaded(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    with pytest.raises(ConfigError, match="CDT_KAFKA_SSL_CAFILE: not PEM"):  # at start-up
        kafka_security(settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(ca)))
