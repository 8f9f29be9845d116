"""Erasure on request (the right to be forgotten), in the driver and the engine: given a customer's
events and then an erase request (a tombstone keyed by the customer id on an input topic), the
customer is gone from the engine, its changelog key gets a tombstone, one `customer.erased`
event is published, and every other customer of the partition goes on exactly as if the erased
one had never been there."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from agents.changelog import StateWrites
from agents.driver import PartitionDriver, worker_engine
from agents.faust_compat.hole_reader import RawRecord
from config.settings import ROOT
from stream.changes import ERASED_TYPE, erasure_event
from stream.partitioner import partition_for
from tests.unit.memory_changelog import MemoryChangelog
from tests.unit.tagspec import INPUT_TOPICS, T0, default_rules, order, visit

TOPICS = INPUT_TOPICS
DAY = 86_400_000


def driver() -> PartitionDriver:
    d = PartitionDriver(worker_engine(default_rules(), 8), StateWrites(8), MemoryChangelog().read, TOPICS, "ticks",
                        highwater=lambda topic, partition: 0, committed=lambda topic, partition: 0,
                        live_clock=False, idle_after_s=0)
    asyncio.run(d.load(set(range(8))))
    return d


def customers_in(partition: int, n: int) -> list[str]:
    return [c for c in (f"c{i}" for i in range(10_000)) if partition_for(c, 8) == partition][:n]


class Feed:
    """Records of one partition with increasing offsets per topic."""

    def __init__(self, partition: int) -> None:
        self.partition, self.offsets = partition, {}

    def __call__(self, topic: str, key: str | None, doc: dict | None) -> RawRecord:
        offset = self.offsets[topic] = self.offsets.get(topic, -1) + 1
        return RawRecord(topic, self.partition, offset, key.encode() if key is not None else None,
                         None if doc is None else orjson.dumps(doc))


def history(customers: list[str], days: range) -> list[dict]:
    """An order and a visit per customer per day, at a second of the day that is the customer's own."""
    at = {c: int(c[1:]) % 3600 * 1000 for c in customers}
    docs = [doc for day in days for c in customers
            for doc in (order(c, T0 + day * DAY + at[c], 20.0 + day, id=f"o-{c}-{day}"),
                        visit(c, T0 + day * DAY + at[c] + 500, id=f"v-{c}-{day}"))]
    return sorted(docs, key=lambda doc: doc["ts"])


def test_an_erased_customer_leaves_a_tombstone_one_event_and_no_trace_in_the_engine():
    a, b, c = customers_in(3, 3)
    d, feed = driver(), Feed(3)
    topic = {"order": "orders", "visit": "visits"}
    handled = d.handle([feed(topic[doc["type"]], doc["customer_id"], doc) for doc in history([a, b, c], range(5))])
    assert d.engine.stored_state(b) is not None
    d.writes.take()
    handled = d.handle([feed("orders", b, None)])
    erased = [orjson.loads(value) for key, value in handled.changes if key == b.encode()]
    assert [event["type"] for event in erased] == [ERASED_TYPE] and erased[0]["data"]["customer_id"] == b
    assert handled.erased == [b]
    assert d.engine.stored_state(b) is None and d.engine.customer_count() == 2
    staged = d.writes.take()
    assert (3, b.encode(), None) in list(staged.records(8)), "a changelog tombstone"
    again = d.handle([RawRecord("orders", 3, feed.offsets["orders"], b.encode(), None)])
    assert again.duplicates == 1 and not again.changes, "a request read again after a restart is not applied twice"


