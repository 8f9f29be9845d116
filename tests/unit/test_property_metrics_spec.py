"""Property metrics (`[metrics.<name>]`): what customers looked at, through `Backtest`.

Given these events and this pack -> exactly these (family, from, to, at, cause) changes. A
property is a field of the event (`page`, `source`, any top-level field) or of its `properties`
object; a metric counts, sums, counts distinct or ranks it over one event type, filtered by
`where`, in a window of days or over the whole history.
"""

from __future__ import annotations

import re

import pytest

from stream.metrics import MAX_PROPERTY_CHARS, MAX_PROPERTY_KEYS
from stream.rules.ruleset import RuleError
from tests.unit.tagspec import day, order, pack, run, stored_states, visit

CARS = """
[metrics.test_drives_90d]
event = "visit"
where = "startswith(page, '/test-drive/')"
days = 90
[metrics.top_model_30d]
event = "visit"
aggregate = "top"
property = "model"
where = "startswith(page, '/models/')"
days = 30
[families.test_drive]
cases = [
  { value = "yes", when = "test_drives_90d >= 1 and tag.showroom" },
  { value = "booked", when = "test_drives_90d >= 1" },
]
default = "none"
[families.showroom]
cases = [{ value = true, when = "showroom_visits_90d >= 1" }]
default = false
[metrics.showroom_visits_90d]
event = "visit"
where = "source == 'showroom'"
days = 90
[families.model_interest]
kind = "value"
metric = "top_model_30d"
default = "none"
"""


def page(customer: str, ts: int, path: str, *, id: str, source: str = "web", **extra) -> dict:
    return {**visit(customer, ts, id=id), "page": path, "source": source, **extra}


def test_a_test_drive_booked_online_then_taken_in_the_showroom(tmp_path):
    result = run(
        [
            page("c1", day(0), "/models/suv", id="v1", model="suv"),
            page("c1", day(1), "/test-drive/suv", id="v2"),  # the booking form
            page("c1", day(5), "/test-drive/suv", id="v3", source="showroom"),  # the drive itself
        ],
        as_of=day(120),
        rules=pack(tmp_path, CARS),
    )
    assert result.of("test_drive") == [
        ("test_drive", None, "none", day(0), "v1"),
        ("test_drive", "none", "booked", day(1), "v2"),
        ("test_drive", "booked", "yes", day(5), "v3"),
        ("test_drive", "yes", "none", day(95), None),  # the drive leaves the 90-day window
    ]


def test_model_interest_is_the_model_viewed_most_in_30_days_ties_to_the_first_name(tmp_path):
    result = run(
        [
            page("c1", day(0), "/models/van", id="v1", model="van"),
            page("c1", day(2), "/models/suv", id="v2", model="suv"),  # 1:1, "suv" < "van"
            page("c1", day(3), "/test-drive/van", id="v3", model="van"),  # not a model page: not counted
            page("c1", day(40), "/models/coupe", id="v4", properties={"model": "coupe"}),  # nested properties
        ],
        as_of=day(80),
        rules=pack(tmp_path, CARS),
    )
    assert result.of("model_interest") == [
        ("model_interest", None, "van", day(0), "v1"),
        ("model_interest", "van", "suv", day(2), "v2"),
        ("model_interest", "suv", "none", day(32), None),  # both views older than 30 days
        ("model_interest", "none", "coupe", day(40), "v4"),
        ("model_interest", "coupe", "none", day(70), None),
    ]


SHOP = """
[metrics.home_deliveries_365d]
event = "order"
where = "delivery == 'home'"
days = 365
[metrics.top_delivery_365d]
event = "order"
aggregate = "top"
property = "delivery"
days = 365
[metrics.sources_30d]
event = "visit"
aggregate = "distinct"
property = "source"
days = 30
[metrics.big_basket_total]
event = "order"
aggregate = "sum"
property = "amount"
where = "amount >= 100"
[families.delivery_preference]
kind = "value"
metric = "top_delivery_365d"
default = "unknown"
[families.omnichannel]
cases = [{ value = true, when = "sources_30d >= 2" }]
default = false
[families.big_basket_spender]
cases = [{ value = true, when = "big_basket_total >= 250" }]
default = false
"""


def test_delivery_preference_and_sums_over_orders(tmp_path):
    result = run(
        [
            {**order("c1", day(0), 120.5, id="o1"), "delivery": "pickup"},
            {**order("c1", day(10), 40, id="o2"), "delivery": "home"},
            {**order("c1", day(20), 129.5, id="o3"), "delivery": "home"},
        ],
        as_of=day(30),
        rules=pack(tmp_path, SHOP),
    )
    assert result.of("delivery_preference") == [
        ("delivery_preference", None, "pickup", day(0), "o1"),
        ("delivery_preference", "pickup", "home", day(10), "o2"),  # 1:1, "home" < "pickup"
    ]
    assert result.of("big_basket_spender") == [
        ("big_basket_spender", None, False, day(0), "o1"),
        ("big_basket_spender", False, True, day(20), "o3"),  # 120.50 + 129.50; the 40 is below 100
    ]
    assert result.backtest.engine.metrics("c1", day(30))["big_basket_total"] == 250.0


