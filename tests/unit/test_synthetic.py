"""Specification of the synthetic event-log generator (stream.synthetic)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from stream.synthetic import PROFILES, customer_archetypes, generate_events

SEED = 11
CUSTOMERS = 500
DAYS = 365
TS_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MODELS = {"lumo", "vento", "strada", "kappa", "orion", "zenith"}
CATEGORIES = {"shoes", "dresses", "electronics", "home", "beauty", "sports", "toys", "books"}
# The event types the generator wrote before profiles and custom events existed.
EARLIER_TYPES = {"order", "email_open", "click", "visit"}
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "json"


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


def by_customer(events: list[dict]) -> dict[str, list[dict]]:
    """Each customer's events in log order."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        grouped[event["customer_id"]].append(event)
    return grouped


def first_profiles(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "profile" and e["event_id"] == f"p-{e['customer_id']}-1"]


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


def test_all_four_activity_event_types_are_well_represented(log: list[dict]) -> None:
    activity = [e for e in log if e["type"] in EARLIER_TYPES]
    mix = Counter(e["type"] for e in activity)
    assert set(mix) == EARLIER_TYPES
    assert all(count / len(activity) > 0.05 for count in mix.values())
    assert 0.15 <= mix["order"] / len(activity) <= 0.25


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
    assert prospect_types == {"email_open", "click", "profile"}


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


# -- profiles and custom events -------------------------------------------------------
# Added after the activity types, and derived from ids rather than drawn: the earlier events
# must not change by a byte, whatever the new ones look like.

# sha256 of the earlier types' events (compact JSON, one per line, key order kept) for
# generate_events(CUSTOMERS, DAYS, SEED, profile), taken before profiles and custom events existed.
EARLIER_DIGESTS = {
    "ecommerce": "f6cca1c1c866da9de8bd2954527acbae982426ff03a0aad1137ba0ad93345d2d",
    "auto": "58c6d8773d75fa8eddb127346a05b4964d0e32ceda17afdbb06278a0a7d0ce1f",
}


@pytest.fixture(scope="module", params=PROFILES)
def any_log(request: pytest.FixtureRequest) -> list[dict]:
    return request.getfixturevalue("log" if request.param == "ecommerce" else "auto_log")


@pytest.mark.parametrize("profile", PROFILES)
def test_the_events_of_the_earlier_types_are_unchanged(profile: str, request: pytest.FixtureRequest) -> None:
    events = request.getfixturevalue("log" if profile == "ecommerce" else "auto_log")
    digest = hashlib.sha256()
    for event in events:
        if event["type"] in EARLIER_TYPES:
            digest.update(json.dumps(event, separators=(",", ":")).encode() + b"\n")
    assert digest.hexdigest() == EARLIER_DIGESTS[profile]


def test_every_customer_with_events_has_a_profile_event_first(any_log: list[dict]) -> None:
    for customer, events in by_customer(any_log).items():
        opening = events[0]
        first_activity = next(e for e in events if e["type"] != "profile")
        assert opening["type"] == "profile" and opening["event_id"] == f"p-{customer}-1"
        assert parse_ts(opening["ts"]) == max(parse_ts(first_activity["ts"]) - timedelta(minutes=1),
                                              datetime(2025, 1, 1, tzinfo=timezone.utc))
        profile_ids = [e["event_id"] for e in events if e["type"] == "profile"]
        assert profile_ids == [f"p-{customer}-{n}" for n in range(1, len(profile_ids) + 1)]


def test_customers_without_events_get_no_profile() -> None:
    # One day is too short for most customers to do anything at all.
    events = generate_events(300, 1, SEED)
    active = {e["customer_id"] for e in events if e["type"] != "profile"}
    assert len(active) < 300
    assert {e["customer_id"] for e in events if e["type"] == "profile"} == active


def test_profile_traits_are_typed_and_from_closed_lists(log: list[dict], auto_log: list[dict]) -> None:
    start = date(2025, 1, 1)
    for events, extra in ((log, {"gender", "customer_type", "company_size"}), (auto_log, set())):
        profiles = first_profiles(events)
        for profile in profiles:
            traits = profile["traits"]
            assert set(traits) - {"region", "birth_date", "email_consent"} <= extra
            assert traits["region"] in {"home", "out_of_town"}
            assert isinstance(traits["email_consent"], bool)
            born = date.fromisoformat(traits["birth_date"])
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", traits["birth_date"])
            age = start.year - born.year - ((start.month, start.day) < (born.month, born.day))
            assert 18 <= age <= 80
        consent = sum(p["traits"]["email_consent"] for p in profiles) / len(profiles)
        assert 0.78 <= consent <= 0.92
    genders = Counter(p["traits"]["gender"] for p in first_profiles(log))
    assert set(genders) == {"female", "male", "undisclosed"}


