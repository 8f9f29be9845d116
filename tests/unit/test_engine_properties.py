"""Properties of the engine over random histories, checked against a brute-force reference.

The reference recomputes every metric from the full, de-duplicated event list (no buckets, no
deadlines, no watermark) and decides each family with the rule set's own `decide`. The engine must
agree with it at the as-of instant, and its change stream must flip exactly where the reference's
answer flips (evaluated at every instant where it can change), whatever the arrival order within
the allowed lateness. Families reading other families' tags, `stay` conditions and minimum dwell
times make the answer depend on the past, so the reference walks those instants in time order,
carrying each family's value and when it last changed.
"""

from __future__ import annotations

import heapq
import math
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.backtest import Backtest
from stream.changes import TagChange
from stream.metrics import MAX_PROPERTY_CHARS, MAX_PROPERTY_NUMBER
from stream.rules.ruleset import DEFAULT_RULES, RuleSet, load_rules
from stream.timeutil import DAY_MS
from tests.unit.tagspec import MINUTE_MS, T0, lines, run

# --- rule packs under test -----------------------------------------------------------------------

EXOTIC = """
[time]
allowed_lateness = "1d"
[state]
dedup_ids = 16
reactivation_gap_days = 20
[windows]
orders = [7, 30]
activity = [3, 14]
[rfm]
recency_days = [3, 7.5, 20, 40]
frequency_metric = "orders_30d"
frequency = [1, 2, 3, 5]
monetary_metric = "revenue_30d"
monetary = [10, 50, 100.5, 400]
[families.recency]
cases = [
  { value = "clicked_long_ago", when = "days_since_last_click >= 10.5 and days_since_last_visit <= 12" },
  { value = "brand_new", when = "days_since_first_event < 3" },
  { value = "back", when = "days_since_reactivation <= 5" },
  { value = "sleepy", when = "40 < days_since_last_event" },
  { value = "hot", when = "2 <= days_since_last_open < 6" },
]
default = "other"
[families.shift]
cases = [
  { value = "visits_down", when = "visits_prev_14d > visits_14d" },
  { value = "coupon_before", when = "coupon_orders_prev_7d >= 1 and coupon_orders_7d == 0" },
  { value = "busy", when = "min(opens_3d, clicks_3d) >= 1 or abs(orders_7d - orders_prev_7d) >= 2" },
  { value = "ratio", when = "revenue_30d / orders_30d > 100 and orders_total != 3" },
]
default = 0
[families.segment]
kind = "rfm_grid"
default = "none"
grid = [
  ["a", "b", "c", "d", "e"],
  ["f", "g", "h", "i", "j"],
  ["k", "l", "m", "n", "o"],
  ["p", "q", "r", "s", "t"],
  ["u", "v", "w", "x", "y"],
]
[families.score]
cases = [{ value = 1.5, when = "rfm_fm >= 3 and rfm_r != 1" }, { value = true, when = "rfm_m >= 2" }]
default = false
[families.channel]
kind = "top"
counter = "channel"
min_count = 2
default = "few"
[families.band]
kind = "top"
counter = "hour_band"
default = "none"
"""


# Tags read by other families (declared before what they read), hysteresis and minimum dwell times.
STABLE = """
[time]
allowed_lateness = "1d"
[windows]
orders = [7, 30]
activity = [3, 14]
[families.watch]
cases = [
  { value = "vip_quiet", when = "tag.tier == 'high' and tag.busy == false" },
  { value = "vip", when = "tag.tier == 'high'" },
  { value = "busy", when = "tag.busy", stay = "tag.lapsed" },
]
default = "none"
[families.tier]
cases = [
  { value = "high", when = "revenue_30d >= 300", stay = "revenue_30d >= 150" },
  { value = "mid", when = "revenue_30d >= 100 or orders_7d >= 2" },
]
default = "low"
min_dwell = "2d"
[families.busy]
cases = [{ value = true, when = "clicks_3d + visits_3d >= 2", stay = "clicks_14d + visits_14d >= 1" }]
default = false
min_dwell = "36h"
[families.lapsed]
cases = [{ value = true, when = "days_since_last_order >= 10", stay = "days_since_last_event >= 3" }]
default = false
min_dwell = "5d"
[families.channel]
kind = "top"
counter = "channel"
default = "none"
min_dwell = "3d"
"""


