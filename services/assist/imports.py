"""Dossier files: parsed line by line, staged part by part, committed all at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.assist import commands, intake, records
from services.assist.domain import AssistError
from services.assist.intake import Format, Row, RowError
from shared.events.assist import DossierReceivedData
from shared.service import Runtime

MAX_REPORTED = 100


@dataclass
class Parsed:
    rows: list[DossierReceivedData] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def parse(lines: Iterable[bytes], *, fmt: Format, ward_id: str, runtime: Runtime,
          first_line: int | None) -> Parsed:
    """Every row checked; errors keep their file row numbers."""
    parsed = Parsed()
    for item in intake.parse_intake(lines, fmt=fmt, ward_id=ward_id, wall_now=runtime.clock(),
                                    rules=commands.rules_of(runtime.settings),  # type: ignore[arg-type]
                                    first_line=first_line):
        if isinstance(item, Row):
            parsed.rows.append(item.dossier)
        else:
            parsed.errors.append(item)
    return parsed


async def import_rows(runtime: Runtime, *, ward_id: str, rows: list[DossierReceivedData],
                      upload_id: str | None, part: int, final: bool) -> dict:
    """A whole file (no upload_id), or one part of a staged upload; the final part commits the
    staged parts and itself in one transaction, so a file is imported entirely or not at all."""
    if upload_id is not None and not final:
        async with runtime.pool.acquire() as conn:
            await records.stage_part(conn, upload_id=upload_id, part=part, ward_id=ward_id,
                                     rows=rows)
        return {"upload_id": upload_id, "part": part, "rows": len(rows), "staged": True}
    async with runtime.pool.acquire() as conn, conn.transaction():
        everything: list[DossierReceivedData] = []
        parts = 0
        if upload_id is not None:
            staged = await records.staged_parts(conn, upload_id=upload_id)
            if any(ward != ward_id for _, ward, _ in staged):
                raise AssistError("unknown_upload", "no such upload for this ward",
                                  field="upload_id", kind="not_found")
            numbers = [number for number, _, _ in staged]
            if numbers != list(range(part)):
                raise AssistError("missing_parts", f"the upload has parts {numbers}, the final "
                                  f"part is {part}: send parts 0..{part - 1} first",
                                  field="part", kind="conflict")
            for _, _, staged_rows in staged:
                everything += [DossierReceivedData.model_validate(r) for r in staged_rows]
            parts = len(staged)
            await records.drop_upload(conn, upload_id=upload_id, ward_id=ward_id)
        everything += rows
        if not everything:
            raise AssistError("empty_file", "the file has no dossier records", field="body")
        accepted, duplicates = await commands.accept_dossiers(conn, everything, via="file",
                                                              now=runtime.clock())
    return {"rows": len(everything), "received": accepted, "duplicates": duplicates,
            "parts": parts + 1}


async def discard(runtime: Runtime, *, ward_id: str, upload_id: str) -> None:
    async with runtime.pool.acquire() as conn:
        await records.drop_upload(conn, upload_id=upload_id, ward_id=ward_id)


def error_body(errors: list[RowError]) -> dict:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    body = {"error": "invalid_file", "message": f"{first}{more}; nothing was imported",
            "errors": [e.as_dict() for e in errors[:MAX_REPORTED]], "error_count": len(errors)}
    if first.field:
        body["field"] = first.field
    return body
