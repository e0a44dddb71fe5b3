"""Assists, dossiers received and staged intake uploads, in the assist database."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.events.assist import AssistCompletedData, DossierReceivedData

_ASSIST_COLUMNS = tuple(AssistCompletedData.model_fields)
INSERT_ASSIST = f"""
INSERT INTO assists ({", ".join(_ASSIST_COLUMNS)})
VALUES ({", ".join(f"${i + 1}" for i in range(len(_ASSIST_COLUMNS)))})
ON CONFLICT (assist_id) DO NOTHING RETURNING assist_id
"""
ASSIST = "SELECT * FROM assists WHERE ward_id = $1 AND assist_id = $2"
ASSIST_ANY_WARD = "SELECT ward_id FROM assists WHERE assist_id = $1"
ASSIST_OF_DOSSIER = "SELECT assist_id FROM assists WHERE ward_id = $1 AND dossier_id = $2"
ASSISTS = """
SELECT * FROM assists WHERE ward_id = $1 AND ended_at >= $2 AND ended_at < $3
  AND ($4::text IS NULL OR shift_id = $4) ORDER BY ended_at, assist_id LIMIT $5
"""
LINKS = """
SELECT ward_id, dossier_id, assist_id FROM assists
WHERE dossier_id = ANY($1) AND ward_id = ANY($2)
"""
_DOSSIER_COLUMNS = ("dossier_id", "ward_id", "procedure_code", "field", "channel", "received_at",
                    "assisted", "assist_id", "eligible_fully_online", "fully_online", "fee_due",
                    "paid_online")
_DOSSIER_TYPES = ("text", "text", "text", "text", "text", "timestamptz", "bool", "text", "bool",
                  "bool", "bool", "bool")
INSERT_DOSSIERS = f"""
INSERT INTO dossiers ({", ".join(_DOSSIER_COLUMNS)}, via)
SELECT *, $13 FROM unnest({", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_DOSSIER_TYPES))})
ON CONFLICT (ward_id, dossier_id) DO NOTHING RETURNING ward_id, dossier_id
"""
LINK_DOSSIER = """
UPDATE dossiers SET assist_id = $3, linked_at = now()
WHERE ward_id = $1 AND dossier_id = $2 AND assist_id IS NULL RETURNING dossier_id
"""
DOSSIER = "SELECT * FROM dossiers WHERE ward_id = $1 AND dossier_id = $2"
DOSSIERS = """
SELECT * FROM dossiers WHERE ward_id = $1 AND received_at >= $2 AND received_at < $3
ORDER BY received_at, dossier_id LIMIT $4
"""
STAGE_PART = """
INSERT INTO intake_uploads (upload_id, part, ward_id, rows) VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (upload_id, part) DO UPDATE SET rows = EXCLUDED.rows, created_at = now()
WHERE intake_uploads.ward_id = EXCLUDED.ward_id
"""
STAGED_PARTS = """
SELECT part, ward_id, rows FROM intake_uploads WHERE upload_id = $1 ORDER BY part FOR UPDATE
"""
DROP_UPLOAD = "DELETE FROM intake_uploads WHERE upload_id = $1 AND ward_id = $2"
PURGE_UPLOADS = "DELETE FROM intake_uploads WHERE created_at < now() - $1::interval"


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in row.items()}


async def add_assist(conn: asyncpg.Connection, data: AssistCompletedData) -> bool:
    """False when an assist with this id exists already (a retried request)."""
    values = [getattr(data, c) for c in _ASSIST_COLUMNS]
    return await conn.fetchval(INSERT_ASSIST, *values) is not None


async def assist(conn: asyncpg.Connection, *, ward_id: str, assist_id: str) -> dict | None:
    row = await conn.fetchrow(ASSIST, ward_id, assist_id)
    return _plain(row) if row else None


async def assist_ward(conn: asyncpg.Connection, *, assist_id: str) -> str | None:
    return await conn.fetchval(ASSIST_ANY_WARD, assist_id)


async def assist_of_dossier(conn: asyncpg.Connection, *, ward_id: str,
                            dossier_id: str) -> str | None:
    return await conn.fetchval(ASSIST_OF_DOSSIER, ward_id, dossier_id)


async def assists(conn: asyncpg.Connection, *, ward_id: str, start: datetime, end: datetime,
                  shift_id: str | None, limit: int) -> list[dict]:
    return [_plain(r) for r in await conn.fetch(ASSISTS, ward_id, start, end, shift_id, limit)]


async def links(conn: asyncpg.Connection,
                dossiers: Sequence[DossierReceivedData]) -> dict[tuple[str, str], str]:
    """(ward_id, dossier_id) -> assist_id for the dossiers whose assist is known."""
    rows = await conn.fetch(LINKS, [d.dossier_id for d in dossiers],
                            list({d.ward_id for d in dossiers}))
    return {(r["ward_id"], r["dossier_id"]): r["assist_id"] for r in rows}


async def add_dossiers(conn: asyncpg.Connection, dossiers: Sequence[DossierReceivedData], *,
                       via: str) -> set[tuple[str, str]]:
    """Insert the dossiers not received before; returns (ward_id, dossier_id) of those."""
    if not dossiers:
        return set()
    columns = [[getattr(d, c) for d in dossiers] for c in _DOSSIER_COLUMNS]
    rows = await conn.fetch(INSERT_DOSSIERS, *columns, via)
    return {(r["ward_id"], r["dossier_id"]) for r in rows}


async def link_dossier(conn: asyncpg.Connection, *, ward_id: str, dossier_id: str,
                       assist_id: str) -> bool:
    """Record that a dossier received earlier was produced by this assist."""
    return await conn.fetchval(LINK_DOSSIER, ward_id, dossier_id, assist_id) is not None


async def dossier(conn: asyncpg.Connection, *, ward_id: str, dossier_id: str) -> dict | None:
    row = await conn.fetchrow(DOSSIER, ward_id, dossier_id)
    return _plain(row) if row else None


async def dossiers(conn: asyncpg.Connection, *, ward_id: str, start: datetime, end: datetime,
                   limit: int) -> list[dict]:
    return [_plain(r) for r in await conn.fetch(DOSSIERS, ward_id, start, end, limit)]


async def stage_part(conn: asyncpg.Connection, *, upload_id: str, part: int, ward_id: str,
                     rows: Sequence[DossierReceivedData]) -> None:
    payload = json.dumps([r.model_dump(mode="json") for r in rows])
    await conn.execute(STAGE_PART, upload_id, part, ward_id, payload)


async def staged_parts(conn: asyncpg.Connection, *, upload_id: str) -> list[tuple[int, str, list]]:
    """(part, ward_id, rows) of an upload, locked until the transaction ends."""
    return [(r["part"], r["ward_id"], json.loads(r["rows"]))
            for r in await conn.fetch(STAGED_PARTS, upload_id)]


async def drop_upload(conn: asyncpg.Connection, *, upload_id: str, ward_id: str) -> None:
    await conn.execute(DROP_UPLOAD, upload_id, ward_id)


async def purge_uploads(conn: asyncpg.Connection, *, older_than_hours: int) -> None:
    await conn.execute(PURGE_UPLOADS, timedelta(hours=older_than_hours))
