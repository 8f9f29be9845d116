"""Families that read other families' current values (`tag.<family>`), through `Backtest`.

Given these events and this pack -> exactly these (family, from, to, at, cause) changes. A family
reading a tag is decided after it, at the same instant and with the same cause, whatever order
the pack declares them in.
"""

from __future__ import annotations

import re

import pytest

from stream.rules.ruleset import RuleError
from tests.unit.tagspec import day, order, pack, run, visit

TIERS = """
[families.win_back]                  # declared first: the loader decides it after what it reads
cases = [{ value = true, when = "tag.value_tier == 'high' and tag.churn_risk" }]
default = false
[families.value_tier]
cases = [{ value = "high", when = "revenue_365d >= 1000" }]
default = "low"
[families.churn_risk]
cases = [{ value = true, when = "orders_total > 0 and days_since_last_order >= 60" }]
default = false
"""


def test_a_combined_family_changes_at_the_instant_and_with_the_cause_of_what_it_reads(tmp_path):
    rules = pack(tmp_path, TIERS)
    assert [f.name for f in rules.families] == ["value_tier", "churn_risk", "win_back"]
    result = run([order("c1", day(0), 400, id="o1"), order("c1", day(5), 700, id="o2")], as_of=day(100), rules=rules)
    assert result.of("value_tier") == [("value_tier", None, "low", day(0), "o1"), ("value_tier", "low", "high", day(5), "o2")]
    assert result.of("churn_risk") == [("churn_risk", None, False, day(0), "o1"), ("churn_risk", False, True, day(65), None)]
    assert result.of("win_back") == [("win_back", None, False, day(0), "o1"), ("win_back", False, True, day(65), None)]


def test_the_change_names_the_tag_values_it_read(tmp_path):
    result = run([order("c1", day(0), 1200, id="o1")], as_of=day(61), rules=pack(tmp_path, TIERS))
    (change,) = [c for c in result.changes if c.family == "win_back" and c.new is True]
    assert change.metrics == {"tag.churn_risk": True, "tag.value_tier": "high"}


def test_an_order_that_ends_the_risk_ends_the_audience_at_that_order(tmp_path):
    result = run(
        [order("c1", day(0), 1200, id="o1"), order("c1", day(70), 10, id="o2")], as_of=day(80), rules=pack(tmp_path, TIERS)
    )
    assert result.of("win_back") == [
        ("win_back", None, False, day(0), "o1"),
        ("win_back", False, True, day(60), None),
        ("win_back", True, False, day(70), "o2"),
    ]


def test_a_visit_moves_a_family_reading_a_visit_driven_tag(tmp_path):
    rules = pack(tmp_path, """
[families.engagement]
cases = [{ value = "active", when = "visits_7d >= 2" }]
default = "silent"
[families.hot_lead]
cases = [{ value = true, when = "tag.engagement == 'active' and orders_total == 0" }]
default = false
""")
    result = run([visit("c1", day(0), id="v1"), visit("c1", day(1), id="v2")], as_of=day(10), rules=rules)
    assert result.of("hot_lead") == [
        ("hot_lead", None, False, day(0), "v1"),
        ("hot_lead", False, True, day(1), "v2"),
        ("hot_lead", True, False, day(7), None),  # v1 leaves the 7-day window
    ]


CYCLE = """
[families.a]
cases = [{ value = 1, when = "tag.b" }]
default = 0
[families.b]
cases = [{ value = 1, when = "tag.a == 1" }]
default = 0
"""
SELF = """
[families.a]
cases = [{ value = 1, when = "orders_total > 0", stay = "tag.a == 1" }]
default = 0
"""
SWITCHED_OFF = """
[packs]
extra = false
[families.b]
pack = "extra"
cases = [{ value = 1, when = "true" }]
default = 0
[families.a]
cases = [{ value = 1, when = "tag.b == 1" }]
default = 0
"""
ARITHMETIC = """
[families.b]
cases = [{ value = 1, when = "true" }]
default = 0
[families.a]
cases = [{ value = 1, when = "tag.b + 1 > 1" }]
default = 0
"""


@pytest.mark.parametrize(
    ("families", "problem"),
    [
        (CYCLE, "families.a: tag reads form a cycle: a -> b -> a"),
        (SELF, "families.a: tag reads form a cycle: a -> a"),
        (SWITCHED_OFF, "families.a.cases[0].when: in 'tag.b == 1': tag.b: no family 'b' in this rule pack (or its pack is switched off)"),
        (ARITHMETIC, "families.a.cases[0].when: in 'tag.b + 1 > 1': tag.b is a tag value: compare it with == or != or use it as true/false"),
    ],
)
def test_tag_reads_are_checked_when_the_pack_loads(tmp_path, families, problem):
    with pytest.raises(RuleError, match=re.escape(problem)):
        pack(tmp_path, families)
