"""The record driver (agents/driver.py): when an input topic stops holding a partition's
watermark back, what a record on the wrong topic or partition becomes, and how owned partitions
are loaded from the table.

A topic counts as caught up only when the consumer has delivered everything it knows of *and*
the topic has been quiet for `idle_after_s`: a high-water mark can be a fetch or two stale while
a producer is still writing, and dropping the topic at once would make its records late."""

from __future__ import annotations

import orjson
import pytest

import asyncio

from agents.changelog import StateWrites, watermark_key
from agents.driver import Handled, PartitionDriver, worker_engine
from agents.faust_compat.hole_reader import RawRecord
from tests.unit.memory_changelog import MemoryChangelog
from stream.native import Engine
from stream.partitioner import partition_for
from tests.unit.tagspec import INPUT_TOPICS, T0, default_rules, order, pack, stored_states, visit

TOPICS = INPUT_TOPICS
EMPTY_NEW = {"profiles": 0, "custom-events": 0}  # topics a deployment may never send to: drained from the start


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def customer_in(partition: int) -> str:
    return next(f"c{i}" for i in range(10_000) if partition_for(f"c{i}", 8) == partition)


def engine() -> Engine:
    return worker_engine(default_rules(), 8)


def driver(clock: Clock, highwater: dict[str, int], log: MemoryChangelog | None = None, **options) -> PartitionDriver:
    log = log or MemoryChangelog()
    d = PartitionDriver(
        engine(), StateWrites(8), log.read, TOPICS, "ticks",
        highwater=lambda topic, partition: highwater.get(topic),
        committed=lambda topic, partition: 0,
        live_clock=False, idle_after_s=2.0, now=clock, **options,
    )
    d.log = log  # type: ignore[attr-defined]  # the specs below look into what was written
    return d


def handle(d: PartitionDriver, records: list[RawRecord]) -> Handled:
    """As the worker does: load the batch's partitions, then run it."""
    asyncio.run(d.load({r.partition for r in records}))
    return d.handle(records)


def load(d: PartitionDriver, partitions: set[int]) -> None:
    asyncio.run(d.load(partitions))


def write_state(d: PartitionDriver) -> None:
    asyncio.run(d.log.write(d.writes.take()))


def record(topic: str, partition: int, offset: int, doc: dict | bytes) -> RawRecord:
    value = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    key = None if isinstance(doc, bytes) else doc["customer_id"].encode()
    return RawRecord(topic, partition, offset, key, value)


def test_a_drained_topic_is_caught_up_only_after_a_quiet_spell(clock):
    d = driver(clock, {"orders": 0, "email-opens": 0, "clicks": 0, "visits": 0, **EMPTY_NEW})
    assert d.caught_up(0) == frozenset(), "first seen drained: not yet quiet for long enough"
    clock.t += 1.9
    assert d.caught_up(0) == frozenset()
    clock.t += 0.2
    assert d.caught_up(0) == frozenset(TOPICS.values())


def test_a_delivered_record_restarts_the_quiet_spell_even_if_the_high_water_mark_says_drained(clock):
    highwater = {"orders": 1, "email-opens": 0, "clicks": 0, "visits": 0, **EMPTY_NEW}
    d = driver(clock, highwater)
    d.caught_up(0)
    clock.t += 5
    handle(d, [record("orders", 0, 0, b"not json")])  # delivered: position 1 == high-water mark 1
    assert "order" not in d.caught_up(0)
    assert d.caught_up(0) == frozenset({"email_open", "click", "visit", "profile", "custom"})
    clock.t += 2
    assert "order" in d.caught_up(0)


def test_a_topic_with_records_left_is_never_caught_up(clock):
    d = driver(clock, {"orders": 10, "email-opens": 0, "clicks": 0, "visits": 0, **EMPTY_NEW})
    d.caught_up(0)
    clock.t += 60
    assert "order" not in d.caught_up(0)


def test_an_unknown_high_water_mark_is_not_caught_up(clock):
    d = driver(clock, {"email-opens": 0, "clicks": 0, "visits": 0, **EMPTY_NEW})
    d.caught_up(0)
    clock.t += 60
    assert d.caught_up(0) == frozenset({"email_open", "click", "visit", "profile", "custom"})


