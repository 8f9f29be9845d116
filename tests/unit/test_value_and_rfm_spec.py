"""Value tier, VIP, frequency, churn risk, trend, RFM and the ecommerce pack, through `Backtest`:
the default pack's thresholds (its `stay` and `min_dwell` brakes are specified in
test_stable_tags_spec.py)."""

from __future__ import annotations

from tests.unit.tagspec import click, day, email_open, order, visit
from tests.unit.tagspec import run_thresholds as run


def test_value_tier_rises_with_365_day_revenue_and_falls_at_utc_midnight_when_orders_leave_the_window():
    result = run(
        [
            order("c1", day(0, 18), 150.00, id="o1"),
            order("c1", day(10, 18), 100.00, id="o2"),
            order("c1", day(20, 18), 750.00, id="o3"),  # exactly 1000 in 365 days
        ],
        as_of=day(400),
    )
    V = "value_tier"
    assert result.of(V) == [
        (V, None, "low", day(0, 18), "o1"),
        (V, "low", "medium", day(10, 18), "o2"),
        (V, "medium", "high", day(20, 18), "o3"),
        # o1's day leaves the 365-day window at midnight starting day 365, whatever its time of day
        (V, "high", "medium", day(365), None),
        (V, "medium", "low", day(385), None),
    ]
    high = next(c for c in result.changes if c.family == V and c.new == "high")
    assert high.metrics == {"revenue_365d": 1000.0}
    assert high.rule == "revenue_365d >= 1000"


def test_revenue_is_summed_exactly_in_cents():
    # 0.1 + 0.2 in floats is 0.30000000000000004; ten orders of 19.99 must make exactly 199.9
    result = run([order("c1", day(0, 10, m), 19.99, id=f"o{m}") for m in range(10)] + [order("c1", day(0, 11), 0.1, id="x")])
    assert result.snapshot("end")["c1"]["revenue_total"] == 200.0
    assert result.snapshot("end")["c1"]["windows"]["revenue_365d"] == 200.0
    assert result.of("value_tier")[-1] == ("value_tier", "low", "medium", day(0, 11), "x")


def test_vip_from_revenue_or_from_24_orders_a_year():
    by_revenue = run([order("c1", day(0, 10), 2499.99, id="o1"), order("c1", day(1, 10), 0.01, id="o2")], as_of=day(2))
    assert by_revenue.of("vip") == [("vip", None, False, day(0, 10), "o1"), ("vip", False, True, day(1, 10), "o2")]
    by_count = run([order("c2", day(n, 10), 1.0, id=f"o{n}") for n in range(24)], as_of=day(30))
    assert by_count.of("vip") == [("vip", None, False, day(0, 10), "o0"), ("vip", False, True, day(23, 10), "o23")]


def test_frequency_band_counts_orders_per_month_over_90_days():
    result = run([order("c1", day(n, 10), id=f"o{n}") for n in range(10)], as_of=day(200))
    F = "frequency_band"
    assert result.of(F) == [
        (F, None, "low", day(0, 10), "o0"),
        (F, "low", "medium", day(2, 10), "o2"),  # 3 orders: 1 a month
        (F, "medium", "high", day(9, 10), "o9"),  # 10 orders: more than 3 a month
        (F, "high", "medium", day(90), None),  # day 0 leaves the 90-day window
        (F, "medium", "low", day(97), None),  # 2 orders left
    ]


def test_churn_risk_by_silence_60_days_after_the_last_event_of_any_kind():
    result = run(
        [order("c1", day(0, 10), id="o1"), visit("c1", day(30, 8), id="v1"), email_open("c1", day(100, 7), id="e1")],
        as_of=day(200),
    )
    C = "churn_risk"
    assert result.of(C) == [
        (C, None, False, day(0, 10), "o1"),
        (C, False, True, day(90, 8), None),
        (C, True, False, day(100, 7), "e1"),
        (C, False, True, day(160, 7), None),
    ]


def test_silence_is_no_churn_risk_for_a_customer_who_never_ordered():
    result = run([visit("c1", day(0), id="v1")], as_of=day(300))
    assert result.of("churn_risk") == [("churn_risk", None, False, day(0), "v1")]


def test_churn_risk_when_orders_halve_against_the_previous_90_days():
    # regular visits keep the customer from being silent; only the order rhythm drops
    events = [order("c1", day(n, 10), id=f"o{n}") for n in range(4)]
    events += [visit("c1", day(n, 12), id=f"v{n}") for n in (50, 100, 150)]
    result = run(events, as_of=day(200))
    C = "churn_risk"
    assert result.of(C) == [
        (C, None, False, day(0, 10), "o0"),
        (C, False, True, day(92), None),  # 1 order in days 3..92 against 3 in days -87..2
        (C, True, False, day(182), None),  # only 1 order left in the previous 90 days
    ]
    flip = next(c for c in result.changes if c.family == C and c.new is True)
    assert flip.rule == "orders_prev_90d >= 2 and orders_90d < 0.5 * orders_prev_90d"
    assert flip.metrics == {"days_since_last_event": 41, "orders_90d": 1, "orders_prev_90d": 3, "orders_total": 4}


