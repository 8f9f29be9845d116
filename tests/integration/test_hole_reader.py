"""Reading a hole Faust left (agents/faust_compat/hole_reader.py) from the real broker: given a partition with
records 0..19, the range [5, 12) comes back complete, in order, with keys and bytes intact."""

from __future__ import annotations

import asyncio

from agents.faust_compat.hole_reader import read_range
from agents.kafka_clients import client_options


def test_a_range_of_one_partition_comes_back_whole_and_in_order(deployment):
    topic = deployment.settings.topic_orders
    producer = deployment.producer()
    for n in range(20):
        producer.send(topic, key=f"k{n}".encode(), value=f"v{n}".encode(), partition=3)
    producer.flush()
    producer.close()

    records = asyncio.run(read_range(client_options(deployment.settings), topic, 3, 5, 12))

    assert [(r.offset, r.key, r.value) for r in records] == [(n, f"k{n}".encode(), f"v{n}".encode()) for n in range(5, 12)]
    assert {(r.topic, r.partition) for r in records} == {(topic, 3)}


def test_a_range_past_the_end_returns_what_there_is(deployment):
    topic = deployment.settings.topic_orders
    producer = deployment.producer()
    for n in range(3):
        producer.send(topic, key=b"k", value=b"v", partition=1)
    producer.flush()
    producer.close()

    records = asyncio.run(read_range(client_options(deployment.settings), topic, 1, 1, 10, timeout_s=2))

    assert [r.offset for r in records] == [1, 2]
