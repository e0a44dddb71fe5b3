"""`cdt assist`: dossier intake files and desk check-ins, through the assist service's API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdt.client import Client
from cdt.output import console, err_console, fail

app = typer.Typer(help="Desk check-ins, citizens helped and dossiers received (assist service).",
                  no_args_is_help=True)

PART_BYTES = 900_000  # under the services' 1 MB body limit
SHOWN_ERRORS = 20


def _lines(path: Path) -> Iterator[bytes]:
    from services.assist.intake import split_lines

    with path.open("rb") as stream:
        yield from split_lines(iter(lambda: stream.read(1 << 16), b""))


def _parts(path: Path, fmt: str, rows_per_part: int) -> Iterator[tuple[int, bytes, int]]:
    """(first line, body, records) per part; a CSV part repeats the header."""
    lines = _lines(path)
    header = next(lines, b"") + b"\n" if fmt == "csv" else b""
    number = 1 if fmt == "csv" else 0
    body, first, count = [header] if header else [], number + 1, 0
    size = len(header)
    for line in lines:
        number += 1
        if count and (count >= rows_per_part or size + len(line) + 1 > PART_BYTES):
            yield first, b"".join(body), count
            body, first, count, size = [header] if header else [], number, 0, len(header)
        body.append(line + b"\n")
        size += len(line) + 1
        count += bool(line.strip())
    if count:
        yield first, b"".join(body), count


def _with_last(items: Iterator[tuple[int, bytes, int]]) -> Iterator[tuple[bool, tuple[int, bytes, int]]]:
    """Each item and whether it is the last, reading one ahead (the file is never all in memory)."""
    previous = next(items, None)
    for item in items:
        assert previous is not None
        yield False, previous
        previous = item
    if previous is not None:
        yield True, previous


def _check(path: Path, fmt: str, ward: str) -> int:
    """Validate the whole file before sending a byte; the service checks again."""
    from services.assist.intake import Row, parse_intake

    errors, rows = [], 0
    with console.status(f"checking {path.name}…"):
        for item in parse_intake(_lines(path), fmt=fmt, ward_id=ward,  # type: ignore[arg-type]
                                 wall_now=datetime.now(UTC)):
            if isinstance(item, Row):
                rows += 1
            else:
                errors.append(item)
    if errors:
        for error in errors[:SHOWN_ERRORS]:
            err_console.print(f"{path.name}: {error}", highlight=False, soft_wrap=True)
        more = f" (and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
        fail(f"{len(errors)} bad row(s){more}, first {errors[0]}; nothing was imported")
    if rows == 0:
        fail(f"{path.name} has no dossier records")
    return rows


@app.command()
def intake(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                       help="JSON lines (.jsonl) or CSV with the dossier.received "
                                       "fields"),
           ward: str = typer.Option(..., "--ward", help="The ward the dossiers belong to"),
           rows_per_part: int = typer.Option(5000, min=1, help="Records per request"),
           ) -> None:
    """Import dossier records: all of the file or, with any bad row, none of it."""
    from services.assist.intake import sniff_format

    with file.open("rb") as stream:
        fmt = sniff_format(stream.read(64))
    total = _check(file, fmt, ward)
    upload_id = str(uuid.uuid4()) if total > rows_per_part or file.stat().st_size > PART_BYTES \
        else None
    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    path = f"/wards/{ward}/dossiers/import"
    with Client("assist", timeout=300) as client, Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(f"importing {file.name}", total=total)
        result: dict = {}
        try:
            parts = _with_last(_parts(file, fmt, rows_per_part))
            for number, (last, (first_line, body, count)) in enumerate(parts):
                params: dict = {"format": fmt, "first_line": first_line}
                if upload_id:
                    params.update(upload_id=upload_id, part=number, final=str(last).lower())
                result = client.post(path, params=params, content=body,
                                     headers={"Content-Type": content_type}).json()
                progress.advance(task, count)
        except typer.Exit:
            if upload_id:  # leave nothing staged behind; the service purges it anyway
                try:
                    client.request("DELETE", f"{path}/{upload_id}")
                except (typer.Exit, Exception):  # noqa: BLE001 - best effort; the error is shown
                    pass
            raise
    console.print(f"{file.name}: {result['rows']} records, {result['received']} new dossiers, "
                  f"{result['duplicates']} already received")


@app.command()
def checkin(ward: str = typer.Option(..., "--ward"),
            member: str = typer.Option(..., "--member", help="The member's id"),
            shift: str | None = typer.Option(None, "--shift", help="Default: the current session"),
            ) -> None:
    """Check a member in to a session (now)."""
    body: dict = {"member_id": member}
    if shift:
        body["shift_id"] = shift
    with Client("assist") as client:
        done = client.post(f"/wards/{ward}/checkins", json=body).json()
    what = "stand-in " if done["stand_in"] else ""
    again = "" if done["created"] else " (already checked in)"
    console.print(f"{member}: {what}checked in to {done['shift_id']} at {done['at']}{again}")
