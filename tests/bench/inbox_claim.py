"""What the inbox claim costs PostgreSQL alone: 1,000 random keys per statement (the batch size),
the statement of `shared/inbox.py`, into a table that grows to `--batches` x 1,000 rows, each
claim in its own transaction (commit included), on an otherwise idle connection.

    .venv/bin/python -m tests.bench.inbox_claim [--url postgresql://postgres@127.0.0.1:5432/postgres]

Prints the median and p90 per claim; the database it makes is dropped at the end."""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import asyncpg

from shared.inbox import CLAIM
from shared.service import SHARED_MIGRATIONS
from tests.bench.harness import scratch_database, tool_parser


async def measure(server: str, batches: int, size: int) -> list[float]:
    async with scratch_database(server, "inbox", SHARED_MIGRATIONS) as url:
        conn = await asyncpg.connect(url)
        try:
            timings = []
            for _ in range(batches):
                keys = os.urandom(16 * size)
                began = time.perf_counter()
                async with conn.transaction():
                    await conn.fetch(CLAIM, keys)
                timings.append(time.perf_counter() - began)
            return timings
        finally:
            await conn.close()


def main() -> None:
    parser = tool_parser(__doc__ or "")
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    timings = sorted(asyncio.run(measure(args.url, args.batches, args.size)))
    p90 = timings[int(len(timings) * 0.9)]
    print(f"inbox claim of {args.size} keys, {args.batches} claims: median "
          f"{statistics.median(timings) * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms "
          f"({statistics.median(timings) / args.size * 1e6:.1f} us per key)")


if __name__ == "__main__":
    main()
