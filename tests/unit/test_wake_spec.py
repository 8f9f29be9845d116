"""When a customer is woken with no new event: only where a metric a rule reads can change.

A window sum changes when a bucket with a non-zero count of that window's field crosses the
window's edge; a bucket whose relevant count is zero crosses it without changing anything, so it
must not wake the customer (that is most of the deadline work on real logs). The wake time is read
from the state the worker stores, as a restarted worker reads it to rebuild its deadline index.
"""

from __future__ import annotations

import orjson

from stream.native import Engine, stored_wake
from stream.rules.plan_export import plan_json
from stream.rules.ruleset import RuleSet, load_rules
from tests.unit.tagspec import day, default_thresholds, email_open, pack, visit

VISITS_ONLY = """
[families.engagement]
cases = [{ value = "busy", when = "visits_7d >= 1" }]
default = "quiet"
"""


class Customer:
    """One customer's events applied on arrival; `wake()` is when its stored state says it next
    needs attention, `at(t)` moves its time on with no event."""

    def __init__(self, rules: RuleSet, docs: list[dict]) -> None:
        self.engine = Engine(plan_json(rules), 1, immediate=True)
        self.engine.ingest_lines([orjson.dumps(doc) for doc in docs])

    def at(self, instant: int) -> Customer:
        self.engine.finish(instant)
        return self

    def wake(self) -> int | None:
        states, _ = self.engine.take_writes()
        (_, customer_id, raw), = states
        return stored_wake(customer_id, raw)


def test_a_bucket_of_opens_does_not_wake_a_customer_for_a_visits_window(tmp_path):
    customer = Customer(pack(tmp_path, VISITS_ONLY), [email_open("c1", day(100) + 1)])
    assert customer.wake() is None


def test_a_bucket_with_visits_wakes_the_customer_when_it_leaves_the_window(tmp_path):
    rules = pack(tmp_path, VISITS_ONLY)
    customer = Customer(rules, [email_open("c1", day(100)), visit("c1", day(101) + 1)])
    assert customer.wake() == day(101 + 7)


def test_the_earliest_edge_wins_across_buckets_and_recency_steps():
    customer = Customer(default_thresholds(), [email_open("c1", day(98) + 5), visit("c1", day(100) + 7)])
    # visits_7d drops day 100 at day 107; the opens of day 98 leave opens_30d at day 128;
    # days_since_last_event reaches 60 at day 160 (plus the 7 ms into day 100).
    assert customer.wake() == day(107)
    assert customer.at(day(107)).wake() == day(128)
    assert customer.at(day(130)).wake() == day(160) + 7


def test_a_rule_pack_always_gives_the_same_plan():
    assert plan_json(load_rules()) == plan_json(load_rules())
