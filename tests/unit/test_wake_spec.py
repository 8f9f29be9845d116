"""When a customer is woken with no new event: only where a metric a rule reads can change.

A window sum changes when a bucket with a non-zero count of that window's field crosses the
window's edge; a bucket whose relevant count is zero crosses it without changing anything, so it
must not wake the customer (that is most of the deadline work on real logs).
"""

from __future__ import annotations

from stream.metric_code import compute_source, next_change_source
from stream.metrics import ANCHOR_EXPRESSIONS
from stream.rules.ruleset import load_rules
from stream.state import ACTIVITY_INDEX, CustomerState
from stream.timeutil import DAY_MS
from tests.unit.tagspec import default_rules, pack

VISITS_ONLY = """
[families.engagement]
cases = [{ value = "busy", when = "visits_7d >= 1" }]
default = "quiet"
"""


def buckets(**days_by_type: list[int]) -> CustomerState:
    state = CustomerState()
    for kind, days in days_by_type.items():
        for day in days:
            state.activity_days.setdefault(day, [0, 0, 0])[ACTIVITY_INDEX[kind]] += 1
    return state


def test_a_bucket_of_opens_does_not_wake_a_customer_for_a_visits_window(tmp_path):
    rules = pack(tmp_path, VISITS_ONLY)
    assert rules.plan.next_change(buckets(email_open=[100]), 100 * DAY_MS + 1) is None


def test_a_bucket_with_visits_wakes_the_customer_when_it_leaves_the_window(tmp_path):
    rules = pack(tmp_path, VISITS_ONLY)
    state = buckets(email_open=[100], visit=[101])
    assert rules.plan.next_change(state, 101 * DAY_MS + 1) == (101 + 7) * DAY_MS


def test_the_earliest_edge_wins_across_buckets_and_recency_steps():
    rules = default_rules()
    state = buckets(visit=[100], email_open=[98])
    state.first_ts = [None, 98 * DAY_MS + 5, None, 100 * DAY_MS + 7]
    state.last_ts = [None, 98 * DAY_MS + 5, None, 100 * DAY_MS + 7]
    # visits_7d drops day 100 at day 107; the opens of day 98 leave opens_30d at day 128;
    # days_since_last_event reaches 60 at day 160 (plus the 7 ms into day 100).
    assert rules.plan.next_change(state, 100 * DAY_MS + 7) == 107 * DAY_MS
    assert rules.plan.next_change(state, 107 * DAY_MS) == 128 * DAY_MS
    assert rules.plan.next_change(state, 130 * DAY_MS) == 160 * DAY_MS + 7


def test_a_rule_pack_always_generates_the_same_code():
    first, second = load_rules(), load_rules()
    for trigger, (_, plan) in first.by_trigger.items():
        assert compute_source(plan, ANCHOR_EXPRESSIONS) == compute_source(second.by_trigger[trigger][1], ANCHOR_EXPRESSIONS)
    assert next_change_source(first.plan, ANCHOR_EXPRESSIONS) == next_change_source(second.plan, ANCHOR_EXPRESSIONS)
