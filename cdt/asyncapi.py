"""Writes each service's AsyncAPI document (generated from the code) to a directory."""

import sys
from pathlib import Path

from shared.config import SERVICES
from shared.http import asyncapi_document

_SECRET = "asyncapi-generation-" + "x" * 32


def generate(service: str) -> str:
    """The AsyncAPI document of a service, built without connecting to anything."""
    import importlib

    module = importlib.import_module(f"services.{service}.app")
    settings_module = importlib.import_module(f"services.{service}.config")
    settings_cls = getattr(settings_module, f"{service.capitalize()}Settings")
    settings = settings_cls(kafka_bootstrap="kafka:9092", database_url=None,
                            token_secret=_SECRET, _env_file=None)
    return asyncapi_document(module.create_app(settings).state.asyncapi)


def main(out: str = "docs/asyncapi") -> None:
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        (directory / f"{service}.json").write_text(generate(service))
        print(f"wrote {directory / service}.json")


if __name__ == "__main__":
    main(*sys.argv[1:])