def test_a_revoked_partition_forgets_its_quiet_spells(clock):
    d = driver(clock, {"orders": 0, "email-opens": 0, "clicks": 0, "visits": 0, **EMPTY_NEW})
    handle(d, [record("orders", 0, 0, b"not json")])
    clock.t += 5
    d.forget({0})
    assert d.caught_up(0) == frozenset(), "a newly assigned partition starts a fresh quiet spell"


def test_records_are_dead_lettered_when_their_topic_or_partition_is_not_their_customers(clock):
    """A customer's state lives in the partition Kafka's key partitioner gives its id: an event
    produced elsewhere would split the customer, so it is refused, loudly."""
    d = driver(clock, {})
    home = customer_in(3)
    handled = handle(d, [
        record("orders", 4, 7, order(home, T0)),
        record("visits", 3, 8, order(home, T0)),
        record("orders", 3, 9, order(home, T0)),
    ])
    assert [(dead.offset, dead.reason) for dead in handled.dead] == [(7, "wrong_partition"), (8, "wrong_topic")]
    assert handled.dead[0].message == (
        f"customer {home!r} belongs to partition 3 by Kafka's key partitioner, not 4 (produce with the customer id as key)")
    assert handled.dead[1].message == "a 'order' event on topic 'visits' (expects 'visit')"
    assert handled.consumed == {"order": 1}


def test_partitions_taken_over_together_are_loaded_before_the_first_batch_and_their_customers_rechecked(clock):
    ids = [f"cust-{n}" for n in range(40)]
    log = MemoryChangelog(initial={customer_id.encode(): raw for customer_id, raw in stored_states([order(c, T0) for c in ids]).items()})
    owned = [partition_for(customer_id, 8) for customer_id in ids]
    assigned = {owned[0], owned[1], owned[2]}
    rechecked: list[str] = []
    d = driver(clock, {}, log, assigned=lambda: assigned, on_owned=rechecked.extend)
    handle(d, [RawRecord("ticks", owned[0], 0, None, b"{}")])
    handle(d, [RawRecord("ticks", owned[1], 1, None, b"{}")])
    assert d.loaded == assigned and log.reads == {p: 1 for p in assigned}, "each partition read once"
    assert sorted(rechecked) == sorted(c for c, p in zip(ids, owned) if p in assigned)
    assert d.engine.customer_count() == len(rechecked)
    assert d.engine.scheduled() == len(rechecked), "every customer's deadline indexed"


def test_a_partition_revoked_while_its_changelog_is_read_is_not_loaded(clock):
    log = MemoryChangelog()
    d = driver(clock, {}, log)
    read = log.read

    async def revoked_meanwhile(partitions):
        async for partition, stored in read(partitions):
            d.forget({partition})  # the group moved it on while the read awaited Kafka
            yield partition, stored

    d.read_stored = revoked_meanwhile
    load(d, {0})
    assert 0 not in d.loaded and d.engine.customer_count() == 0


def test_a_stored_state_that_cannot_be_read_is_left_out_and_not_rechecked(clock):
    good = stored_states([order("good", T0)])["good"]
    bad = next(f"bad-{n}" for n in range(1000) if partition_for(f"bad-{n}", 8) == partition_for("good", 8))
    table = {b"good": good, bad.encode(): b"\x02garbage"}
    rechecked: list[str] = []
    d = driver(clock, {}, MemoryChangelog(initial=table), assigned=lambda: {partition_for("good", 8)}, on_owned=rechecked.extend)
    handle(d, [RawRecord("ticks", partition_for("good", 8), 0, None, b"{}")])
    assert rechecked == ["good"], "the Redis writer is never handed bytes it cannot read"
    assert d.engine.customer_count() == 1


def test_a_source_read_ahead_is_remembered_even_while_another_holds_the_watermark_back(clock):
    """Visits read a month ahead while orders lag: the watermark stays put, but a restart must
    still know how far visits went, or, once everything is idle, it would stop short of them and
    never release the visits it buffered."""
    d = driver(clock, {"orders": 5, "email-opens": 0, "clicks": 0, "visits": 9, **EMPTY_NEW})
    c1 = customer_in(0)
    handle(d, [record("orders", 0, 0, order(c1, T0))])
    held = d.engine.watermarks()[0]
    handle(d, [record("visits", 0, 0, visit(c1, T0 + 30 * 86_400_000))])
    assert d.engine.watermarks()[0] == held, "orders still hold time back"
    write_state(d)
    assert orjson.loads(d.log.latest(watermark_key(0, 8)))["newest"]["visit"] == T0 + 30 * 86_400_000
    restarted = driver(clock, {}, d.log)
    load(restarted, {0})
    assert restarted.engine.watermarks()[0] == held


