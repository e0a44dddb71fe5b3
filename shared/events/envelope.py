"""CloudEvents 1.0 envelope and its Kafka binary content mode (data as JSON value, ce_* headers)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
WARD_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,63}$"
_VERSION_SUFFIX = re.compile(r"\.v(\d+)$")

# Header name -> envelope attribute, in CloudEvents' Kafka protocol binding.
_HEADER_ATTRIBUTES = {
    "ce_specversion": "specversion",
    "ce_id": "id",
    "ce_source": "source",
    "ce_type": "type",
    "ce_time": "time",
    "ce_wardid": "wardid",
    "ce_subject": "subject",
    "traceparent": "traceparent",
    "content-type": "datacontenttype",
}


class EventData(BaseModel):
    """The `data` of an event: frozen, and tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(BaseModel):
    """An event in CloudEvents form; subclasses pin `type` and `data`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = SPECVERSION
    id: str = Field(description="Unique per event; the same on every redelivery and re-publish")
    source: str = Field(description="/wards/{ward_id}/{service}")
    type: str
    time: AwareDatetime
    wardid: str = Field(pattern=WARD_ID_PATTERN)
    subject: str | None = None
    datacontenttype: Literal["application/json"] = CONTENT_TYPE
    traceparent: str | None = None
    data: Any

    TYPE: ClassVar[str] = ""
    SUBJECT: ClassVar[str | None] = None  # e.g. "shift/{shift_id}": filled from data

    @classmethod
    def create(
        cls,
        data: EventData,
        *,
        service: str,
        time: datetime | None = None,
        event_id: str | None = None,
    ) -> Event:
        """A new event about `data`, produced by `service` now (or at `time`)."""
        ward_id = data.ward_id  # type: ignore[attr-defined]
        subject = cls.SUBJECT.format(**data.model_dump()) if cls.SUBJECT else None
        return cls(
            id=event_id or str(uuid.uuid4()),
            source=f"/wards/{ward_id}/{service}",
            type=cls.TYPE,
            time=time or datetime.now(UTC),
            wardid=ward_id,
            subject=subject,
            data=data,
        )

    @property
    def key(self) -> bytes:
        """The Kafka key: the ward, so that a ward's events stay in order."""
        return self.wardid.encode()

    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) in binary content mode."""
        value = self.data.model_dump_json().encode() if isinstance(
            self.data, BaseModel
        ) else json.dumps(self.data, ensure_ascii=False).encode()
        return self.key, value, encode_headers(self)


class UnknownEvent(Event):
    """An event of a type this consumer does not know: skipped, never an error."""


class RejectedMessageError(Exception):
    """A message a consumer cannot accept; `reason` is a short code for the dead-letter header."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error


