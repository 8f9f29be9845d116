"""The car-sales pack (config/rules/auto.toml): what a household looked at, through `Backtest`.

Visits carry the page, the source (web or showroom) and, on model and test-drive pages, the model
and its price band; service orders carry the kind of work. Given a purchase journey -> these tags.
"""

from __future__ import annotations

import pytest

from stream.rules.ruleset import DEFAULT_RULES, RuleSet, load_rules
from tests.unit.tagspec import day, order, run, visit


@pytest.fixture(scope="module")
def dealership() -> RuleSet:
    return load_rules(DEFAULT_RULES.parent / "auto.toml")


def page(customer: str, ts: int, path: str, *, id: str, source: str = "web", **extra) -> dict:
    return {**visit(customer, ts, id=id), "page": path, "source": source, **extra}


JOURNEY = [
    page("c1", day(0, 19), "/models/kappa", id="v1", model="kappa", price_band="mid"),
    page("c1", day(0, 19, 5), "/models/orion", id="v2", model="orion", price_band="premium"),
    page("c1", day(3, 20), "/models/kappa", id="v3", model="kappa", price_band="mid"),
    page("c1", day(8, 12), "/test-drive/kappa", id="v4", model="kappa", price_band="mid"),  # booked online
    page("c1", day(10, 11), "/test-drive/kappa", id="v5", source="showroom", model="kappa", price_band="mid"),
    {**order("c1", day(12, 11), 33_990.0, id="o1", channel="store", categories=("vehicle",)), "budget_band": "mid"},
    {**order("c1", day(200, 9), 180.0, id="o2", channel="store", categories=("service",)), "service": "maintenance"},
]


def test_a_purchase_journey_books_then_takes_a_test_drive(dealership):
    result = run(JOURNEY, as_of=day(240), rules=dealership)
    assert result.of("test_drive") == [
        ("test_drive", None, "none", day(0, 19), "v1"),
        ("test_drive", "none", "booked", day(8, 12), "v4"),
        ("test_drive", "booked", "yes", day(10, 11), "v5"),
        ("test_drive", "yes", "none", day(100), None),  # 90 days after the drive
    ]


def test_model_interest_and_budget_come_from_the_models_viewed(dealership):
    result = run(JOURNEY, as_of=day(240), rules=dealership)
    assert result.of("model_interest") == [
        ("model_interest", None, "kappa", day(0, 19), "v1"),
        ("model_interest", "kappa", "none", day(40), None),  # no model page in 30 days
    ]
    assert result.of("budget_band") == [
        ("budget_band", None, "mid", day(0, 19), "v1"),
        ("budget_band", "mid", "unknown", day(100), None),
    ]
    assert result.of("after_sales") == [
        ("after_sales", None, "none", day(0, 19), "v1"),
        ("after_sales", "none", "maintenance", day(200, 9), "o2"),
    ]


def test_a_hot_lead_is_in_the_market_with_a_test_drive_and_in_market_is_held_two_weeks(dealership):
    result = run(JOURNEY, as_of=day(240), rules=dealership)
    assert result.of("in_market") == [
        ("in_market", None, False, day(0, 19), "v1"),
        ("in_market", False, True, day(3, 20), "v3"),  # 3 visits in 30 days, never ordered
        ("in_market", True, False, day(17, 20), None),  # the car was bought on day 12; held 14 days
    ]
    assert result.of("hot_lead") == [
        ("hot_lead", None, False, day(0, 19), "v1"),
        ("hot_lead", False, True, day(8, 12), "v4"),
        ("hot_lead", True, False, day(17, 20), None),
    ]
