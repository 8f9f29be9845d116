"""Lifecycle, as the default rule pack defines it, through `Backtest`.

Each test: given these events (and an as-of instant) -> exactly these (family, from, to, at, cause)
changes. Deadline-caused changes have cause None and are stamped at the instant the rule flips.
"""

from __future__ import annotations

import pytest

from tests.unit.tagspec import day, email_open, order, run, visit

L = "lifecycle"


def test_prospect_becomes_new_on_first_order_and_active_30_days_after_it():
    result = run(
        [email_open("c1", day(0, 9), id="e1"), order("c1", day(2, 10), id="o1")],
        as_of=day(40),
    )
    assert result.of(L) == [
        (L, None, "prospect", day(0, 9), "e1"),
        (L, "prospect", "new", day(2, 10), "o1"),
        (L, "new", "active", day(32, 10), None),  # first order + 30 days, to the millisecond
    ]


def test_a_customer_without_orders_stays_a_prospect():
    result = run([visit("c1", day(0), id="v1"), email_open("c1", day(200), id="e1")], as_of=day(500))
    assert result.of(L) == [(L, None, "prospect", day(0), "v1")]


def test_new_lasts_30_days_from_the_first_order_not_the_last():
    result = run([order("c1", day(0, 10), id="o1"), order("c1", day(20, 10), id="o2")], as_of=day(60))
    assert result.of(L) == [
        (L, None, "new", day(0, 10), "o1"),
        (L, "new", "active", day(30, 10), None),
    ]


def test_active_goes_dormant_90_days_after_the_last_order_and_churned_after_180():
    result = run(
        [
            order("c1", day(0, 10), id="o1"),
            order("c1", day(40, 15, 30), id="o2"),
            email_open("c1", day(100), id="e1"),  # activity other than orders does not keep a customer active
        ],
        as_of=day(400),
    )
    assert result.of(L) == [
        (L, None, "new", day(0, 10), "o1"),
        (L, "new", "active", day(30, 10), None),
        (L, "active", "dormant", day(130, 15, 30), None),
        (L, "dormant", "churned", day(220, 15, 30), None),
    ]
    assert result.tags("c1")[L] == "churned"


def test_dormant_customer_ordering_again_is_reactivated_then_active_30_days_later():
    result = run([order("c1", day(0, 10), id="o1"), order("c1", day(100, 12), id="o2")], as_of=day(200))
    assert result.of(L) == [
        (L, None, "new", day(0, 10), "o1"),
        (L, "new", "active", day(30, 10), None),
        (L, "active", "dormant", day(90, 10), None),
        (L, "dormant", "reactivated", day(100, 12), "o2"),
        (L, "reactivated", "active", day(130, 12), None),
        (L, "active", "dormant", day(190, 12), None),
    ]


def test_churned_customer_ordering_again_is_reactivated():
    result = run([order("c1", day(0, 10), id="o1"), order("c1", day(200, 8), id="o2")], as_of=day(231))
    assert result.of(L)[-4:] == [
        (L, "active", "dormant", day(90, 10), None),
        (L, "dormant", "churned", day(180, 10), None),
        (L, "churned", "reactivated", day(200, 8), "o2"),
        (L, "reactivated", "active", day(230, 8), None),
    ]


@pytest.mark.parametrize(
    "second_order, expected_tail",
    [
        # 89 days 23:59:59.999 after the last order: still active, and no reactivation
        (day(90, 10) - 1, [(L, "new", "active", day(30, 10), None)]),
        # exactly 90 days: the dormancy deadline fires first, then the order reactivates at the same instant
        (
            day(90, 10),
            [
                (L, "new", "active", day(30, 10), None),
                (L, "active", "dormant", day(90, 10), None),
                (L, "dormant", "reactivated", day(90, 10), "o2"),
            ],
        ),
    ],
    ids=["gap-just-under-90-days", "gap-exactly-90-days"],
)
def test_reactivation_needs_a_gap_of_90_whole_days(second_order, expected_tail):
    result = run([order("c1", day(0, 10), id="o1"), order("c1", second_order, id="o2")], as_of=day(95))
    assert result.of(L) == [(L, None, "new", day(0, 10), "o1"), *expected_tail]


def test_each_customer_has_its_own_timeline():
    result = run(
        [
            order("alice", day(0, 10), id="a1"),
            order("bob", day(5, 10), id="b1"),
            order("bob", day(120, 10), id="b2"),
        ],
        as_of=day(121),
    )
    assert result.of(L, "alice") == [
        (L, None, "new", day(0, 10), "a1"),
        (L, "new", "active", day(30, 10), None),
        (L, "active", "dormant", day(90, 10), None),
    ]
    assert result.of(L, "bob") == [
        (L, None, "new", day(5, 10), "b1"),
        (L, "new", "active", day(35, 10), None),
        (L, "active", "dormant", day(95, 10), None),
        (L, "dormant", "reactivated", day(120, 10), "b2"),
    ]
