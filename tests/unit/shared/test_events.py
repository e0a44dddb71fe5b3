"""The event contract in code: golden files, the envelope, decoding and rejections."""

import json
from pathlib import Path

import pytest

from shared.events import (
    ALL_EVENT_TYPES,
    TOPICS,
    EventCodec,
    RejectedMessageError,
    UnknownEvent,
    envelope_from_kafka,
    roster,
)
from shared.events.roster import ShiftAssigned, ShiftAssignedData

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "events"


def golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


def test_there_is_one_golden_file_per_event_type() -> None:
    names = {p.name.removesuffix(".json") for p in golden_files()}
    assert names == {t.TYPE.removeprefix("vn.cdt.") for t in ALL_EVENT_TYPES}


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.stem)
def test_golden_event_parses_and_reserialises_unchanged(path: Path) -> None:
    document = json.loads(path.read_text("utf-8"))
    codec = EventCodec(TOPICS[next(t for t, types in TOPICS.items()
                                   if any(c.TYPE == document["type"] for c in types))])
    event = codec.decode_envelope(document)
    assert type(event).TYPE == document["type"]
    assert event.model_dump(mode="json") == document


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.stem)
def test_golden_event_survives_kafka_binary_mode(path: Path) -> None:
    document = json.loads(path.read_text("utf-8"))
    cls = next(c for c in ALL_EVENT_TYPES if c.TYPE == document["type"])
    event = cls.model_validate(document)
    key, value, headers = event.to_kafka()
    names = dict(headers)
    assert key == document["wardid"].encode()
    assert names["ce_specversion"] == b"1.0"
    assert names["ce_type"] == document["type"].encode()
    assert names["content-type"] == b"application/json"
    assert json.loads(value) == document["data"]
    assert EventCodec([cls]).decode(headers, value) == event


def _record(event_type: str, data: dict) -> tuple[list[tuple[str, bytes]], bytes]:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"e-1"),
               ("ce_source", b"/wards/ban-thach/roster"), ("ce_type", event_type.encode()),
               ("ce_time", b"2025-09-08T08:00:00+07:00"), ("ce_wardid", b"ban-thach")]
    return headers, json.dumps(data).encode()


ASSIGNED = {"shift_id": "s-1", "ward_id": "ban-thach", "member_id": "m-1"}


def test_unknown_fields_are_tolerated() -> None:
    headers, value = _record(ShiftAssigned.TYPE, {**ASSIGNED, "added_later": 42})
    event = EventCodec(roster.EVENT_TYPES).decode(headers, value)
    assert isinstance(event, ShiftAssigned)
    assert event.data == ShiftAssignedData(**ASSIGNED)


def test_an_unknown_type_becomes_unknown_event_not_an_error() -> None:
    headers, value = _record("vn.cdt.roster.badge.awarded.v1", {"ward_id": "ban-thach"})
    assert isinstance(EventCodec(roster.EVENT_TYPES).decode(headers, value), UnknownEvent)


def test_an_unknown_major_version_of_a_known_type_is_rejected() -> None:
    headers, value = _record("vn.cdt.roster.shift.assigned.v2", ASSIGNED)
    with pytest.raises(RejectedMessageError) as caught:
        EventCodec(roster.EVENT_TYPES).decode(headers, value)
    assert caught.value.reason == "unknown_version"


def test_a_value_that_is_not_json_is_rejected_as_not_json() -> None:
    headers, _ = _record(ShiftAssigned.TYPE, ASSIGNED)
    with pytest.raises(RejectedMessageError) as caught:
        EventCodec(roster.EVENT_TYPES).decode(headers, b"\xff{not json")
    assert caught.value.reason == "not_json"


def test_missing_ce_headers_are_rejected_naming_them() -> None:
    with pytest.raises(RejectedMessageError) as caught:
        EventCodec(roster.EVENT_TYPES).decode([("ce_id", b"1")], b"{}")
    assert caught.value.reason == "invalid_envelope"
    assert "ce_type" in caught.value.error