def test_rfm_segment_of_a_single_small_order_ages_with_recency():
    result = run([order("c1", day(0, 10), 50.0, id="o1")], as_of=day(400))
    S = "rfm_segment"
    assert result.of(S) == [
        (S, None, "new_customer", day(0, 10), "o1"),  # R=5 F=1 M=1
        (S, "new_customer", "promising", day(14, 10), None),  # R=4
        (S, "promising", "about_to_sleep", day(30, 10), None),  # R=3
        (S, "about_to_sleep", "hibernating", day(90, 10), None),  # R=2
        (S, "hibernating", "lost", day(180, 10), None),  # R=1
    ]
    assert result.snapshot(day(400))["c1"]["rfm"] == {"r": 1, "f": 1, "m": 1}


def test_rfm_champion_and_scores_in_the_snapshot():
    result = run([order("c1", day(n * 7, 10), 130.0, id=f"o{n}") for n in range(16)])
    snapshot = result.snapshot("end")["c1"]
    assert snapshot["rfm"] == {"r": 5, "f": 5, "m": 5}  # 16 orders, 2080 in a year, last today
    assert snapshot["tags"]["rfm_segment"] == "champions"
    assert result.tags("c1")["rfm_segment"] == "champions"


def test_prospects_have_no_rfm_segment():
    result = run([click("c1", day(0), id="k1")])
    assert result.of("rfm_segment") == [("rfm_segment", None, "none", day(0), "k1")]
    assert result.snapshot("end")["c1"]["rfm"] == {"r": None, "f": None, "m": None}


def test_engagement_from_activity_windows():
    result = run(
        [
            email_open("c1", day(0, 9), id="e1"),
            visit("c1", day(40, 9), id="v1"),
            visit("c1", day(42, 9), id="v2"),
        ],
        as_of=day(100),
    )
    E = "engagement"
    assert result.of(E) == [
        (E, None, "interested", day(0, 9), "e1"),
        (E, "interested", "silent", day(30), None),
        (E, "silent", "interested", day(40, 9), "v1"),
        (E, "interested", "active", day(42, 9), "v2"),  # 2 visits in 7 days
        (E, "active", "interested", day(47), None),  # day 40 leaves the 7-day window
        (E, "interested", "silent", day(72), None),  # day 42 leaves the 30-day window
    ]


def test_preferred_channel_top_category_and_order_hour_break_ties_alphabetically():
    result = run(
        [
            order("c1", day(0, 23), channel="web", categories=("shoes",), id="o1"),
            order("c1", day(1, 9), channel="app", categories=("bags", "shoes"), id="o2"),
            order("c1", day(2, 10), channel="app", categories=("bags", "bags"), id="o3"),
        ]
    )
    assert result.of("preferred_channel") == [
        ("preferred_channel", None, "web", day(0, 23), "o1"),
        ("preferred_channel", "web", "app", day(1, 9), "o2"),  # 1 each: "app" sorts first
    ]
    assert result.of("top_category") == [
        ("top_category", None, "shoes", day(0, 23), "o1"),
        ("top_category", "shoes", "bags", day(2, 10), "o3"),  # a category counts once per order
    ]
    assert result.of("order_hour") == [
        ("order_hour", None, "night_owl", day(0, 23), "o1"),
        ("order_hour", "night_owl", "morning", day(1, 9), "o2"),
    ]


def test_coupon_user_needs_two_coupon_orders_and_at_least_half_of_all_orders():
    result = run(
        [
            order("c1", day(0, 10), coupon="SAVE10", id="o1"),
            order("c1", day(1, 10), id="o2"),
            order("c1", day(2, 10), coupon="SAVE10", id="o3"),
            order("c1", day(3, 10), id="o4"),
            order("c1", day(4, 10), id="o5"),
        ]
    )
    assert result.of("coupon_user") == [
        ("coupon_user", None, False, day(0, 10), "o1"),
        ("coupon_user", False, True, day(2, 10), "o3"),
        ("coupon_user", True, False, day(4, 10), "o5"),
    ]


def test_trend_compares_the_last_90_days_with_the_90_before():
    result = run([order("c1", day(n, 10), id=f"o{n}") for n in (0, 1, 95, 96, 97)], as_of=day(100))
    T = "trend"
    assert result.of(T) == [
        (T, None, "stable", day(0, 10), "o0"),
        (T, "stable", "growing", day(1, 10), "o1"),  # 2 orders against none
        (T, "growing", "stable", day(90), None),  # day 0 moves to the previous window: 1 against 1
        (T, "stable", "declining", day(91), None),  # 0 against 2
        (T, "declining", "stable", day(96, 10), "o96"),  # 1 against 2 was still declining; 2 against 2 is not
        (T, "stable", "growing", day(97, 10), "o97"),  # 3 against 2 is more than 1.25 times
    ]
