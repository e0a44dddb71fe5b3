"""Turning the bytes of an operator's CSV or XLSX file into rows of cells, or saying why not."""

import csv
import io
from dataclasses import dataclass

from openpyxl import load_workbook

# A cell as csv gives it (str) or openpyxl does (str, number, bool, date or time, None).
Cell = object

MAX_ROWS = 20_000
OLD_XLS = "tệp .xls cũ không được hỗ trợ (old .xls files are not supported: save it as .xlsx or as CSV UTF-8)"
NOT_UTF8 = (
    "tệp không phải UTF-8 (the file is not UTF-8 text: "
    "in Excel choose Save As > 'CSV UTF-8 (Comma delimited)')"
)


@dataclass(frozen=True)
class RowError:
    """One problem in a file; rows count as Excel shows them (header = 1, row 0 = whole file)."""

    row: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"dòng {self.row} (row {self.row})" if self.row else "tệp (file)"
        return f"{where}, {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class SheetError(Exception):
    """The file cannot be read as a table at all."""

    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


def read_table(content: bytes, filename: str) -> list[list[Cell]]:
    """The rows of a CSV (UTF-8, UTF-16) or the first sheet of an XLSX, header row first."""
    name = filename.lower()
    if name.endswith(".xls"):
        raise SheetError(RowError(0, None, OLD_XLS))
    if name.endswith((".xlsx", ".xlsm")) or content.startswith(b"PK\x03\x04"):
        rows = _read_xlsx(content)
    else:
        rows = _read_csv(content)
    while rows and all(_blank(c) for c in rows[-1]):
        rows.pop()
    if not rows:
        raise SheetError(RowError(1, None, "tệp trống (the file is empty: row 1 must hold the headers)"))
    if len(rows) > MAX_ROWS:
        raise SheetError(RowError(0, None, f"quá nhiều dòng (more than {MAX_ROWS} rows)"))
    return rows


def _blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _decode(content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode Text" export is UTF-16 with a byte-order mark.
        return content.decode("utf-16")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise SheetError(RowError(line, None, NOT_UTF8)) from None


def _read_csv(content: bytes) -> list[list[Cell]]:
    text = _decode(content)
    header = text.split("\n", 1)[0]
    # Excel writes ';' where the decimal separator is ',' (a Vietnamese locale), ',' elsewhere.
    delimiter = max((",", ";", "\t"), key=header.count)
    try:
        return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as error:
        raise SheetError(RowError(0, None, f"CSV hỏng (malformed CSV: {error})")) from None


def _read_xlsx(content: bytes) -> list[list[Cell]]:
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    # A damaged workbook fails deep inside openpyxl with zip, XML or key errors alike.
    except Exception as error:
        raise SheetError(
            RowError(0, None, f"không mở được tệp Excel (cannot open the XLSX file: {error})")
        ) from None
    try:
        if not workbook.worksheets:
            return []
        return [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()
