"""Dossier intake files: JSON lines and CSV, every bad row reported with its row number."""

import json
from datetime import UTC, datetime

import pytest

from services.assist.intake import Row, RowError, parse_intake, sniff_format, split_lines

WARD = "ban-thach"
NOW = datetime(2025, 12, 31, tzinfo=UTC)
GOOD = {"dossier_id": "H46.25-000001", "ward_id": WARD, "procedure_code": "1.001193",
        "field": "civil_status", "channel": "online", "received_at": "2025-09-08T08:15:00+07:00",
        "eligible_fully_online": True, "fully_online": True}
CSV_HEADER = b"dossier_id,ward_id,procedure_code,field,channel,received_at,fully_online," \
             b"eligible_fully_online"


def parse(data: bytes, fmt: str, **kwargs: object) -> tuple[list[Row], list[RowError]]:
    items = list(parse_intake(split_lines([data]), fmt=fmt, ward_id=WARD,  # type: ignore[arg-type]
                              wall_now=NOW, **kwargs))  # type: ignore[arg-type]
    return ([i for i in items if isinstance(i, Row)], [i for i in items if isinstance(i, RowError)])


def jsonl(*records: dict) -> bytes:
    return b"\n".join(json.dumps(r, ensure_ascii=False).encode() for r in records) + b"\n"


def test_json_lines_parse_into_dossiers_with_their_line_numbers() -> None:
    rows, errors = parse(jsonl(GOOD, {**GOOD, "dossier_id": "H46.25-000002"}), "jsonl")
    assert errors == []
    assert [(r.row, r.dossier.dossier_id) for r in rows] == [(1, "H46.25-000001"),
                                                            (2, "H46.25-000002")]


def test_every_bad_row_is_reported_with_its_number_and_field() -> None:
    data = jsonl(GOOD, {**GOOD, "channel": "fax"}, {**GOOD, "received_at": "yesterday"},
                 {k: v for k, v in GOOD.items() if k != "field"})
    rows, errors = parse(data, "jsonl")
    assert len(rows) == 1
    assert [(e.row, e.field) for e in errors] == [(2, "channel"), (3, "received_at"),
                                                  (4, "field")]
    assert str(errors[0]).startswith("row 2: channel:")


def test_a_dossier_of_another_ward_is_a_row_error() -> None:
    _, errors = parse(jsonl({**GOOD, "ward_id": "tam-ky"}), "jsonl")
    assert [(e.row, e.field) for e in errors] == [(1, "ward_id")]
    assert "tam-ky" in errors[0].message


def test_rows_without_a_ward_take_the_imports_ward() -> None:
    rows, errors = parse(jsonl({k: v for k, v in GOOD.items() if k != "ward_id"}), "jsonl")
    assert errors == [] and rows[0].dossier.ward_id == WARD


def test_personal_data_fields_are_refused() -> None:
    _, errors = parse(jsonl({**GOOD, "citizen_name": "Nguyễn Văn A", "phone": "0905123456"}),
                      "jsonl")
    assert {e.field for e in errors} == {"citizen_name", "phone"}
    assert all("0905123456" not in str(e) and "Nguyễn" not in str(e) for e in errors)


def test_non_utf8_bytes_name_their_row_and_column() -> None:
    data = jsonl(GOOD) + b'{"dossier_id": "caf\xe9"}\n' + jsonl({**GOOD, "dossier_id": "X-3"})
    rows, errors = parse(data, "jsonl")
    assert len(rows) == 2
    assert errors[0].row == 2 and "UTF-8" in errors[0].message and "0xE9" in errors[0].message


def test_a_line_that_is_not_json_is_a_row_error() -> None:
    _, errors = parse(jsonl(GOOD) + b"{not json\n[1, 2]\n", "jsonl")
    assert [e.row for e in errors] == [2, 3]


def test_blank_lines_are_skipped_but_counted() -> None:
    rows, _ = parse(jsonl(GOOD) + b"\n\n" + jsonl({**GOOD, "dossier_id": "X-4"}), "jsonl")
    assert [r.row for r in rows] == [1, 4]


def test_csv_with_bom_and_crlf_parses_with_file_row_numbers() -> None:
    data = (b"\xef\xbb\xbf" + CSV_HEADER + b"\r\n"
            b"H46.25-000001,ban-thach,1.001193,civil_status,online,2025-09-08T08:15:00+07:00,"
            b"true,true\r\n"
            b"H46.25-000002,,2.000305,land,in_person,2025-09-08T09:00:00+07:00,false,false\r\n")
    rows, errors = parse(data, "csv")
    assert errors == []
    assert [(r.row, r.dossier.channel, r.dossier.fully_online) for r in rows] == [
        (2, "online", True), (3, "in_person", False)]


def test_a_csv_with_an_unknown_column_is_refused_at_the_header() -> None:
    _, errors = parse(CSV_HEADER + b",citizen_phone\n", "csv")
    assert [(e.row, e.field) for e in errors] == [(1, "citizen_phone")]


def test_a_csv_missing_a_required_column_is_refused() -> None:
    _, errors = parse(b"dossier_id,channel\nX,online\n", "csv")
    assert errors[0].row == 1 and "missing column" in errors[0].message


def test_a_csv_row_with_the_wrong_number_of_cells() -> None:
    _, errors = parse(CSV_HEADER + b"\nX-1,ban-thach,1.0\n", "csv")
    assert errors[0].row == 2 and "cells" in errors[0].message


def test_a_part_of_a_file_reports_the_files_rows() -> None:
    _, errors = parse(jsonl(GOOD, {**GOOD, "channel": "fax"}), "jsonl", first_line=5001)
    assert errors[0].row == 5002


def test_a_received_time_in_the_future_is_refused() -> None:
    _, errors = parse(jsonl({**GOOD, "received_at": "2026-06-01T08:00:00+07:00"}), "jsonl")
    assert "future" in errors[0].message


@pytest.mark.parametrize(("head", "fmt"), [(b'{"a": 1}', "jsonl"), (b"\xef\xbb\xbf {", "jsonl"),
                                           (b"dossier_id,", "csv")])
def test_the_format_is_sniffed_from_the_first_bytes(head: bytes, fmt: str) -> None:
    assert sniff_format(head) == fmt


def test_lines_split_across_chunks_are_reassembled() -> None:
    assert list(split_lines([b"ab\r\ncd", b"ef\n", b"gh"])) == [b"ab", b"cdef", b"gh"]