# Property metrics of every aggregate, windowed and over the whole history, read by cases, value
# families, a combined family, a stay and a dwell.
PROPERTIES = """
[time]
allowed_lateness = "1d"
[windows]
orders = [7]
activity = [3]
[metrics.drives_14d]
event = "visit"
where = "startswith(page, '/test-drive/') or source == 'showroom'"
days = 14
[metrics.model_3d]
event = "visit"
aggregate = "top"
property = "model"
days = 3
[metrics.pages_7d]
event = "visit"
aggregate = "distinct"
property = "page"
where = "not contains(page, 'home')"
days = 7
[metrics.price_sum_30d]
event = "visit"
aggregate = "sum"
property = "price"
where = "price >= 20000"
days = 30
[metrics.top_delivery]
event = "order"
aggregate = "top"
property = "delivery"
[metrics.home_deliveries]
event = "order"
where = "delivery == 'home'"
[metrics.spend_home]
event = "order"
aggregate = "sum"
property = "amount"
where = "delivery == 'home' and amount > 50"
[families.test_drive]
cases = [{ value = "yes", when = "drives_14d >= 2", stay = "drives_14d >= 1" }]
default = "none"
[families.model_interest]
kind = "value"
metric = "model_3d"
default = "none"
min_dwell = "2d"
[families.research]
cases = [
  { value = "deep", when = "pages_7d >= 3 or price_sum_30d > 50000" },
  { value = "suv", when = "tag.model_interest == 'suv' and tag.test_drive == 'yes'" },
]
default = "light"
[families.delivery]
kind = "value"
metric = "top_delivery"
default = "unknown"
[families.home_buyer]
cases = [{ value = true, when = "home_deliveries >= 2 and spend_home >= 100" }]
default = false
"""


def _load(text: str, name: str) -> RuleSet:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        return load_rules(path)


DEFAULT_TEXT = DEFAULT_RULES.read_text(encoding="utf-8")
PACKS = {
    "default": load_rules(),
    "default-2d-lateness": _load(DEFAULT_TEXT.replace('allowed_lateness = "5m"', 'allowed_lateness = "2d"'), "d.toml"),
    "exotic": _load(EXOTIC, "exotic.toml"),
    "stable": _load(STABLE, "stable.toml"),
    "properties": _load(PROPERTIES, "properties.toml"),
}
assert [f.name for f in PACKS["stable"].families] == ["tier", "busy", "lapsed", "watch", "channel"]
assert PACKS["default-2d-lateness"].allowed_lateness_ms == 2 * DAY_MS

# --- random histories ----------------------------------------------------------------------------

TYPES = ("order", "email_open", "click", "visit", "profile", "custom")
ACTIVITY = TYPES[:4]


@dataclass(frozen=True)
class Ev:
    event_id: str
    type: str
    customer_id: str
    ts: int
    cents: int = 0
    coupon: bool = False
    channel: str | None = None
    categories: tuple[str, ...] = ()
    props: tuple[tuple[str, object], ...] = ()  # extra fields, top-level or in a `properties` object
    nested: bool = False
    traits: tuple[tuple[str, object], ...] = ()  # a profile's updates (None unsets)

    def doc(self) -> dict:
        doc = {"type": self.type, "event_id": self.event_id, "customer_id": self.customer_id, "ts": self.ts}
        extra = {name: value for name, value in self.props if value is not None}
        if self.nested and extra:
            doc["properties"] = extra
        else:
            doc.update(extra)
        if self.type == "profile":
            doc["traits"] = dict(self.traits)
        if self.type == "order":
            doc["amount"] = self.cents / 100
            if self.coupon:
                doc["coupon"] = "SAVE"
            if self.channel:
                doc["channel"] = self.channel
            doc["items"] = [{"category": c} for c in self.categories]
        return doc


