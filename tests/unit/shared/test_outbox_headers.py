"""Outbox headers are kept packed (names and values joined by NUL bytes) and come back as the
producer takes them."""

import pytest

from shared.events.roster import ShiftAssigned, ShiftAssignedData
from shared.outbox import pack_headers, unpack_headers


def test_an_events_headers_come_back_unchanged_from_the_outbox_form() -> None:
    event = ShiftAssigned.create(ShiftAssignedData(ward_id="ban-thach", shift_id="ca-sáng-1",
                                                   member_id="thành-viên-1"), service="roster")
    headers = event.to_kafka()[2]
    assert unpack_headers(pack_headers(headers)) == headers


@pytest.mark.parametrize("headers", [[], [("ce_subject", b"")], [("a", b"1"), ("b", b"")],
                                     [("ce_source", "/wards/bản-thạch/assist".encode())]])
def test_empty_values_and_diacritics_survive_packing(headers: list) -> None:
    assert unpack_headers(pack_headers(headers)) == headers


def test_a_header_holding_a_nul_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        pack_headers([("ce_id", b"a\x00b")])
    with pytest.raises(ValueError, match="NUL"):
        pack_headers([("ce\x00id", b"ab")])
