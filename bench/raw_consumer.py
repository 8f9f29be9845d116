"""The raw baseline: an aiokafka consumer that only reads and decodes (orjson) the input topics.

`python -m bench.raw_consumer GROUP TOPIC...` joins consumer group GROUP, reads every record
present when it started, commits after each fetched batch (so the same committed-offset method
can watch it) and prints one JSON line: events, seconds from the moment it is assigned its
partitions (and knows their end offsets) to its last record, rate.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer

BROKER = os.environ.get("TAGSTREAM_KAFKA_BROKER", "127.0.0.1:19092")


async def consume(group: str, topics: list[str]) -> dict[str, float]:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=BROKER, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        parts = list(consumer.assignment())
        ends = await consumer.end_offsets(parts)
        total = sum(ends.values())
        events = 0
        started = time.monotonic()  # assigned, end offsets known: from here on it only consumes
        last = started
        while events < total:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    orjson.loads(record.value)
                events += len(records)
            if batch:
                last = time.monotonic()
                await consumer.commit()
        seconds = last - started
        return {"events": events, "seconds": seconds, "rate": events / seconds if seconds > 0 else 0.0}
    finally:
        await consumer.stop()


def main() -> None:
    group, topics = sys.argv[1], sys.argv[2:]
    print(orjson.dumps(asyncio.run(consume(group, topics))).decode(), flush=True)


if __name__ == "__main__":
    main()