action = st.tuples(
    st.sampled_from(TYPES + ("order",)),  # orders twice as likely: most rules read orders
    st.one_of(st.just(0), st.integers(0, 10 * MINUTE_MS)),  # offset within a session: minutes apart
    st.integers(0, 40_000),  # cents
    st.booleans(),
    st.sampled_from([None, "web", "app", "store"]),
    st.lists(st.sampled_from(["shoes", "bags", "toys"]), max_size=3),
    st.fixed_dictionaries({
        "page": st.sampled_from([None, "/home", "/models/suv", "/models/van", "/test-drive/suv", "/test-drive/van"]),
        "source": st.sampled_from([None, "web", "showroom"]),
        "model": st.sampled_from([None, "suv", "van", 7, True]),
        "price": st.sampled_from([None, 18_000, 25_999.99, 41_000.5, "cheap"]),
        "delivery": st.sampled_from([None, "home", "pickup"]),
        "name": st.sampled_from(["support_ticket", "newsletter_signup"]),
        "topic": st.sampled_from(["refund", "delivery"]),  # the default pack requires a support ticket's topic
    }),
    st.booleans(),
    st.fixed_dictionaries({}, optional={
        "region": st.sampled_from([None, "home", "out_of_town"]),
        "gender": st.sampled_from([None, "female", "male"]),
        # near day 0 (2024-01-01) and leap days, so birthdays fall inside the histories
        "birth_date": st.sampled_from([None, "2000-02-29", "1989-01-01", "2006-03-15", "1970-12-31"]),
        "email_consent": st.sampled_from([None, True, False]),
        "customer_type": st.sampled_from(["consumer", "business"]),
        "company_size": st.sampled_from(["small", "large"]),
    }),
)
# Whole-day distances that coincide with rule thresholds, windows and the reactivation gap of the packs.
KEY_DAYS = (3, 6, 7, 14, 20, 28, 30, 41, 60, 90, 180, 365)
session = st.tuples(
    st.sampled_from(["c1", "c2", "c3"]),
    st.integers(0, 400),  # day
    st.one_of(st.just(0), st.integers(0, DAY_MS - 1)),  # time of day: often exactly midnight
    st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.sampled_from(KEY_DAYS))),  # or k days after an event
    st.lists(action, min_size=1, max_size=5),
)


@st.composite
def histories(draw):
    """(events in (ts, id) order, what is sent including duplicate copies, arrival delays as
    millionths of the allowed lateness)."""
    events: list[Ev] = []
    for customer, day, time_of_day, echo, actions in draw(st.lists(session, min_size=1, max_size=12)):
        start = T0 + day * DAY_MS + time_of_day
        if echo is not None and events:
            earlier = events[echo[0] % len(events)]
            customer, start = earlier.customer_id, earlier.ts + echo[1] * DAY_MS
        for kind, offset, cents, coupon, channel, categories, props, nested, traits in actions:
            eid = f"{kind[0]}{len(events):03d}"
            if kind == "order":
                extra = (("delivery", props["delivery"]),)
                events.append(Ev(eid, kind, customer, start + offset, cents, coupon, channel, tuple(dict.fromkeys(categories)), extra, nested))
            elif kind == "visit":
                extra = tuple((name, props[name]) for name in ("page", "source", "model", "price"))
                events.append(Ev(eid, kind, customer, start + offset, props=extra, nested=nested))
            elif kind == "profile":
                events.append(Ev(eid, kind, customer, start + offset, traits=tuple(sorted(traits.items()))))
            elif kind == "custom":
                extra = (("name", props["name"]), ("topic", props["topic"]))
                events.append(Ev(eid, kind, customer, start + offset, props=extra))
            else:
                events.append(Ev(eid, kind, customer, start + offset))
    duplicates = draw(st.lists(st.sampled_from(range(len(events))), max_size=3))
    sent = events + [events[i] for i in duplicates]
    delays = draw(st.lists(st.integers(0, 999_999), min_size=len(sent), max_size=len(sent)))
    return sorted(events, key=lambda e: (e.ts, e.event_id)), sent, delays


