"""The record driver (agents/driver.py): when an input topic stops holding a partition's
watermark back, and what happens when the engine fails on one event.

A topic counts as caught up only when the consumer has delivered everything it knows of *and*
the topic has been quiet for `idle_after_s`: a high-water mark can be a fetch or two stale while
a producer is still writing, and dropping the topic at once would make its records late."""

from __future__ import annotations

import pytest

from agents.driver import PartitionDriver
from agents.table_store import TableStore
from stream.partitioner import partition_for
from stream.rules.ruleset import load_rules
from stream.state import CustomerState

TOPICS = {"orders": "order", "email-opens": "email_open", "clicks": "click", "visits": "visit"}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def driver(clock: Clock, highwater: dict[str, int]) -> PartitionDriver:
    return PartitionDriver(
        load_rules(), TableStore({}, 8), TOPICS, "ticks",
        highwater=lambda topic, partition: highwater.get(topic),
        committed=lambda topic, partition: 0,
        live_clock=False, idle_after_s=2.0, now=clock,
    )


def test_a_drained_topic_is_caught_up_only_after_a_quiet_spell(clock):
    d = driver(clock, {"orders": 0, "email-opens": 0, "clicks": 0, "visits": 0})
    assert d.caught_up(0) == frozenset(), "first seen drained: not yet quiet for long enough"
    clock.t += 1.9
    assert d.caught_up(0) == frozenset()
    clock.t += 0.2
    assert d.caught_up(0) == frozenset(TOPICS.values())


def test_a_delivered_record_restarts_the_quiet_spell_even_if_the_high_water_mark_says_drained(clock):
    highwater = {"orders": 1, "email-opens": 0, "clicks": 0, "visits": 0}
    d = driver(clock, highwater)
    d.caught_up(0)
    clock.t += 5
    d.handle("orders", 0, 0, b"c1", b"not json")  # delivered: position 1 == high-water mark 1
    assert "order" not in d.caught_up(0)
    assert d.caught_up(0) == frozenset({"email_open", "click", "visit"})
    clock.t += 2
    assert "order" in d.caught_up(0)


def test_a_topic_with_records_left_is_never_caught_up(clock):
    d = driver(clock, {"orders": 10, "email-opens": 0, "clicks": 0, "visits": 0})
    d.caught_up(0)
    clock.t += 60
    assert "order" not in d.caught_up(0)


def test_an_unknown_high_water_mark_is_not_caught_up(clock):
    d = driver(clock, {"email-opens": 0, "clicks": 0, "visits": 0})
    d.caught_up(0)
    clock.t += 60
    assert d.caught_up(0) == frozenset({"email_open", "click", "visit"})


def test_a_revoked_partition_forgets_its_quiet_spells(clock):
    d = driver(clock, {"orders": 0, "email-opens": 0, "clicks": 0, "visits": 0})
    d.handle("orders", 0, 0, b"c1", b"not json")
    clock.t += 5
    d.forget({0})
    assert d.caught_up(0) == frozenset(), "a newly assigned partition starts a fresh quiet spell"


def test_an_engine_failure_on_one_event_dead_letters_it_instead_of_stopping_the_partition(clock, monkeypatch):
    d = driver(clock, {})
    engine = d.engine(0)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(engine, "ingest", broken)
    event = b'{"event_id":"e1","type":"visit","customer_id":"c1","ts":1700000000000,"page":"/"}'
    handled = d.handle("visits", 0, 7, b"c1", event)
    assert handled.dead is not None and handled.dead.reason == "engine_error", handled
    assert handled.dead.message == "ZeroDivisionError: division by zero"
    assert (handled.dead.offset, handled.dead.value) == (7, event)


class CountingTable(dict):
    """A table that counts full scans (what a restart with a million customers pays for)."""

    scans = 0

    def items(self):
        self.scans += 1
        return super().items()


def test_partitions_taken_over_together_are_indexed_in_one_pass_and_their_customers_rechecked(clock):
    table = CountingTable()
    store = TableStore(table, 8)
    ids = [f"cust-{n}" for n in range(40)]
    for customer_id in ids:
        store.put(customer_id, CustomerState(next_deadline=1_000))
    store.commit()
    owned = [partition_for(customer_id, 8) for customer_id in ids]
    assigned = {owned[0], owned[1], owned[2]}
    rechecked: list[str] = []
    d = PartitionDriver(
        load_rules(), store, TOPICS, "ticks", highwater=lambda topic, partition: None, committed=lambda topic, partition: 0,
        live_clock=False, assigned=lambda: assigned, on_owned=rechecked.extend, now=clock,
    )
    d.handle("ticks", owned[0], 0, None, b"{}")
    assert set(d.engines) == assigned and table.scans == 1
    assert sorted(rechecked) == sorted(c for c, p in zip(ids, owned) if p in assigned)
    assert sum(engine.scheduled for engine in d.engines.values()) == len(rechecked), "every customer's deadline indexed"


def test_a_source_read_ahead_is_remembered_even_while_another_holds_the_watermark_back(clock):
    """Visits read a month ahead while orders lag: the watermark stays put, but a restart must
    still know how far visits went, or, once everything is idle, it would stop short of them and
    never release the visits it buffered."""
    d = driver(clock, {"orders": 5, "email-opens": 0, "clicks": 0, "visits": 9})
    d.handle("orders", 0, 0, b"c1", b'{"event_id":"o1","type":"order","customer_id":"c1","ts":1700000000000,"amount":10}')
    held = d.engine(0).watermark.value
    d.handle("visits", 0, 0, b"c1", b'{"event_id":"v1","type":"visit","customer_id":"c1","ts":1702592000000,"page":"/"}')
    assert d.engine(0).watermark.value == held, "orders still hold time back"
    restarted = PartitionDriver(load_rules(), d.store, TOPICS, "ticks", highwater=lambda topic, partition: None,
                                committed=lambda topic, partition: 0, live_clock=False, now=clock)
    assert restarted.engine(0).watermark.newest["visit"] == 1702592000000
