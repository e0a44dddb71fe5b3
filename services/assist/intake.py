"""Reading dossier intake files (JSON lines or CSV), line by line, with row-numbered errors."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from services.assist.domain import Rules, check_dossier
from shared.events.assist import DossierReceivedData

Format = Literal["jsonl", "csv"]
FIELDS = tuple(DossierReceivedData.model_fields)
REQUIRED = tuple(n for n, f in DossierReceivedData.model_fields.items()
                 if f.is_required() and n != "ward_id")
_BOM = b"\xef\xbb\xbf"
MAX_LINE = 16_384


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row (1-based line of the file; 0 for the whole file)."""

    row: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Row:
    row: int
    dossier: DossierReceivedData


def sniff_format(head: bytes) -> Format:
    """JSON lines when the first thing in the file is an object, else CSV."""
    return "jsonl" if head.lstrip(_BOM + b" \t\r\n").startswith(b"{") else "csv"


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines of a byte stream read in chunks, without their line ends."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r")
    if rest:
        yield rest.rstrip(b"\r")


def _decode(raw: bytes, row: int) -> str | RowError:
    if len(raw) > MAX_LINE:
        return RowError(row, None, f"the line is longer than {MAX_LINE} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError(row, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02X} at column "
                        f"{exc.start + 1}); save the file as UTF-8")


def _validation_errors(exc: ValidationError, row: int) -> list[RowError]:
    # Never the values: a wrong file may hold personal data.
    return [RowError(row, ".".join(str(p) for p in e["loc"]) or None, e["msg"])
            for e in exc.errors(include_input=False, include_url=False)]


def _record(values: dict[str, Any], row: int, ward_id: str, wall_now: datetime,
            rules: Rules) -> Row | list[RowError]:
    unknown = sorted(k for k in values if k not in FIELDS)
    if unknown:
        return [RowError(row, k, "unknown field; only the dossier.received fields are accepted "
                         "(no personal data)") for k in unknown]
    values.setdefault("ward_id", ward_id)
    try:
        dossier = DossierReceivedData.model_validate(values)
    except ValidationError as exc:
        return _validation_errors(exc, row)
    problem = check_dossier(dossier, ward_id=ward_id, wall_now=wall_now, rules=rules)
    if problem:
        code, message = problem
        return [RowError(row, "ward_id" if code == "wrong_ward" else None, message)]
    return Row(row, dossier)


def _csv_header(line: str) -> list[str] | RowError:
    header = [h.strip().lower() for h in next(csv.reader([line]), [])]
    unknown = [h for h in header if h not in FIELDS]
    if unknown:
        return RowError(1, unknown[0], "unknown column; only the dossier.received fields are "
                        "accepted (no personal data)")
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        return RowError(1, missing[0], f"missing column; a CSV needs {', '.join(REQUIRED)}")
    if len(set(header)) != len(header):
        return RowError(1, None, "a column appears twice")
    return header


def parse_intake(lines: Iterable[bytes], *, fmt: Format, ward_id: str, wall_now: datetime,
                 rules: Rules = Rules(), first_line: int | None = None,
                 ) -> Iterator[Row | RowError]:
    """Each record of a file as a Row, or a RowError per problem, in file order.

    For CSV the first line is the header (row 1); data lines are numbered from `first_line`
    (default 2; 1 for JSON lines), so that a part of a file reports the file's own rows.
    """
    header: list[str] | None = None
    number = (first_line or (2 if fmt == "csv" else 1)) - 1
    for index, raw in enumerate(lines):
        if fmt == "csv" and header is None:
            text = _decode(raw[3:] if raw.startswith(_BOM) else raw, 1)
            parsed = text if isinstance(text, RowError) else _csv_header(text)
            if isinstance(parsed, RowError):
                yield parsed
                return
            header = parsed
            continue
        number += 1
        if index == 0 and raw.startswith(_BOM):
            raw = raw[3:]
        if not raw.strip():
            continue
        text = _decode(raw, number)
        if isinstance(text, RowError):
            yield text
            continue
        if fmt == "jsonl":
            try:
                values = json.loads(text)
            except ValueError as exc:
                yield RowError(number, None, f"not a JSON object ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(values, dict):
                yield RowError(number, None, "not a JSON object")
                continue
        else:
            cells = next(csv.reader([text]), [])
            assert header is not None
            if len(cells) != len(header):
                yield RowError(number, None, f"{len(cells)} cells where the header has "
                               f"{len(header)}")
                continue
            values = {h: c.strip() for h, c in zip(header, cells, strict=True) if c.strip()}
        result = _record(values, number, ward_id, wall_now, rules)
        if isinstance(result, Row):
            yield result
        else:
            yield from result
    if fmt == "csv" and header is None:
        yield RowError(1, None, "the file is empty; a CSV starts with its header")