def test_business_customers_and_only_they_have_a_company_size(log: list[dict]) -> None:
    profiles = first_profiles(log)
    business = [p for p in profiles if p["traits"]["customer_type"] == "business"]
    assert {p["traits"]["customer_type"] for p in profiles} == {"consumer", "business"}
    assert 0.06 <= len(business) / len(profiles) <= 0.14
    assert {p["traits"]["company_size"] for p in business} == {"small", "medium", "large"}
    sized = {e["customer_id"] for e in log if e["type"] == "profile" and "company_size" in e["traits"]}
    assert sized == {p["customer_id"] for p in business}


def test_some_customers_withdraw_consent_in_the_middle_of_their_history(any_log: list[dict]) -> None:
    grouped = by_customer(any_log)
    withdrawals = [e for e in any_log if e["type"] == "profile" and e["traits"] == {"email_consent": False}]
    assert 0.02 <= len(withdrawals) / len(grouped) <= 0.09
    for withdrawal in withdrawals:
        events = grouped[withdrawal["customer_id"]]
        assert events[0]["traits"]["email_consent"] is True
        activity = [e["ts"] for e in events if e["type"] != "profile"]
        assert activity[0] < withdrawal["ts"] < activity[-1]


def test_support_tickets_follow_orders_by_a_day_or_two(log: list[dict], orders: list[dict]) -> None:
    tickets = [e for e in log if e["type"] == "custom"]
    assert {t["name"] for t in tickets} == {"support_ticket"}
    assert {t["properties"]["topic"] for t in tickets} == {"delivery", "refund", "product"}
    assert 0.02 <= len(tickets) / len(orders) <= 0.08
    orders_of = by_customer(orders)
    for ticket in tickets:
        raised = parse_ts(ticket["ts"])
        candidates = [o for o in orders_of[ticket["customer_id"]]
                      if timedelta(days=1) <= raised - parse_ts(o["ts"]) < timedelta(days=2)]
        assert candidates
        if ticket["properties"]["topic"] == "delivery":  # a store purchase has no delivery
            assert any("delivery" in o for o in candidates)


def test_auto_inquiries_follow_model_research_by_minutes(auto_log: list[dict]) -> None:
    inquiries = [e for e in auto_log if e["type"] == "custom"]
    assert {i["name"] for i in inquiries} == {"inquiry"}
    assert {i["properties"]["model"] for i in inquiries} == MODELS
    assert {i["properties"]["topic"] for i in inquiries} == {"price", "availability", "trade_in"}
    web_visits = by_customer([e for e in auto_log if e["type"] == "visit" and e["source"] == "web"])
    for inquiry in inquiries:
        asked = parse_ts(inquiry["ts"])
        assert any(timedelta(minutes=1) <= asked - parse_ts(v["ts"]) <= timedelta(minutes=10)
                   for v in web_visits[inquiry["customer_id"]])


def test_auto_web_bookings_carry_a_budget_trait_equal_to_the_booked_models_band(auto_log: list[dict]) -> None:
    bookings = {(e["customer_id"], e["ts"]): e["price_band"] for e in auto_log
                if e["type"] == "visit" and e["source"] == "web" and e["page"].startswith("/test-drive/")}
    budgets = {(e["customer_id"], e["ts"]): e["traits"]["budget"] for e in auto_log
               if e["type"] == "profile" and "budget" in e["traits"]}
    assert bookings and budgets == bookings
    with_budget = [e for e in auto_log if e["type"] == "profile" and "budget" in e["traits"]]
    assert all(set(e["traits"]) == {"budget"} for e in with_budget)  # a profile update of its own


@pytest.mark.parametrize("kind", ["profile", "custom"])
def test_new_events_and_schema_examples_match_their_json_schemas(
    kind: str, log: list[dict], auto_log: list[dict],
) -> None:
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    events = [e for e in log + auto_log if e["type"] == kind]
    assert events
    for document in events + schema["examples"]:
        validator.validate(document)
