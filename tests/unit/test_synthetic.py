"""Specification of the synthetic event-log generator (stream.synthetic)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from stream.synthetic import PROFILES, customer_archetypes, generate_events

SEED = 11
CUSTOMERS = 500
DAYS = 365
TS_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MODELS = {"lumo", "vento", "strada", "kappa", "orion", "zenith"}
CATEGORIES = {"shoes", "dresses", "electronics", "home", "beauty", "sports", "toys", "books"}


def parse_ts(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def is_night(ts: str) -> bool:
    hour = int(ts[11:13])
    return hour >= 22 or hour < 4


@pytest.fixture(scope="module")
def log() -> list[dict]:
    return generate_events(CUSTOMERS, DAYS, SEED)


@pytest.fixture(scope="module")
def archetypes() -> dict[str, str]:
    return customer_archetypes(CUSTOMERS, SEED)


@pytest.fixture(scope="module")
def orders(log: list[dict]) -> list[dict]:
    return [e for e in log if e["type"] == "order"]


@pytest.fixture(scope="module")
def auto_log() -> list[dict]:
    return generate_events(CUSTOMERS, DAYS, SEED, profile="auto")


def orders_by_archetype(orders: list[dict], archetypes: dict[str, str], archetype: str) -> list[dict]:
    return [o for o in orders if archetypes[o["customer_id"]] == archetype]


# -- determinism --------------------------------------------------------------


def test_same_arguments_give_an_identical_log() -> None:
    assert generate_events(200, 60, seed=3) == generate_events(200, 60, seed=3)


def test_different_seeds_give_different_logs() -> None:
    assert generate_events(200, 60, seed=3) != generate_events(200, 60, seed=4)


def test_archetype_labels_are_deterministic_and_cover_every_archetype(archetypes: dict[str, str]) -> None:
    assert archetypes == customer_archetypes(CUSTOMERS, SEED)
    assert set(archetypes.values()) == {
        "loyal_high_spender", "occasional", "one_time", "churning", "reactivated",
        "email_prospect", "bargain_hunter", "night_owl",
    }


# -- log shape -----------------------------------------------------------------


def test_log_is_sorted_by_ts_then_event_id(log: list[dict]) -> None:
    keys = [(e["ts"], e["event_id"]) for e in log]
    assert keys == sorted(keys)


def test_event_ids_are_unique(log: list[dict]) -> None:
    assert len({e["event_id"] for e in log}) == len(log)


def test_timestamps_are_rfc3339_utc_millis_inside_the_window(log: list[dict]) -> None:
    assert all(TS_FORMAT.match(e["ts"]) for e in log)
    assert log[0]["ts"] >= "2025-01-01T00:00:00.000Z"
    assert log[-1]["ts"] < "2026-01-01T00:00:00.000Z"


def test_customer_ids_are_zero_padded(log: list[dict]) -> None:
    assert all(re.fullmatch(r"c\d{6}", e["customer_id"]) for e in log)


def test_all_four_event_types_are_well_represented(log: list[dict]) -> None:
    mix = Counter(e["type"] for e in log)
    assert set(mix) == {"order", "email_open", "click", "visit"}
    assert all(count / len(log) > 0.05 for count in mix.values())
    assert 0.15 <= mix["order"] / len(log) <= 0.25


def test_volume_is_about_25_events_per_customer_year(log: list[dict]) -> None:
    assert 20 <= len(log) / CUSTOMERS <= 32


def test_custom_start_bounds_the_window() -> None:
    start = datetime(2025, 3, 1, 13, 30, tzinfo=timezone.utc)
    events = generate_events(100, 3, SEED, start=start)
    assert events
    assert all(start <= parse_ts(e["ts"]) < start + timedelta(days=3) for e in events)


# -- orders --------------------------------------------------------------------


def test_order_amounts_are_non_negative_and_equal_item_totals(orders: list[dict]) -> None:
    for order in orders:
        assert order["amount"] >= 0
        assert order["amount"] == round(sum(i["qty"] * i["price"] for i in order["items"]), 2)


def test_orders_have_one_to_four_items_from_known_categories(orders: list[dict]) -> None:
    for order in orders:
        assert 1 <= len(order["items"]) <= 4
        assert {i["category"] for i in order["items"]} <= CATEGORIES
        assert order["channel"] in {"web", "app", "store"}
        assert order["currency"] == "EUR"


def test_november_and_december_outsell_the_rest_of_the_year(orders: list[dict]) -> None:
    months = Counter(int(o["ts"][5:7]) for o in orders)
    peak_per_day = (months[11] + months[12]) / 61
    rest_per_day = sum(months[m] for m in range(1, 11)) / 304
    assert peak_per_day > 1.2 * rest_per_day


def test_weekends_have_more_orders_than_weekdays(orders: list[dict]) -> None:
    weekdays = Counter(parse_ts(o["ts"]).weekday() for o in orders)
    assert (weekdays[5] + weekdays[6]) / 2 > sum(weekdays[d] for d in range(5)) / 5


# -- archetypes ------------------------------------------------------------------


def test_email_only_prospects_never_order_or_visit(log: list[dict], archetypes: dict[str, str]) -> None:
    prospect_types = {e["type"] for e in log if archetypes[e["customer_id"]] == "email_prospect"}
    assert prospect_types == {"email_open", "click"}


def test_night_owls_order_mostly_between_22_and_04(orders: list[dict], archetypes: dict[str, str]) -> None:
    owls = orders_by_archetype(orders, archetypes, "night_owl")
    others = [o for o in orders if archetypes[o["customer_id"]] != "night_owl"]
    assert sum(map(is_night, (o["ts"] for o in owls))) / len(owls) > 0.7
    assert sum(map(is_night, (o["ts"] for o in others))) / len(others) < 0.2


def test_bargain_hunters_use_coupons_on_cheap_baskets(orders: list[dict], archetypes: dict[str, str]) -> None:
    bargains = orders_by_archetype(orders, archetypes, "bargain_hunter")
    loyal = orders_by_archetype(orders, archetypes, "loyal_high_spender")
    assert sum("coupon" in o for o in bargains) / len(bargains) > 0.7
    assert sum(o["amount"] for o in bargains) / len(bargains) < sum(o["amount"] for o in loyal) / len(loyal)


def test_loyal_customers_order_most_often(orders: list[dict], archetypes: dict[str, str]) -> None:
    per_customer = Counter(archetypes[o["customer_id"]] for o in orders)
    population = Counter(archetypes.values())
    rate = {a: per_customer[a] / population[a] for a in population}
    assert max(rate, key=rate.__getitem__) == "loyal_high_spender"


def test_one_time_buyers_order_exactly_once(orders: list[dict], archetypes: dict[str, str]) -> None:
    counts = Counter(o["customer_id"] for o in orders_by_archetype(orders, archetypes, "one_time"))
    assert set(counts.values()) == {1}


def test_reactivated_customers_mostly_show_a_silence_of_100_days_then_return(
    orders: list[dict], archetypes: dict[str, str],
) -> None:
    days_by_customer: dict[str, list[datetime]] = defaultdict(list)
    for order in orders_by_archetype(orders, archetypes, "reactivated"):
        days_by_customer[order["customer_id"]].append(parse_ts(order["ts"]))
    came_back = [
        any(b - a >= timedelta(days=100) for a, b in zip(ts, ts[1:]))
        for ts in days_by_customer.values()
    ]
    assert sum(came_back) / len(came_back) > 0.7


def test_churning_customers_order_less_in_the_second_half(
    orders: list[dict], archetypes: dict[str, str],
) -> None:
    churners = orders_by_archetype(orders, archetypes, "churning")
    first_half = sum(o["ts"] < "2025-07-02" for o in churners)
    assert first_half > 2 * (len(churners) - first_half)


def test_new_customers_keep_arriving_all_year(log: list[dict]) -> None:
    first_seen: dict[str, str] = {}
    for event in log:
        first_seen.setdefault(event["customer_id"], event["ts"])
    months = Counter(int(ts[5:7]) for ts in first_seen.values())
    assert all(months[m] >= 10 for m in range(2, 13))


# -- email funnel ------------------------------------------------------------------


def test_opens_cluster_after_the_weekly_thursday_send(log: list[dict]) -> None:
    opens = [e for e in log if e["type"] == "email_open"]
    assert all(re.fullmatch(r"w\d{4}-\d{2}", e["campaign_id"]) for e in opens)
    assert {parse_ts(e["ts"]).weekday() for e in opens} <= {3, 4, 5}  # Thu send, <=48h delay


def test_every_click_follows_an_open_of_the_same_campaign(log: list[dict]) -> None:
    opened: dict[tuple[str, str], str] = {}
    for event in log:
        key = (event["customer_id"], event.get("campaign_id", ""))
        if event["type"] == "email_open":
            opened[key] = event["ts"]
        elif event["type"] == "click":
            assert key in opened and opened[key] <= event["ts"]
            assert event["url"].startswith("https://shop.example/")


# -- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0, "days": 10, "seed": 1}, "customers must be >= 1"),
        ({"customers": 10, "days": 0, "seed": 1}, "days must be >= 1"),
        ({"customers": 10, "days": 10, "seed": 1, "profile": "retail"}, "unknown profile 'retail'"),
        ({"customers": 10, "days": 10, "seed": 1, "start": datetime(2025, 1, 1)}, "timezone-aware"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_events(**kwargs)


def test_profiles_are_ecommerce_and_auto() -> None:
    assert PROFILES == ("ecommerce", "auto")


# -- auto profile --------------------------------------------------------------------


def test_auto_profile_sells_vehicles_and_services(auto_log: list[dict]) -> None:
    orders = [e for e in auto_log if e["type"] == "order"]
    vehicles = [o for o in orders if o["items"][0]["category"] == "vehicle"]
    services = [o for o in orders if o["items"][0]["category"] == "service"]
    assert vehicles and services
    assert len(vehicles) + len(services) == len(orders)
    for order in vehicles:
        assert len(order["items"]) == 1
        assert 15_000 <= order["amount"] <= 80_000
        assert order["budget_band"] in {"entry", "mid", "premium"}
        assert order["items"][0]["sku"] in MODELS
    for order in services:
        assert 80 <= order["amount"] <= 1500
        assert all(i["category"] == "service" for i in order["items"])


def test_auto_visits_browse_models_and_book_test_drives(auto_log: list[dict]) -> None:
    visits = [e for e in auto_log if e["type"] == "visit"]
    assert any(v["page"].startswith("/models/") for v in visits)
    assert any(v["page"].startswith("/test-drive/") and v["source"] == "showroom" for v in visits)
    assert {v["source"] for v in visits} <= {"web", "showroom"}


def test_auto_log_has_unique_ids_and_is_sorted(auto_log: list[dict]) -> None:
    keys = [(e["ts"], e["event_id"]) for e in auto_log]
    assert keys == sorted(keys)
    assert len({e["event_id"] for e in auto_log}) == len(auto_log)
