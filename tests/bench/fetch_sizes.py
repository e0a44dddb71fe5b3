"""What a consumer holds while it drains a backlog, per fetch_max_bytes: the broker's responses.

    .venv/bin/python -m tests.bench.fetch_sizes --events 300000 --fetch-max-bytes 8388608 1048576

Fills an embedded broker with the province simulation, then drains `cdt.assist.events` with a
bare aiokafka consumer (1,000 records a poll, max_partition_fetch_bytes 1 MB) once per
fetch_max_bytes given, and prints the largest fetch response (record bytes of all partitions,
and of one partition) and the peak of the memory traced by tracemalloc while draining.
"""

from __future__ import annotations

import argparse
import asyncio
import tracemalloc
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher

from cdt.demo import national
from shared.embedded import EmbeddedKafka, _free_port
from shared.events import assist
from tests.bench.conftest import CAMPAIGN, INGEST_TOPICS
from tests.bench.harness import fill

PARTITION_BYTES = 1024 * 1024


def response_sizes(sizes: list[list[int]]) -> Any:
    """Fetcher._proc_fetch_request, recording the record bytes per partition of each response."""
    original = Fetcher._proc_fetch_request

    async def recording(self: Fetcher, assignment: Any, node_id: int, request: Any) -> Any:
        send = self._client.send

        async def spy(node: int, req: Any, *args: Any, **kwargs: Any) -> Any:
            response = await send(node, req, *args, **kwargs)
            if req is request:
                sizes.append([len(p[-1] or b"") for _, parts in response.topics for p in parts])
            return response

        self._client.send = spy
        try:
            return await original(self, assignment, node_id, request)
        finally:
            self._client.send = send

    return original, recording


async def drain(bootstrap: str, records: int, fetch_max_bytes: int, group: str) -> str:
    sizes: list[list[int]] = []
    original, recording = response_sizes(sizes)
    Fetcher._proc_fetch_request = recording  # type: ignore[method-assign]
    consumer = AIOKafkaConsumer(assist.TOPIC, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=PARTITION_BYTES,
                                fetch_max_bytes=fetch_max_bytes)
    await consumer.start()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        got = 0
        while got < records:
            batch = await consumer.getmany(timeout_ms=500, max_records=1000)
            got += sum(len(v) for v in batch.values())
            del batch
            await asyncio.sleep(0.02)  # a batch being applied: the fetcher prefetches meanwhile
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
        await consumer.stop()
        Fetcher._proc_fetch_request = original  # type: ignore[method-assign]
    mb = 2**20
    return (f"fetch_max_bytes {fetch_max_bytes / mb:.2f} MB: {len(sizes)} responses, largest "
            f"{max(map(sum, sizes)) / mb:.2f} MB (one partition {max(map(max, sizes)) / mb:.2f} "
            f"MB, asked {PARTITION_BYTES / mb:.2f}); traced peak {peak / mb:.1f} MB")


async def main(bootstrap: str, events: int, caps: list[int]) -> None:
    wards = national.ward_profiles(national.COUNTRY_WARDS)[:national.PROVINCE_WARDS]
    counts = await fill(bootstrap, national.province_records(wards, *CAMPAIGN, limit=events),
                        topics=INGEST_TOPICS)
    for index, cap in enumerate(caps):
        print(await drain(bootstrap, counts[assist.TOPIC], cap, f"fetch-sizes-{index}"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--fetch-max-bytes", type=int, nargs="+", default=[8 << 20, 1 << 20])
    args = parser.parse_args()
    with EmbeddedKafka(port=_free_port()) as broker:
        asyncio.run(main(broker.bootstrap, args.events, args.fetch_max_bytes))
