"""The broker-level decoding of a batch: every record decoded or set aside for the dead-letter
topic, in order; FastStream's parser sees only the first record."""

import json
from types import SimpleNamespace

from aiokafka import ConsumerRecord

from shared.events import EventCodec, roster
from shared.messaging import CloudEventsCodec, parse_batch_tolerantly


def _record(offset: int, value: bytes, time: bytes = b"2025-09-08T08:00:00+07:00") -> ConsumerRecord:
    headers = ((("ce_specversion", b"1.0"), ("ce_id", f"e-{offset}".encode()),
                ("ce_source", b"/wards/ban-thach/roster"),
                ("ce_type", roster.ShiftAssigned.TYPE.encode()), ("ce_time", time),
                ("ce_wardid", b"ban-thach")))
    return ConsumerRecord(roster.TOPIC, 0, offset, 0, 0, b"ban-thach", value, None, 9, len(value),
                          headers)


def _value(n: int) -> bytes:
    return json.dumps({"shift_id": f"ca-{n}", "ward_id": "ban-thach",
                       "member_id": f"Nguyễn-{n}"}, ensure_ascii=False).encode()


async def test_a_batch_is_decoded_in_order_with_its_bad_records_aside() -> None:
    count = 237
    bad = {5, 101, count - 1}
    records = tuple(_record(n, b"{not json" if n in bad else _value(n)) for n in range(count))
    message = SimpleNamespace(raw_message=records)
    events = await CloudEventsCodec(EventCodec(roster.EVENT_TYPES)).decode_batch(message)
    assert [e.id for e in events] == [f"e-{n}" for n in range(count) if n not in bad]
    assert [(r.offset, exc.reason) for r, exc in message.rejections] == [
        (n, "not_json") for n in sorted(bad)]
    assert {message.origin[id(e)].offset for e in events} == set(range(count)) - bad


async def test_the_parser_reads_the_first_record_only_and_the_message_carries_the_batch() -> None:
    records = (_record(7, _value(7), time=b"\xff\xfe"), _record(8, _value(8)), _record(9, b"x"))
    seen = []

    async def original(batch: tuple) -> SimpleNamespace:
        seen.append(batch)
        return SimpleNamespace(raw_message=batch, body=[r.value for r in batch], message_id="")

    message = await parse_batch_tolerantly(records, original)
    assert len(seen) == 1 and len(seen[0]) == 1
    assert "ce_time" not in dict(seen[0][0].headers)  # not UTF-8: FastStream would fail on it
    assert message.raw_message is records
    assert message.body == [r.value for r in records]
    assert message.message_id.startswith("7-9-")