def test_an_invalid_event_is_rejected_naming_the_field_without_its_value() -> None:
    phone = "0912345678"
    headers, value = _record(roster.MemberRegistered.TYPE, {
        "member_id": "m-1", "team_id": "t", "ward_id": "ban-thach",
        "display_name": "Nguyễn Văn An", "occupation": phone, "is_leader": False})
    with pytest.raises(RejectedMessageError) as caught:
        EventCodec(roster.EVENT_TYPES).decode(headers, value)
    assert caught.value.reason == "invalid"
    assert "data.occupation" in caught.value.error
    assert phone not in caught.value.error


def test_a_new_event_gets_a_unique_id_source_subject_and_ward_key() -> None:
    first = ShiftAssigned.create(ShiftAssignedData(**ASSIGNED), service="roster")
    second = ShiftAssigned.create(ShiftAssignedData(**ASSIGNED), service="roster")
    assert first.id != second.id
    assert first.source == "/wards/ban-thach/roster"
    assert first.subject == "shift/s-1"
    assert first.key == b"ban-thach"
    assert first.time.utcoffset() is not None


def _general_path(codec: EventCodec, headers: list, value: bytes) -> object:
    """What the codec decided before it validated values in one pass: json.loads, then pydantic."""
    try:
        return codec.decode_envelope(envelope_from_kafka(headers, value))
    except RejectedMessageError as exc:
        return (exc.reason, exc.error)


_NESTED = b"[" * 300 + b"]" * 300
TRICKY_VALUES = {
    "valid": json.dumps(ASSIGNED).encode(),
    "duplicate keys (the last wins)": b'{"shift_id": "s-1", "shift_id": "s-2", '
                                      b'"ward_id": "ban-thach", "member_id": "m-1"}',
    "unknown field nested 300 deep": json.dumps(ASSIGNED).encode()[:-1] + b', "x": ' + _NESTED
    + b"}",
    "nested 20,000 deep": b"[" * 20000,
    "NaN in an unknown field": json.dumps(ASSIGNED).encode()[:-1] + b', "x": NaN}',
    "a UTF-8 byte order mark": b"\xef\xbb\xbf" + json.dumps(ASSIGNED).encode(),
    "an escaped NUL": json.dumps({**ASSIGNED, "member_id": "m-\x00"}).encode(),
    "an escaped lone surrogate": b'{"shift_id": "s-1", "ward_id": "ban-thach", '
                                 b'"member_id": "m-\\ud800"}',
    "an escaped surrogate pair": b'{"shift_id": "s-1", "ward_id": "ban-thach", '
                                 b'"member_id": "m-\\ud83d\\ude00"}',
    "a raw control character": b'{"shift_id": "s-\x01", "ward_id": "ban-thach", '
                               b'"member_id": "m-1"}',
    "not UTF-8": b'{"shift_id": "s-\xff", "ward_id": "ban-thach", "member_id": "m-1"}',
    "a trailing comma": json.dumps(ASSIGNED).encode()[:-1] + b", }",
    "trailing data": json.dumps(ASSIGNED).encode() + b"{}",
    "an array": b"[1, 2]",
    "a wrong type": json.dumps({**ASSIGNED, "member_id": 7}).encode(),
    "a bad ward id": json.dumps({**ASSIGNED, "ward_id": "Bản Thạch"}).encode(),
    "empty": b"",
    "Vietnamese text": json.dumps({**ASSIGNED, "member_id": "Nguyễn Thị Hương"},
                                  ensure_ascii=False).encode(),
}


@pytest.mark.parametrize("value", TRICKY_VALUES.values(), ids=TRICKY_VALUES)
@pytest.mark.parametrize("header", ["none", "bad time", "no ward", "NUL in id"])
def test_the_one_pass_decoder_decides_exactly_as_json_loads_and_validation(
        value: bytes, header: str) -> None:
    headers, _ = _record(ShiftAssigned.TYPE, ASSIGNED)
    if header == "bad time":
        headers = [(k, b"yesterday" if k == "ce_time" else v) for k, v in headers]
    elif header == "no ward":
        headers = [(k, v) for k, v in headers if k != "ce_wardid"]
    elif header == "NUL in id":
        headers = [(k, b"e-\x00" if k == "ce_id" else v) for k, v in headers]
    codec = EventCodec(roster.EVENT_TYPES)
    try:
        got: object = codec.decode(headers, value)
    except RejectedMessageError as exc:
        got = (exc.reason, exc.error)
    expected = _general_path(codec, headers, value)
    assert got == expected
    assert type(got) is type(expected)
