"""How a batch's tag changes are handed to the producer: one record batch per partition (more when
one fills up), each record keyed by its customer, in Kafka's key partition, in the engine's order,
with the change's exact bytes; publishing waits for every batch's delivery."""

from __future__ import annotations

import asyncio

import pytest

from agents.driver import Dead, Handled
from agents.metrics import WorkerMetrics
from agents.kafka_outputs import HEADERS, KafkaOutputs
from stream.changes import TagChange
from stream.partitioner import partition_for


class Builder:
    """Stands in for aiokafka's BatchBuilder: takes `capacity` records, then reports full."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.records = capacity, []

    def append(self, *, key, value, timestamp, headers):
        if len(self.records) == self.capacity:
            return None
        self.records.append((key, value, timestamp, headers))
        return object()


class Producer:
    def __init__(self, capacity: int, fail: Exception | None = None) -> None:
        self.capacity, self.fail = capacity, fail
        self.sent: list[tuple[str, int, Builder]] = []

    async def partitions_for(self, topic):
        return {7, 3, 5, 0, 1, 2, 6, 4}

    def create_batch(self):
        return Builder(self.capacity)

    async def send_batch(self, batch, topic, *, partition):
        self.sent.append((topic, partition, batch))
        delivered = asyncio.get_running_loop().create_future()
        if self.fail is None:
            delivered.set_result(None)
        else:
            delivered.set_exception(self.fail)
        return delivered


class DeadLetters:
    def __init__(self) -> None:
        self.sent = []

    async def send(self, *, key=None, value=None, headers=None):
        self.sent.append((key, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def changes_of(customers: int, per_customer: int) -> Handled:
    return Handled([
        (f"c{c}".encode(), TagChange(f"c{c}", f"family{n}", None, n, 1_700_000_000_000 + n, "rule", f"e{c}", {"n": n}).to_json())
        for c in range(customers) for n in range(per_customer)
    ])


def test_changes_go_out_as_record_batches_per_partition_in_order():
    producer, dlq = Producer(capacity=5), DeadLetters()
    sinks = KafkaOutputs("changes", dlq, producer=lambda: producer)
    batch = changes_of(customers=40, per_customer=3)
    batch.dead.append(Dead("orders", 0, 9, b"k", b"{bad", "not_json", "bad"))
    asyncio.run(sinks.publish(batch))

    assert dlq.sent == [(b"k", b"{bad")]
    expected = batch.changes
    by_partition: dict[int, list] = {}
    for topic, partition, builder in producer.sent:
        assert topic == "changes"
        assert 0 < len(builder.records) <= 5
        by_partition.setdefault(partition, []).extend(builder.records)
    assert sum(map(len, by_partition.values())) == len(expected)
    for partition, records in by_partition.items():
        wanted = [(key, value) for key, value in expected if partition_for(key.decode(), 8) == partition]
        assert records == [(key, value, None, HEADERS) for key, value in wanted]
    assert len(producer.sent) > len(by_partition)  # full batches were sent and new ones started


def test_nothing_to_send_sends_nothing():
    producer = Producer(capacity=5)
    asyncio.run(KafkaOutputs("changes", DeadLetters(), producer=lambda: producer).publish(Handled()))
    assert producer.sent == []


def test_a_failed_delivery_fails_the_publish():
    producer = Producer(capacity=100, fail=OSError("broker gone"))
    sinks = KafkaOutputs("changes", DeadLetters(), producer=lambda: producer)
    with pytest.raises(OSError):
        asyncio.run(sinks.publish(changes_of(customers=3, per_customer=2)))


def test_counters_count_every_event_and_change_under_its_own_labels():
    metrics = WorkerMetrics()
    for _ in range(3):
        metrics.count(Handled(consumed={"order": 2}, duplicates=1, late=2,
                            transitions=[("vip", "None", "True", 1), ("vip", "True", "1", 2), ("vip", "1", "True", 1)]))
    value = lambda old, new: metrics.registry.get_sample_value(  # noqa: E731
        "tagstream_tag_changes_total", {"family": "vip", "from_value": old, "to_value": new})
    assert (value("None", "True"), value("True", "1"), value("1", "True")) == (3, 6, 3)
    assert metrics.registry.get_sample_value("tagstream_events_consumed_total", {"type": "order"}) == 6