def arrival(sent: list[Ev], delays: list[int], lateness_ms: int) -> list[dict]:
    """Each event arrives after its event time plus a delay strictly below the allowed lateness."""
    order = sorted(range(len(sent)), key=lambda i: (sent[i].ts + delays[i] * lateness_ms // 1_000_000, i))
    return [sent[i].doc() for i in order]


# --- the brute-force reference -------------------------------------------------------------------

WINDOW = re.compile(r"^(orders|revenue|coupon_orders|opens|clicks|visits)_(prev_)?(\d+)d$")
SERIES = {
    "orders": ("order", lambda e: 1),
    "revenue": ("order", lambda e: e.cents),
    "coupon_orders": ("order", lambda e: int(e.coupon)),
    "opens": ("email_open", lambda e: 1),
    "clicks": ("click", lambda e: 1),
    "visits": ("visit", lambda e: 1),
}
LAST_OF = {"days_since_last_open": "email_open", "days_since_last_click": "click", "days_since_last_visit": "visit"}


def reference_metrics(rules: RuleSet, events: list[Ev], now: int, names, tags: dict | None = None) -> dict[str, object]:
    """Every metric in `names` for one customer at `now`, from `events` (sorted, unique, ts <= now);
    `tag.<family>` from the current `tags`."""
    own = [n for n in names if not n.startswith(("rfm_", "tag.", "trait.")) and n != "age_years"]
    values = plain_metrics(rules, events, now, own)
    values.update({n: (tags or {}).get(n.removeprefix("tag.")) for n in names if n.startswith("tag.")})
    traits = reference_traits(rules, events)
    values.update({n: traits.get(n.removeprefix("trait.")) for n in names if n.startswith("trait.")})
    if "age_years" in names:
        values["age_years"] = age_years(traits.get("birth_date"), now)
    scale = rules.plan.rfm
    if scale is not None:
        orders = [e for e in events if e.type == "order"]
        if not orders:
            values.update(rfm_r=None, rfm_f=None, rfm_m=None, rfm_fm=None)
        else:
            inputs = plain_metrics(rules, events, now, [scale.frequency_metric, scale.monetary_metric])
            recency = (now - orders[-1].ts) // DAY_MS
            r = 5 - sum(recency >= t for t in scale.recency_days)
            f = 1 + sum(inputs[scale.frequency_metric] >= t for t in scale.frequency)
            m = 1 + sum(inputs[scale.monetary_metric] >= t for t in scale.monetary)
            values.update(rfm_r=r, rfm_f=f, rfm_m=m, rfm_fm=math.floor((f + m) / 2 + 0.5))
    return values


def reference_traits(rules: RuleSet, events: list[Ev]) -> dict[str, object]:
    """The declared traits as the customer's profile events left them (None unsets)."""
    declared = {t.name for t in rules.traits}
    traits: dict[str, object] = {}
    for e in events:
        for name, value in e.traits:
            if name in declared:
                traits[name] = value
    return {name: value for name, value in traits.items() if value is not None}


def age_years(birth_date: str | None, now: int) -> int | None:
    """Whole years from the birth date to the UTC day of `now` (a Feb 29 birthday is on Mar 1 in
    common years); None without a date or before it."""
    if birth_date is None:
        return None
    born, today = date.fromisoformat(birth_date), (datetime.fromtimestamp(now / 1000, UTC)).date()
    if today < born:
        return None
    return today.year - born.year - (today < birthday(born, today.year))


def birthday(born: date, year: int) -> date:
    try:
        return born.replace(year=year)
    except ValueError:  # February 29 in a common year
        return date(year, 3, 1)


def plain_metrics(rules: RuleSet, events: list[Ev], now: int, names) -> dict[str, object]:
    orders = [e for e in events if e.type == "order"]
    activity = [e for e in events if e.type in ACTIVITY]  # profile and custom events are not activity
    today = now // DAY_MS

    def since(ts):
        return None if ts is None else (now - ts) // DAY_MS

    reactivated = None
    for previous, current in zip(orders, orders[1:]):
        if (current.ts - previous.ts) // DAY_MS >= rules.reactivation_gap_days:
            reactivated = current.ts
    properties = {m.name: m for m in rules.property_metrics}
    values: dict[str, object] = {}
    for name in names:
        if match := WINDOW.match(name):
            series, previous, days = match[1], bool(match[2]), int(match[3])
            kind, amount = SERIES[series]
            low, high = (days, 2 * days) if previous else (0, days)
            total = sum(amount(e) for e in events if e.type == kind and low <= today - e.ts // DAY_MS < high)
            values[name] = total / 100 if series == "revenue" else total
        elif name == "orders_total":
            values[name] = len(orders)
        elif name == "revenue_total":
            values[name] = sum(e.cents for e in orders) / 100
        elif name == "events_total":
            values[name] = len(activity)
        elif name == "days_since_last_order":
            values[name] = since(orders[-1].ts if orders else None)
        elif name == "days_since_first_order":
            values[name] = since(orders[0].ts if orders else None)
        elif name == "days_since_last_event":
            values[name] = since(activity[-1].ts if activity else None)
        elif name == "days_since_first_event":
            values[name] = since(activity[0].ts if activity else None)
        elif name in LAST_OF:
            values[name] = since(max((e.ts for e in events if e.type == LAST_OF[name]), default=None))
        elif name == "days_since_reactivation":
            values[name] = since(reactivated)
        elif name in properties:
            values[name] = property_metric(properties[name], events, today)
        else:
            raise AssertionError(f"the reference does not know {name}")
    return values


def property_of(event: Ev, name: str) -> object:
    """An event's property as the engine reads it: a top-level field, else one of `properties`;
    text cut to 256 characters; only text, numbers and booleans."""
    doc = event.doc()
    value = doc.get(name, doc.get("properties", {}).get(name))
    if isinstance(value, str):
        return value[:MAX_PROPERTY_CHARS]
    return value if isinstance(value, (int, float)) else None


def property_metric(metric, events: list[Ev], today: int) -> object:
    values = []
    for e in events:
        if e.type != metric.event_type or (metric.days is not None and today - e.ts // DAY_MS >= metric.days):
            continue
        if metric.where is not None and not metric.where.evaluate({n: property_of(e, n) for n in metric.where.names}):
            continue
        values.append(None if metric.property is None else property_of(e, metric.property))
    if metric.aggregate == "count":
        return len(values)
    if metric.aggregate == "sum":
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= MAX_PROPERTY_NUMBER]
        return sum(round(v * 100) for v in numbers) / 100
    texts = Counter(v for v in values if isinstance(v, str))
    if metric.aggregate == "distinct":
        return len(texts)
    return min(texts, key=lambda text: (-texts[text], text)) if texts else None


def reference_counters(rules: RuleSet, events: list[Ev]) -> dict[str, dict[str, int]]:
    channel, category, band = Counter(), Counter(), Counter()
    for e in events:
        if e.type != "order":
            continue
        if e.channel:
            channel[e.channel] += 1
        category.update(e.categories)
        if (name := rules.hour_band(e.ts % DAY_MS // 3_600_000)) is not None:
            band[name] += 1
    return {name: dict(c) for name, c in (("channel", channel), ("category", category), ("hour_band", band)) if c}


class Reference:
    """One customer's tags, decided from scratch at each instant the caller walks through in time
    order; remembers each family's value and when it last changed."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.tags: dict[str, object] = {}
        self.since: dict[str, int] = {}
        self.names = sorted({n for f in rules.families for n in f.reads if not n.startswith("tag.")} | {"days_since_last_order"})

    def decide(self, events: list[Ev], now: int) -> list[tuple]:
        """Re-decide every family at `now` from `events`; the changes, as (at, family, from, to)."""
        metrics = reference_metrics(self.rules, events, now, self.names)
        counters = reference_counters(self.rules, events)
        changes = []
        for family in self.rules.families:  # dependency order: a tag read is already decided
            name, current = family.name, self.tags.get(family.name)
            if name in self.since and now < self.since[name] + family.min_dwell_ms:
                continue
            metrics.update({f"tag.{n}": v for n, v in self.tags.items()})
            value = family.decide(metrics, counters, current)[0]
            if name not in self.tags or not same(current, value):
                changes.append((now, name, current, value))
                if name in self.tags:  # a dwell follows a change, not the first value
                    self.since[name] = now
                self.tags[name] = value
        return changes


def flip_candidates(rules: RuleSet, events: list[Ev]) -> set[int]:
    """Instants at which the reference answer may change with no event: UTC midnights where a day
    enters or leaves a window, and whole-day thresholds after any event (a superset of anchors)."""
    lengths = {*rules.order_windows, *rules.activity_windows} | {m.days for m in rules.property_metrics if m.days}
    steps = {s for thresholds in rules.plan.recency_steps.values() for s in thresholds} | set(rules.plan.rfm.recency_days if rules.plan.rfm else ())
    found: set[int] = set()
    for e in events:
        found.add(e.ts)
        born = dict(e.traits).get("birth_date")
        if born is not None:  # every birthday in reach: age_years changes at its 00:00 UTC
            first = date.fromisoformat(born)
            found.update(_ms(birthday(first, year)) for year in range(first.year + 1, 2030))
        found.update((e.ts // DAY_MS + k * n) * DAY_MS for n in lengths for k in (1, 2))
        found.update(e.ts + math.ceil(s) * DAY_MS for s in steps)
    return found


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def same(a: object, b: object) -> bool:
    return a == b and type(a) is type(b)


# --- properties ----------------------------------------------------------------------------------

# Tuned so the file runs in a few seconds; run with more examples when touching the engine.
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def net_changes(changes) -> list[tuple]:
    """(at, family, before, after) per instant, dropping a family that ends an instant where it began."""
    return net_changes_of([(c.at, c.family, c.old, c.new) for c in changes])


def net_changes_of(changes: list[tuple]) -> list[tuple]:
    net: dict[tuple[int, str], list] = {}
    for at, family, old, new in changes:
        key = (at, family)
        if key in net:
            net[key][1] = new
        else:
            net[key] = [old, new]
    return sorted(
        (at, family, before, after) for (at, family), (before, after) in net.items() if not same(before, after)
    )


def reference_timeline(rules: RuleSet, events: list[Ev], until: int) -> tuple[list[tuple], Reference]:
    """The reference evaluated at every instant where its answer can change (and where a minimum
    dwell ends), as net changes, and its state at `until`. At each instant it decides once with
    the events before it, then once after each event at it, in (ts, id) order, as the engine
    applies them."""
    reference = Reference(rules)
    instants = [t for t in flip_candidates(rules, events) if t <= until]
    heapq.heapify(instants)
    changes, visited = [], set()
    while instants:
        t = heapq.heappop(instants)
        if t in visited:
            continue
        visited.add(t)
        earlier = [e for e in events if e.ts < t]
        at_t = [e for e in events if e.ts == t]
        for seen in ([earlier] if earlier else []) + [earlier + at_t[: i + 1] for i in range(len(at_t))]:
            for change in reference.decide(seen, t):
                changes.append(change)
                dwell = next(f.min_dwell_ms for f in rules.families if f.name == change[1])
                if dwell and t + dwell <= until:
                    heapq.heappush(instants, t + dwell)
    return net_changes_of(changes), reference


@settings(SETTINGS, max_examples=120)
@given(pack=st.sampled_from(sorted(PACKS)), history=histories(), extra=st.integers(0, 500 * DAY_MS))
def test_engine_agrees_with_brute_force_reference(pack, history, extra):
    rules = PACKS[pack]
    events, sent, delays = history
    as_of = events[-1].ts + extra
    result = run(arrival(sent, delays, rules.allowed_lateness_ms), as_of=as_of, rules=rules)
    assert result.totals.late == 0
    assert result.totals.duplicates == len(sent) - len(events)

    for customer in sorted({e.customer_id for e in events}):
        mine = [e for e in events if e.customer_id == customer]
        record = result.snapshot(as_of)[customer]
        assert record["pending_events"] == 0

        # the final state at as-of: every metric, and every tag
        timeline, reference = reference_timeline(rules, mine, as_of)
        expected_tags = reference.tags
        computed = result.backtest.engine.metrics(customer, as_of)
        assert computed == reference_metrics(rules, mine, as_of, computed, expected_tags)
        tags = result.tags(customer)
        assert tags == expected_tags
        assert all(same(tags[k], v) for k, v in expected_tags.items())
        assert record["tags"] == dict(sorted(expected_tags.items()))
        assert record["days_since_last_order"] == computed["days_since_last_order"]
        assert record["orders_total"] == sum(e.type == "order" for e in mine)
        assert record["events_total"] == sum(e.type in ACTIVITY for e in mine)  # profiles, custom: not activity
        assert {k: v for k, v in record.get("traits", {}).items() if v is not None and k != "age_years"} == \
            reference_traits(rules, mine)

        # the change stream: consistent chains, in time order, caused by what happened at that instant
        changes = [c for c in result.changes if c.customer_id == customer]
        assert [c.at for c in changes] == sorted(c.at for c in changes)
        current: dict[str, object] = {}
        for change in changes:
            assert same(change.old, current.get(change.family))
            assert not same(change.new, change.old)
            current[change.family] = change.new
            if change.cause_event_id is not None:
                assert any(e.event_id == change.cause_event_id and e.ts == change.at for e in mine)

        # ... and every change the reference sees happens at exactly the same instant, no more, no less
        assert net_changes(changes) == timeline


@SETTINGS
@given(pack=st.sampled_from(sorted(PACKS)), history=histories(), other_delays=st.randoms(use_true_random=False))
def test_arrival_order_within_the_lateness_bound_does_not_matter(pack, history, other_delays):
    rules = PACKS[pack]
    events, sent, delays = history
    shuffled = [other_delays.randrange(1_000_000) for _ in delays]
    as_of = events[-1].ts + DAY_MS * 200
    in_order = run([e.doc() for e in events], as_of=as_of, rules=rules)
    for arrival_delays in (delays, shuffled):
        perturbed = run(arrival(sent, arrival_delays, rules.allowed_lateness_ms), as_of=as_of, rules=rules)
        assert perturbed.totals.late == 0
        assert {c.id for c in perturbed.changes} == {c.id for c in in_order.changes}
        assert sorted(c.to_json() for c in perturbed.changes) == sorted(c.to_json() for c in in_order.changes)
        for customer in {e.customer_id for e in events}:
            assert perturbed.tags(customer) == in_order.tags(customer)


@SETTINGS
@given(pack=st.sampled_from(sorted(PACKS)), history=histories(), cut=st.floats(0, 1))
def test_state_and_deadline_index_survive_a_restart_from_bytes_mid_stream(pack, history, cut):
    rules = PACKS[pack]
    events, sent, delays = history
    docs = arrival(sent, delays, rules.allowed_lateness_ms)
    as_of = events[-1].ts + 100 * DAY_MS
    straight = run(docs, as_of=as_of, rules=rules)

    # the same log, but at an arbitrary point every customer's state goes through bytes and each
    # partition's deadline index is rebuilt from them, as a restarted worker does
    backtest = Backtest(rules)
    changes = []
    split = round(cut * len(docs))
    reject = lambda line, rejection: pytest.fail(rejection.message)  # noqa: E731
    collect = lambda batch: changes.extend(TagChange.from_batch(batch))  # noqa: E731
    backtest.run(lines(docs[:split]), collect, reject)
    stored = backtest.engine.export_states()
    backtest.engine.import_states(stored)  # every customer through bytes, every wake re-indexed
    assert backtest.engine.export_states() == stored
    backtest.run(lines(docs[split:]), collect, reject)
    backtest.finish(as_of, collect)
    assert [c.to_json() for c in changes] == [c.to_json() for c in straight.changes]