def test_the_customer_record_and_so_the_redis_profile_list_every_property_metric(tmp_path):
    result = run([{**order("c1", day(0), 120.5, id="o1"), "delivery": "pickup"}], as_of=day(3), rules=pack(tmp_path, SHOP))
    record = result.snapshot(day(3))["c1"]
    assert record["properties"] == {
        "home_deliveries_365d": 0, "top_delivery_365d": "pickup", "sources_30d": 0, "big_basket_total": 120.5,
    }
    assert list(record)[list(record).index("windows") + 1] == "properties"


def test_distinct_sources_and_values_of_the_wrong_type_are_not_counted(tmp_path):
    result = run(
        [
            page("c1", day(0), "/", id="v1", source="web"),
            page("c1", day(1), "/", id="v2", source=7),  # not text: no source
            page("c1", day(2), "/", id="v3", source="app"),
        ],
        as_of=day(40),
        rules=pack(tmp_path, SHOP),
    )
    assert result.of("omnichannel") == [
        ("omnichannel", None, False, day(0), "v1"),
        ("omnichannel", False, True, day(2), "v3"),
        ("omnichannel", True, False, day(30), None),  # v1 leaves the 30-day window
    ]


def test_a_producer_sending_a_new_page_per_visit_cannot_grow_a_state_without_bound(tmp_path):
    rules = pack(tmp_path, """
[metrics.pages_7d]
event = "visit"
aggregate = "distinct"
property = "page"
days = 7
[families.explorer]
cases = [{ value = true, when = "pages_7d >= 10" }]
default = false
""")
    flood = [page("c1", day(0, 0, n), f"/p/{n}/" + "x" * 300, id=f"v{n}") for n in range(200)]
    later = [page("c1", day(8), "/again", id="w1"), page("c1", day(8, 1), "/and-again", id="w2")]
    flooded = run(flood, as_of=day(0, 4), rules=rules)
    assert flooded.backtest.engine.metrics("c1", day(0, 4))["pages_7d"] == MAX_PROPERTY_KEYS
    after = run(flood + later, as_of=day(9), rules=rules)
    assert after.backtest.engine.metrics("c1", day(8, 2))["pages_7d"] == 2  # the flood left the window: room again
    (state,) = stored_states(flood, rules).values()
    assert len(state) < MAX_PROPERTY_KEYS * (MAX_PROPERTY_CHARS + 16) + 4_000  # texts cut, entries bounded


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[metrics.x]\nevent = 'tap'\n", "metrics.x.event: must be one of order, email_open, click, visit, custom, got 'tap'"),
        ("[metrics.x]\nevent = 'profile'\n", "metrics.x.event: a profile sets traits: declare them in [traits] and read trait.<name>"),
        ("[metrics.x]\nevent = 'visit'\naggregate = 'median'\n", "metrics.x.aggregate: must be one of count, sum, distinct, top"),
        ("[metrics.x]\nevent = 'visit'\naggregate = 'top'\n", "metrics.x.property: a top needs the property it reads"),
        ("[metrics.x]\nevent = 'visit'\nproperty = 'page'\n", "metrics.x.property: a count reads no property"),
        ("[metrics.orders_90d]\nevent = 'visit'\n", "metrics.orders_90d: a metric's name is lower_snake_case"),
        ("[metrics.updated_at]\nevent = 'visit'\n", "not a built-in metric or a field of the customer record"),
        ("[metrics.x]\nevent = 'visit'\nwhere = 'page.upper()'\n", "metrics.x.where: in 'page.upper()'"),
        ("[metrics.x]\nevent = 'visit'\nwhere = 'startswith(page)'\n", "startswith() takes exactly 2 arguments, got 1"),
        ("[metrics.x]\nevent = 'visit'\ndays = 0\n", "metrics.x.days: must be a positive whole number"),
        ("[metrics.x]\nevent = 'visit'\naggregate = 'top'\nproperty = 'page'\n"
         "[families.f]\ncases = [{ value = 1, when = 'x > 1' }]\ndefault = 0\n",
         "families.f.cases[0].when: in 'x > 1': x is text: compare it with == or != or use it as true/false"),
        ("[families.f]\nkind = 'value'\nmetric = 'orders_90d'\ndefault = 0\n",
         "families.f.metric: must name a metric of [metrics] (declared: none), got 'orders_90d'"),
    ],
)
def test_a_bad_property_metric_is_refused_naming_its_key(tmp_path, text, problem):
    with pytest.raises(RuleError, match=re.escape(problem)):
        pack(tmp_path, text + "\n[families.any]\ncases = [{ value = 1, when = 'true' }]\ndefault = 0\n")