def encode_headers(event: Event) -> list[tuple[str, bytes]]:
    """The ce_* headers of an event (binary content mode)."""
    headers = [
        ("ce_specversion", event.specversion.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_time", event.time.isoformat().encode()),
        ("ce_wardid", event.wardid.encode()),
        ("content-type", event.datacontenttype.encode()),
    ]
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    if event.traceparent is not None:
        headers.append(("traceparent", event.traceparent.encode()))
    return headers


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> bool:
    """Text that no database column can hold: a NUL character, or a lone surrogate (JSON
    escapes can write both; pairs are joined into one character by the parser)."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _header_attributes(headers: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The envelope attributes in the ce_* headers, or RejectedMessageError."""
    envelope: dict[str, Any] = {}
    for name, raw in headers:
        attribute = _HEADER_ATTRIBUTES.get(name.lower())
        if attribute is not None:
            try:
                envelope[attribute] = raw.decode()
            except UnicodeDecodeError:
                raise RejectedMessageError("invalid_envelope", f"header {name} is not UTF-8") from None
            if "\x00" in envelope[attribute]:  # the inbox could never store it: a poison pill
                raise RejectedMessageError("invalid_envelope", f"header {name} holds a NUL "
                                           "character")
    missing = [h for h in ("ce_id", "ce_source", "ce_type", "ce_time") if
               _HEADER_ATTRIBUTES[h] not in envelope]
    if missing:
        raise RejectedMessageError("invalid_envelope", f"missing header(s) {', '.join(missing)}")
    return envelope


def envelope_from_kafka(headers: Iterable[tuple[str, bytes]], value: bytes | None) -> dict:
    """Assemble the structured envelope from headers and value, or raise RejectedMessageError."""
    return _with_data(_header_attributes(headers), value)


def _with_data(envelope: dict[str, Any], value: bytes | None) -> dict:
    try:
        envelope["data"] = json.loads(value or b"")
    except (UnicodeDecodeError, ValueError):
        raise RejectedMessageError("not_json", "the value is not JSON") from None
    except RecursionError:  # valid JSON nested thousands deep: unreadable, never retried
        raise RejectedMessageError("invalid", "the value is nested too deeply") from None
    if not isinstance(envelope["data"], dict):
        raise RejectedMessageError("invalid", "data: must be a JSON object")
    if b"\\u" in (value or b"") and _unstorable(envelope["data"]):
        # PostgreSQL refuses it at every retry: the batch would be redelivered for ever.
        raise RejectedMessageError("invalid", "data: text with a NUL character or an unpaired "
                                   "surrogate")
    envelope.setdefault("specversion", SPECVERSION)
    envelope.setdefault("wardid", envelope["data"].get("ward_id"))
    return envelope


def describe_validation_error(exc: ValidationError) -> str:
    """The fields and what is wrong with them, never the input values (they may be personal)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        location = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


class EventCodec:
    """Decodes the records of one topic into its known event classes, UnknownEvent otherwise.

    A record's value is parsed and validated in one pass by pydantic-core (`validate_json` of
    its type's data model). Whatever that pass does not accept, and every value holding a
    `\\u` escape (it may spell a NUL or a lone surrogate), takes the general path
    (`json.loads`, then validation), which decides what is rejected and why: the fast pass only
    ever accepts what the general path accepts, with the same result.
    """

    def __init__(self, event_types: Sequence[type[Event]]) -> None:
        self._by_type: Mapping[str, TypeAdapter] = {t.TYPE: TypeAdapter(t) for t in event_types}
        self._data_models: Mapping[str, type[BaseModel]] = {
            t.TYPE: t.model_fields["data"].annotation for t in event_types
            if isinstance(t.model_fields["data"].annotation, type)
            and issubclass(t.model_fields["data"].annotation, BaseModel)}
        self._families = {_VERSION_SUFFIX.sub("", t.TYPE) for t in event_types}
        self.event_types = tuple(event_types)

    def decode(self, headers: Iterable[tuple[str, bytes]], value: bytes | None) -> Event:
        """The event in a Kafka record; raises RejectedMessageError for what must be dead-lettered."""
        envelope = _header_attributes(headers)
        data_model = self._data_models.get(envelope["type"])
        if data_model is not None and value and "wardid" in envelope and b"\\u" not in value:
            try:
                envelope["data"] = data_model.model_validate_json(value)
                envelope.setdefault("specversion", SPECVERSION)
                return self._by_type[envelope["type"]].validate_python(envelope)
            except ValidationError:
                envelope.pop("data", None)  # the general path says why
        return self.decode_envelope(_with_data(envelope, value))

    def decode_envelope(self, envelope: Mapping[str, Any]) -> Event:
        """The event in a structured envelope (as in the golden files)."""
        event_type = str(envelope.get("type", ""))
        adapter = self._by_type.get(event_type)
        if adapter is None:
            if _VERSION_SUFFIX.sub("", event_type) in self._families:
                raise RejectedMessageError("unknown_version", f"unsupported version of {event_type}")
            adapter = _UNKNOWN
        try:
            return adapter.validate_python(envelope)
        except ValidationError as exc:
            raise RejectedMessageError("invalid", describe_validation_error(exc)) from None


_UNKNOWN = TypeAdapter(UnknownEvent)