def test_the_rest_of_the_partition_goes_on_as_if_the_erased_customer_had_never_been_there():
    customers = customers_in(5, 6)
    erased, kept = customers[2], [c for c in customers if c != customers[2]]
    topic = {"order": "orders", "visit": "visits"}
    d, feed = driver(), Feed(5)
    d.handle([feed(topic[doc["type"]], doc["customer_id"], doc) for doc in history(customers, range(40))])
    d.handle([feed("visits", erased, None)])
    later = d.handle([feed(topic[doc["type"]], doc["customer_id"], doc) for doc in history(kept, range(200, 400, 20))])
    reference, ref_feed = driver(), Feed(5)
    reference.handle([ref_feed(topic[doc["type"]], doc["customer_id"], doc) for doc in history(kept, range(40))])
    expected = reference.handle([ref_feed(topic[doc["type"]], doc["customer_id"], doc) for doc in history(kept, range(200, 400, 20))])
    assert later.changes == expected.changes, "the same changes, deadlines included, for everyone else"
    for customer in kept:
        assert d.engine.stored_state(customer) == reference.engine.stored_state(customer)
    assert d.engine.scheduled() == reference.engine.scheduled()


def test_erased_and_back_in_the_same_batch_writes_the_tombstone_first():
    (a,) = customers_in(1, 1)
    d, feed = driver(), Feed(1)
    d.handle([feed("orders", a, order(a, T0, 10.0))])
    d.writes.take()
    d.handle([feed("orders", a, None), feed("orders", a, order(a, T0 + DAY, 30.0))])
    writes = [(key, value) for _, key, value in d.writes.take().records(8) if key == a.encode()]
    assert [value is None for _, value in writes] == [True, False], "the new customer's state is the latest"


def test_an_erase_request_that_names_no_customer_of_the_partition_is_dead_lettered():
    (a,) = customers_in(2, 1)
    d, feed = driver(), Feed(2)
    handled = d.handle([feed("orders", "\x00bad", None), feed("orders", customers_in(4, 1)[0], None),
                        RawRecord("clicks", 2, 0, None, None)])
    assert [dead.reason for dead in handled.dead] == ["bad_value", "wrong_partition", "not_json"], "a key-less tombstone stays not_json"
    assert not handled.erased and not handled.changes


def test_the_erased_event_follows_its_published_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = orjson.loads((ROOT / "schemas" / "json" / "customer_erased.schema.json").read_bytes())
    event = orjson.loads(erasure_event("c42", "orders", 3, 17))
    jsonschema.validate(event, schema)
    assert erasure_event("c42", "orders", 3, 17) == erasure_event("c42", "orders", 3, 17), "the same request, the same bytes"


def audience_of(d: PartitionDriver, customers: list[str]) -> dict[tuple[str, str], int]:
    """What `audience_sizes` must say: the customers' tags counted by (family, str(value))."""
    counted: dict[tuple[str, str], int] = {}
    for customer in customers:
        for family, value in d.engine.tags(customer).items():
            counted[(family, str(value))] = counted.get((family, str(value)), 0) + 1
    return counted


def sizes(d: PartitionDriver) -> dict[tuple[str, str], int]:
    return {(family, value): n for family, value, n in d.engine.audience_sizes()}


def test_audience_sizes_follow_changes_erasures_and_partitions_coming_and_going():
    a, b, c = customers_in(3, 3)
    (e,) = customers_in(5, 1)
    d, feed3, feed5 = driver(), Feed(3), Feed(5)
    topic = {"order": "orders", "visit": "visits"}
    d.handle([feed3(topic[doc["type"]], doc["customer_id"], doc) for doc in history([a, b, c], range(40))]
             + [feed5(topic[doc["type"]], doc["customer_id"], doc) for doc in history([e], range(3))])
    assert sizes(d) == audience_of(d, [a, b, c, e])
    assert sizes(d)[("lifecycle", "active")] >= 3
    log = MemoryChangelog()
    asyncio.run(log.write(d.writes.take()))
    d.handle([feed3("orders", b, None)])  # b erased
    assert sizes(d) == audience_of(d, [a, c, e])
    asyncio.run(log.write(d.writes.take()))
    d.forget({3})
    assert sizes(d) == audience_of(d, [e]), "a revoked partition's customers leave the counts"
    reloaded = PartitionDriver(worker_engine(default_rules(), 8), StateWrites(8), log.read, TOPICS, "ticks",
                               highwater=lambda topic, partition: 0, committed=lambda topic, partition: 0,
                               live_clock=False, idle_after_s=0)
    asyncio.run(reloaded.load({3}))
    assert sizes(reloaded) == audience_of(reloaded, [a, c]), "counted afresh from the changelog"