def test_a_restarted_driver_reads_states_written_under_an_earlier_rule_pack(clock, tmp_path):
    """The stored tag codes belong to the pack that wrote them; its tag tables are kept in the
    table, so a worker restarted with an edited pack reads the old states by family name."""
    d = driver(clock, {"orders": 2, "email-opens": 0, "clicks": 0, "visits": 0, **EMPTY_NEW})
    c1 = customer_in(0)
    d.caught_up(0)
    clock.t += 5  # the other topics are idle: the orders decide the watermark
    handle(d, [record("orders", 0, 0, order(c1, T0)), record("orders", 0, 1, order(c1, T0 + 86_400_000))])
    assert d.engine.tags(c1)["lifecycle"] == "new"
    write_state(d)
    edited = pack(tmp_path, '''
[families.value_tier]
cases = [{ value = "top", when = "revenue_365d >= 5000" }, { value = "high", when = "revenue_365d >= 1000" }]
default = "low"

[families.lifecycle]
cases = [{ value = "new", when = "days_since_first_order < 30" }]
default = "active"
''')
    restarted = PartitionDriver(
        worker_engine(edited, 8), StateWrites(8), d.log.read, TOPICS, "ticks",
        highwater=lambda topic, partition: None, committed=lambda topic, partition: 0, live_clock=False, now=clock)
    load(restarted, {0})
    assert restarted.engine.tags(c1) == {"lifecycle": "new", "value_tier": "low"}, "tags moved by family name, not code"


# What the Python engine of earlier versions stored for c1 (format 1): one order applied, one pending.
FORMAT_1 = (
    b'[1,[1704067200000,null,null,null],[1704067200000,null,null,null],1,12000,1,[19723,1,12000,0],[],null,'
    b'{"channel":{"web":1},"category":{"shoes":1},"hour_band":{"night_owl":1}},["o1"],{"lifecycle":"new",'
    b'"value_tier":"low","vip":false,"frequency_band":"low","engagement":"active","churn_risk":false,"trend":"stable",'
    b'"rfm_segment":"potential_loyalist","coupon_user":false,"order_hour":"night_owl","preferred_channel":"web",'
    b'"top_category":"shoes"},[["o2","order",1704326400000,8000,false,null,[]]],1704067200000,1705276800000,0,'
    b'1704067200000]'
)


def test_a_changelog_of_format_1_states_is_read_and_upgraded_as_customers_change(clock):
    home = partition_for("c1", 8)
    d = driver(clock, {}, MemoryChangelog(initial={b"c1": FORMAT_1}))
    load(d, {home})
    assert d.engine.tags("c1")["top_category"] == "shoes"
    handled = handle(d, [record("orders", home, 0, order("c1", T0, id="o1")), record("orders", home, 1, order("c1", T0 + 5 * 86_400_000, id="o3"))])
    assert handled.duplicates == 1, "the stored recent ids still recognise a re-read event"
    write_state(d)
    assert d.log.latest(b"c1")[0] == 3, "written back in format 3"
    assert d.engine.tags("c1")["top_category"] == "shoes"


def test_records_re_read_after_a_restart_are_skipped_by_offset_even_past_the_remembered_ids(clock):
    """A busy customer can have more events between two offset commits than the 64 event ids a
    state remembers: after a crash they are re-read, and without the applied offsets stored with
    the watermark the oldest of them would be applied twice."""
    c1 = customer_in(0)
    orders = [record("orders", 0, n, order(c1, T0 + n * 60_000, id=f"o{n}")) for n in range(70)]
    d = driver(clock, {})
    handle(d, orders)
    d.engine.finish(T0 + 70 * 60_000)  # all 70 applied: the state remembers only the last 64 ids
    d.writes.stage(*d.engine.take_writes())
    write_state(d)
    restarted = driver(clock, {}, d.log)
    handled = handle(restarted, orders + [record("orders", 0, 70, order(c1, T0 + 71 * 60_000, id="o70"))])
    assert handled.duplicates == 70 and handled.late == 0
    restarted.engine.finish(T0 + 72 * 60_000)
    assert restarted.engine.metrics(c1, T0 + 72 * 60_000)["orders_total"] == 71
