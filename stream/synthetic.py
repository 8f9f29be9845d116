"""Deterministic synthetic event logs for tagstream.

Classification rules (lifecycle, RFM, churn risk, night owls...) can only be
tested and demoed against data whose ground truth is known, and real customer
logs can't be shipped around.  This module fabricates logs that *behave* like
real ones -- archetypes, seasonality, weekly rhythm, campaign-driven email
bursts, browsing sessions before purchases -- while staying byte-for-byte
reproducible from ``(customers, days, seed, profile, start)``.

Design constraints that shape the code:

* Pure standard library, so the generator runs anywhere (CI, notebooks,
  load-test boxes) without the streaming stack installed.
* Every customer gets its own ``random.Random`` seeded from a string, never
  the global RNG and never ``hash()`` (salted per process), so output is
  identical across runs, machines and Python processes, and changing one
  customer's simulation can't shift any other customer's events.
* Time is integer epoch milliseconds until the very end; ``datetime`` objects
  per event would dominate the runtime of million-event logs.
* Event types added later (profiles, custom events) make every choice from
  ids (``_derived``), never from the customer's RNG, so adding them changed
  no earlier event.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import operator
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "ARCHETYPE_WEIGHTS",
    "DEFAULT_START",
    "PROFILES",
    "customer_archetypes",
    "customer_id",
    "generate_events",
]

PROFILES = ("ecommerce", "auto")
DEFAULT_START = datetime(2025, 1, 1, tzinfo=timezone.utc)

Event = dict[str, Any]

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_MINUTE_MS = 60_000
_SECOND_MS = 1_000
_NEVER = 1 << 40  # a day index no simulation reaches
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DATE = date(1970, 1, 1)

# Archetype weights are public so evaluations can state the expected mix.
ARCHETYPE_WEIGHTS: dict[str, tuple[tuple[str, float], ...]] = {
    "ecommerce": (
        ("loyal_high_spender", 0.10),
        ("occasional", 0.24),
        ("one_time", 0.16),
        ("churning", 0.12),
        ("reactivated", 0.08),
        ("email_prospect", 0.12),
        ("bargain_hunter", 0.10),
        ("night_owl", 0.08),
    ),
    "auto": (
        ("first_time_researcher", 0.35),
        ("service_only", 0.30),
        ("loyal_family", 0.20),
        ("browser", 0.15),
    ),
}


# --------------------------------------------------------------------------
# Small weighted-choice helpers
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Choice:
    """Cumulative weights are precomputed because ``rng.choices`` rebuilds
    them on every call, which is measurable at millions of draws."""

    values: tuple[Any, ...]
    cum: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Sequence[tuple[Any, float]]) -> _Choice:
        return cls(
            tuple(v for v, _ in pairs),
            tuple(itertools.accumulate(w for _, w in pairs)),
        )

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]

    def at(self, share: float) -> Any:
        """The value at ``share`` (0 <= share < 1) of the total weight: a choice made by
        `_derived` instead of the customer's RNG."""
        return self.values[bisect.bisect_right(self.cum, share * self.cum[-1])]


def _derived(key: str, salt: str) -> float:
    """A share in [0, 1) fixed by ``key`` (a customer or event id) and ``salt`` (which choice).

    Features added after the log's shape was settled (profiles, custom events) choose with this
    instead of the customer's RNG, so the random stream and every earlier event stay byte-identical.
    BLAKE2 rather than the crc32 of `_delivery`: crc32 is linear, so one key's crc32s under two
    salts differ by a fixed xor and choices keyed on the same id would be correlated."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class _Hours:
    """Time-of-day profile; drawing ms offsets keeps everything integer."""

    choice: _Choice

    @classmethod
    def of(cls, hours: Sequence[int], weights: Sequence[float]) -> _Hours:
        return cls(_Choice.of(list(zip(hours, weights))))

    def draw_ms(self, rng: random.Random) -> int:
        return self.choice.pick(rng) * _HOUR_MS + int(rng.random() * _HOUR_MS)


# Evening-heavy online shopping curve; ~11 % of mass falls in 22:00-04:00,
# so ordinary customers are clearly separable from night owls.
_SHOPPING_HOURS = _Hours.of(
    range(24),
    (0.6, 0.3, 0.15, 0.1, 0.1, 0.15, 0.4, 0.9, 1.4, 1.9, 2.2, 2.5,
     3.1, 3.0, 2.4, 2.3, 2.4, 2.8, 3.4, 4.0, 4.3, 3.9, 2.6, 1.4),
)
_NIGHT_HOURS = _Hours.of((22, 23, 0, 1, 2, 3), (1.0, 1.3, 1.3, 1.1, 0.8, 0.5))
_STORE_HOURS = _Hours.of(
    range(9, 20), (0.6, 1.0, 1.2, 1.3, 1.2, 1.1, 1.1, 1.2, 1.4, 1.3, 0.8)
)


def _normalised(values: Sequence[float]) -> tuple[float, ...]:
    """Rates are quoted per average day, so factor tables must average 1."""
    mean = sum(values) / len(values)
    return tuple(v / mean for v in values)


# Index 0 unused so months can index directly.
_ECOM_SEASON = (0.0,) + _normalised(
    (0.85, 0.8, 0.95, 1.0, 1.0, 0.95, 0.9, 0.9, 1.0, 1.05, 1.45, 1.6)
)
_AUTO_SEASON = (0.0,) + _normalised(
    (0.8, 0.9, 1.2, 1.15, 1.1, 1.05, 0.9, 0.8, 1.1, 1.0, 0.95, 0.85)
)
# Monday=0 .. Sunday=6.
_ECOM_WEEK = _normalised((0.9, 0.9, 0.95, 0.95, 1.0, 1.3, 1.25))
_AUTO_STORE_WEEK = _normalised((1.0, 1.0, 1.0, 1.0, 1.1, 1.5, 0.0))  # closed Sundays
_AUTO_WEB_WEEK = _normalised((0.95, 0.95, 0.95, 0.95, 1.0, 1.1, 1.2))

_CAMPAIGN_WEEKDAY = 3  # Thursday: one shared send date per ISO week
_SEND_OFFSET_MS = 9 * _HOUR_MS
_OPEN_DELAY_MEAN_MS = 3 * _HOUR_MS
_OPEN_DELAY_CAP_MS = 48 * _HOUR_MS
_SUNDAY = 6


# --------------------------------------------------------------------------
# Calendar: everything that depends on the period but not on the customer
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Campaign:
    day: int
    campaign_id: str
    topic: str  # featured category (ecommerce) or model (auto)
    url: str


@dataclass(frozen=True, slots=True)
class _Calendar:
    """Per-day lookups computed once per call so the per-customer loops only
    do integer arithmetic and tuple indexing."""

    start_ms: int
    end_ms: int
    first_midnight_ms: int
    first_weekday: int
    n_days: int
    months: tuple[int, ...]
    order_factor: tuple[float, ...]
    order_max: float
    browse_factor: tuple[float, ...]
    browse_max: float
    campaigns: tuple[_Campaign, ...]
    campaign_days: tuple[int, ...]

    def day_ms(self, day: int) -> int:
        # Arithmetic rather than a lookup so days just past the grid are
        # legal; the final window filter drops whatever lands outside.
        return self.first_midnight_ms + day * _DAY_MS

    def weekday(self, day: int) -> int:
        return (self.first_weekday + day) % 7


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _build_calendar(start: datetime, days: int, profile: str) -> _Calendar:
    """Calendar days (UTC midnights) cover the window even when ``start`` is
    not midnight, so hour-of-day semantics stay true wall-clock hours."""
    start_ms = _to_ms(start)
    end_ms = start_ms + days * _DAY_MS
    first_midnight = start_ms - start_ms % _DAY_MS
    n_days = -(-(end_ms - first_midnight) // _DAY_MS)
    first_date = _EPOCH_DATE + timedelta(days=first_midnight // _DAY_MS)
    dates = [first_date + timedelta(days=d) for d in range(n_days)]
    if profile == "ecommerce":
        season, order_week, browse_week = _ECOM_SEASON, _ECOM_WEEK, _ECOM_WEEK
    else:
        season, order_week, browse_week = _AUTO_SEASON, _AUTO_STORE_WEEK, _AUTO_WEB_WEEK
    order_factor = tuple(season[d.month] * order_week[d.weekday()] for d in dates)
    browse_factor = tuple(season[d.month] * browse_week[d.weekday()] for d in dates)
    campaigns = _campaigns(dates, profile)
    return _Calendar(
        start_ms=start_ms,
        end_ms=end_ms,
        first_midnight_ms=first_midnight,
        first_weekday=first_date.weekday(),
        n_days=n_days,
        months=tuple(d.month for d in dates),
        order_factor=order_factor,
        order_max=max(order_factor),
        browse_factor=browse_factor,
        browse_max=max(browse_factor),
        campaigns=campaigns,
        campaign_days=tuple(c.day for c in campaigns),
    )


def _campaigns(dates: Sequence[date], profile: str) -> tuple[_Campaign, ...]:
    """Campaigns are shared across customers so opens cluster on send dates,
    the way a real email calendar produces engagement spikes."""
    out: list[_Campaign] = []
    for day, d in enumerate(dates):
        if d.weekday() != _CAMPAIGN_WEEKDAY:
            continue
        iso_year, iso_week, _ = d.isocalendar()
        week_id = f"w{iso_year}-{iso_week:02d}"
        if profile == "ecommerce":
            topic = _CATEGORIES[iso_week % len(_CATEGORIES)]
            url = f"https://shop.example/{topic}?utm_campaign={week_id}"
            out.append(_Campaign(day, week_id, topic, url))
        else:
            topic = _MODELS[iso_week % len(_MODELS)].name
            campaign_id = f"{week_id}-{topic}"
            url = f"https://dealer.example/models/{topic}?utm_campaign={campaign_id}"
            out.append(_Campaign(day, campaign_id, topic, url))
    return tuple(out)


# --------------------------------------------------------------------------
# Customer life: when a customer can be active at all
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Life:
    """One activity envelope shared by every event type, so a churned or
    silent customer is silent everywhere, as lifecycle rules expect."""

    join: int
    existing: bool = False  # already a customer before the log starts
    fade_start: int = _NEVER
    fade_end: int = _NEVER
    gap_start: int = _NEVER
    gap_end: int = _NEVER

    def level(self, day: int) -> float:
        if day < self.join or self.gap_start <= day < self.gap_end:
            return 0.0
        if day < self.fade_start:
            return 1.0
        if day >= self.fade_end:
            return 0.0
        return (self.fade_end - day) / (self.fade_end - self.fade_start)

    def email_level(self, day: int, floor: float) -> float:
        """Churned customers still skim the odd newsletter; silent ones don't."""
        if day < self.join or self.gap_start <= day < self.gap_end:
            return 0.0
        return max(self.level(day), floor)


def _join(rng: random.Random, n_days: int, existing_share: float) -> _Life:
    """Newcomers join uniformly over the window so lifecycle 'new' shows up
    throughout, not only at the start."""
    if rng.random() < existing_share:
        return _Life(join=0, existing=True)
    return _Life(join=rng.randrange(n_days))


def _poisson_days(
    rng: random.Random,
    per_year: float,
    life: _Life,
    factor: Sequence[float],
    factor_max: float,
) -> list[int]:
    """Thinning (Lewis-Shedler) costs one draw per *event*, not per day,
    which keeps 40k customers x 365 days fast while still honouring the
    seasonal, weekly and lifecycle modulation."""
    bound = per_year / 365.0 * factor_max
    if bound <= 0.0:
        return []
    n_days = len(factor)
    t = float(life.join)
    out: list[int] = []
    while True:
        t += rng.expovariate(bound)
        if t >= n_days:
            return out
        day = int(t)
        if rng.random() * factor_max < factor[day] * life.level(day):
            out.append(day)


# --------------------------------------------------------------------------
# Event sink: ids, field layout and the amount invariant live in one place
# --------------------------------------------------------------------------


class _Sink:
    """Owns event-id numbering so ids are unique and stable per customer
    regardless of how the simulation interleaves event types."""

    __slots__ = ("_out", "customer_id", "_counts", "_begin", "trait_updates")

    def __init__(self, out: list[Event], customer_id: str) -> None:
        self._out = out
        self.customer_id = customer_id
        self._counts = {"o": 0, "e": 0, "k": 0, "v": 0, "p": 0, "x": 0}
        self._begin = len(out)  # this customer's events are out[_begin:]
        self.trait_updates: list[tuple[int, dict[str, Any]]] = []

    def _next_id(self, prefix: str) -> str:
        n = self._counts[prefix] + 1
        self._counts[prefix] = n
        return f"{prefix}-{self.customer_id}-{n}"

    def visit(self, ts: int, page: str, source: str) -> None:
        self._out.append({
            "event_id": self._next_id("v"), "type": "visit",
            "customer_id": self.customer_id, "ts": ts,
            "page": page, "source": source, **_PAGE_PROPERTIES.get(page, {}),
        })

    @property
    def orders_so_far(self) -> int:
        return self._counts["o"]

    @property
    def last(self) -> Event:
        """The event just written, so a derived follow-up (a ticket, an inquiry) can key on its id."""
        return self._out[-1]

    def span(self, low: int, high: int) -> tuple[int, int] | None:
        """Times of this customer's first and last event inside ``[low, high)``, None if none is."""
        times = [e["ts"] for e in self._out[self._begin:] if low <= e["ts"] < high]
        return (min(times), max(times)) if times else None

    def email_open(self, ts: int, campaign_id: str) -> None:
        self._out.append({
            "event_id": self._next_id("e"), "type": "email_open",
            "customer_id": self.customer_id, "ts": ts, "campaign_id": campaign_id,
        })

    def click(self, ts: int, url: str, campaign_id: str) -> None:
        self._out.append({
            "event_id": self._next_id("k"), "type": "click",
            "customer_id": self.customer_id, "ts": ts,
            "url": url, "campaign_id": campaign_id,
        })

    def order(
        self, ts: int, items: list[dict[str, Any]], channel: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Amount is derived here so it can never disagree with the items."""
        event: Event = {
            "event_id": self._next_id("o"), "type": "order",
            "customer_id": self.customer_id, "ts": ts,
            "amount": round(sum(i["qty"] * i["price"] for i in items), 2),
            "currency": "EUR", "items": items, "channel": channel,
        }
        if extra:
            event.update(extra)
        self._out.append(event)

    def update_traits(self, ts: int, traits: dict[str, Any]) -> None:
        """Trait changes met during the simulation (a lead form's answer) wait for
        `_write_profiles`, which numbers all profile events in time order: p-1 is the first."""
        self.trait_updates.append((ts, traits))

    def profile(self, ts: int, traits: dict[str, Any]) -> None:
        self._out.append({
            "event_id": self._next_id("p"), "type": "profile",
            "customer_id": self.customer_id, "ts": ts, "traits": traits,
        })

    def custom(self, ts: int, name: str, properties: dict[str, Any]) -> None:
        self._out.append({
            "event_id": self._next_id("x"), "type": "custom",
            "customer_id": self.customer_id, "ts": ts, "name": name, "properties": properties,
        })


def _page_times(rng: random.Random, n: int, anchor_ms: int, before: bool) -> list[int]:
    """Page views a few minutes apart; ``before`` anchors the session's end
    (e.g. just ahead of an order) instead of its start."""
    gaps = [rng.randint(20 * _SECOND_MS, 5 * _MINUTE_MS) for _ in range(n - 1)]
    first = anchor_ms - sum(gaps) if before else anchor_ms
    return list(itertools.accumulate(gaps, initial=first))


def _session(
    rng: random.Random, sink: _Sink, pages: Sequence[str], source: str,
    anchor_ms: int, before: bool = False,
) -> None:
    for ts, page in zip(_page_times(rng, len(pages), anchor_ms, before), pages):
        sink.visit(ts, page, source)


def _respond_to_campaigns(
    rng: random.Random,
    sink: _Sink,
    cal: _Calendar,
    life: _Life,
    open_rate: float,
    click_rate: float,
    floor: float,
    on_click: Callable[[int, _Campaign], None] | None,
) -> None:
    """Opens trail the shared send by hours (exponential, capped) and clicks
    trail opens by minutes, giving the send-open-click funnel real shape."""
    batch_ms = rng.randint(0, 90) * _MINUTE_MS  # ESPs send in batches
    first = bisect.bisect_left(cal.campaign_days, life.join)
    for campaign in cal.campaigns[first:]:
        level = life.email_level(campaign.day, floor)
        if level <= 0.0 or rng.random() >= open_rate * level:
            continue
        delay = min(int(rng.expovariate(1.0 / _OPEN_DELAY_MEAN_MS)), _OPEN_DELAY_CAP_MS)
        open_ms = cal.day_ms(campaign.day) + _SEND_OFFSET_MS + batch_ms + delay
        sink.email_open(open_ms, campaign.campaign_id)
        if rng.random() < click_rate:
            click_ms = open_ms + rng.randint(5 * _SECOND_MS, 15 * _MINUTE_MS)
            sink.click(click_ms, campaign.url, campaign.campaign_id)
            if on_click is not None:
                on_click(click_ms, campaign)


# --------------------------------------------------------------------------
# E-commerce profile
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Product:
    sku: str
    category: str
    price: float
    page: str


# name, sku prefix, min price, max price, popularity
_CATEGORY_SPECS: tuple[tuple[str, str, float, float, float], ...] = (
    ("shoes", "SH", 25.0, 180.0, 1.3),
    ("dresses", "DR", 20.0, 220.0, 1.1),
    ("electronics", "EL", 15.0, 1200.0, 1.0),
    ("home", "HO", 8.0, 400.0, 1.0),
    ("beauty", "BE", 4.0, 90.0, 1.2),
    ("sports", "SP", 10.0, 300.0, 0.9),
    ("toys", "TO", 6.0, 150.0, 0.8),
    ("books", "BO", 5.0, 45.0, 0.9),
)
_CATEGORIES = tuple(spec[0] for spec in _CATEGORY_SPECS)
_CATEGORY_CHOICE = _Choice.of([(spec[0], spec[4]) for spec in _CATEGORY_SPECS])
_CATEGORY_PAGES = {c: f"/{c}" for c in _CATEGORIES}
_SKUS_PER_CATEGORY = 40
_PRICE_ENDINGS = _Choice.of([(0.99, 5.0), (0.9, 2.0), (0.5, 1.0), (0.0, 1.0)])


def _build_catalog() -> dict[str, tuple[_Product, ...]]:
    """A fixed catalogue (independent of the caller's seed) means a SKU has
    the same price in every log, like a real shop.  Log-uniform prices give
    the long tail of cheap items with a few expensive ones."""
    rng = random.Random("tagstream-catalog-v1")  # noqa: S311 - synthetic data, not secrets
    catalog: dict[str, tuple[_Product, ...]] = {}
    for name, prefix, low, high, _ in _CATEGORY_SPECS:
        prices = sorted(
            round(int(low * (high / low) ** rng.random()) + _PRICE_ENDINGS.pick(rng), 2)
            for _ in range(_SKUS_PER_CATEGORY)
        )
        catalog[name] = tuple(
            _Product(f"{prefix}{n:03d}", name, price, f"/{name}/{prefix}{n:03d}")
            for n, price in enumerate(prices, start=1)
        )
    return catalog


_CATALOG = _build_catalog()

_COUPONS_BY_MONTH = (
    "", "WINTER10", "WINTER10", "SPRING10", "SPRING10", "SPRING15", "SUMMER10",
    "SUMMER15", "SUMMER10", "AUTUMN10", "AUTUMN10", "BLACKFRIDAY", "XMAS20",
)
_QTY = _Choice.of([(1, 0.82), (2, 0.14), (3, 0.04)])
_BULK_QTY = _Choice.of([(1, 0.6), (2, 0.28), (3, 0.12)])
_BROWSE_ENTRY = ("/", "/sale", "/new")


@dataclass(frozen=True, slots=True)
class _EcomBehaviour:
    orders_per_year: float
    browse_per_year: float
    subscribed: float
    open_rate: float
    click_rate: float
    email_floor: float
    price_skew: float  # <1 favours expensive SKUs, >1 cheap ones
    items: _Choice  # basket size 1..4
    bulk: bool
    coupon_rate: float
    night_share: float
    store_share: float
    existing_share: float


def _eb(
    orders: float, browse: float, open_rate: float, click: float, skew: float,
    items: tuple[float, float, float, float], coupon: float, *,
    floor: float = 0.0, night: float = 0.0, store: float = 0.12,
    existing: float = 0.45, subscribed: float = 0.85, bulk: bool = False,
) -> _EcomBehaviour:
    return _EcomBehaviour(
        orders_per_year=orders, browse_per_year=browse, subscribed=subscribed,
        open_rate=open_rate, click_rate=click, email_floor=floor,
        price_skew=skew, items=_Choice.of(list(zip((1, 2, 3, 4), items))),
        bulk=bulk, coupon_rate=coupon, night_share=night, store_share=store,
        existing_share=existing,
    )


_ECOM_BEHAVIOUR: dict[str, _EcomBehaviour] = {
    "loyal_high_spender": _eb(18, 4, 0.4, 0.35, 0.35, (0.3, 0.35, 0.2, 0.15), 0.08,
                              store=0.15, existing=0.7),
    "occasional": _eb(5, 2.5, 0.18, 0.25, 1.0, (0.55, 0.3, 0.1, 0.05), 0.12),
    "one_time": _eb(0, 1, 0.06, 0.15, 1.0, (0.6, 0.3, 0.07, 0.03), 0.25, existing=0.3),
    "churning": _eb(9, 4, 0.25, 0.25, 1.0, (0.5, 0.3, 0.12, 0.08), 0.12,
                    floor=0.15, existing=0.75),
    "reactivated": _eb(6, 4, 0.22, 0.3, 1.0, (0.5, 0.3, 0.12, 0.08), 0.15, existing=0.85),
    "email_prospect": _eb(0, 0, 0.35, 0.3, 1.0, (1.0, 0.0, 0.0, 0.0), 0.0,
                          existing=0.5, subscribed=1.0),
    "bargain_hunter": _eb(7, 4, 0.45, 0.45, 3.0, (0.5, 0.3, 0.15, 0.05), 0.85, bulk=True),
    "night_owl": _eb(6, 4, 0.2, 0.3, 1.0, (0.55, 0.3, 0.1, 0.05), 0.12,
                     night=0.85, store=0.0),
}


@dataclass(frozen=True, slots=True)
class _Shopper:
    archetype: str
    behaviour: _EcomBehaviour
    life: _Life
    favourites: tuple[str, ...]
    device: str  # "web" or "app": the online channel this person prefers
    channels: _Choice


def _make_shopper(rng: random.Random, archetype: str, n_days: int) -> _Shopper:
    b = _ECOM_BEHAVIOUR[archetype]
    life = _ecommerce_life(rng, archetype, _join(rng, n_days, b.existing_share), n_days)
    favourites: list[str] = []
    for _ in range(rng.randint(2, 3)):
        category = _CATEGORY_CHOICE.pick(rng)
        if category not in favourites:
            favourites.append(category)
    device = "app" if rng.random() < 0.45 else "web"
    other = "web" if device == "app" else "app"
    online = 1.0 - b.store_share
    channels = _Choice.of([(device, online * 0.8), (other, online * 0.2), ("store", b.store_share)])
    return _Shopper(archetype, b, life, tuple(favourites), device, channels)


def _ecommerce_life(rng: random.Random, archetype: str, life: _Life, n_days: int) -> _Life:
    """Churners fade linearly to zero inside the window; reactivated
    customers buy, then go completely silent for 100-200 days."""
    if archetype == "churning":
        span = max(1, n_days - life.join)
        fade_end = life.join + max(7, int(span * rng.uniform(0.35, 0.85)))
        return _Life(life.join, life.existing, fade_start=life.join, fade_end=fade_end)
    if archetype == "reactivated":
        gap_start = life.join + rng.randint(15, 60)
        gap_end = gap_start + rng.randint(100, 200)
        return _Life(life.join, life.existing, gap_start=gap_start, gap_end=gap_end)
    return life


def _ecommerce_order_days(rng: random.Random, shopper: _Shopper, cal: _Calendar) -> list[int]:
    """Newcomers 'join' by buying; archetype-specific anchors (the single
    purchase, the comeback order) are forced so every archetype is visible
    even in short windows."""
    life, n_days = shopper.life, cal.n_days
    if shopper.archetype == "email_prospect":
        return []
    if shopper.archetype == "one_time":
        return [rng.randrange(n_days) if life.existing else life.join]
    days = [] if life.existing else [life.join]
    if shopper.archetype == "reactivated":
        if life.existing:
            days.append(rng.randrange(life.join, life.gap_start))
        comeback = life.gap_end + rng.randint(0, 7)
        if comeback < n_days:
            days.append(comeback)
    b = shopper.behaviour
    days += _poisson_days(rng, b.orders_per_year, life, cal.order_factor, cal.order_max)
    days = [d for d in days if d < n_days]
    days.sort()
    return days


def _order_time_ms(rng: random.Random, shopper: _Shopper, channel: str) -> int:
    if channel == "store":
        return _STORE_HOURS.draw_ms(rng)
    if rng.random() < shopper.behaviour.night_share:
        return _NIGHT_HOURS.draw_ms(rng)
    return _SHOPPING_HOURS.draw_ms(rng)


def _pick_product(rng: random.Random, shopper: _Shopper) -> _Product:
    """Skewing the rank in a price-sorted list makes basket value an
    archetype trait (high spenders vs bargain hunters) without per-archetype
    catalogues."""
    if rng.random() < 0.75:
        category = shopper.favourites[int(rng.random() * len(shopper.favourites))]
    else:
        category = _CATEGORY_CHOICE.pick(rng)
    products = _CATALOG[category]
    rank = int(len(products) * rng.random() ** shopper.behaviour.price_skew)
    return products[min(rank, len(products) - 1)]


def _basket(rng: random.Random, shopper: _Shopper) -> tuple[list[dict[str, Any]], list[_Product]]:
    qty_choice = _BULK_QTY if shopper.behaviour.bulk else _QTY
    products = [_pick_product(rng, shopper) for _ in range(shopper.behaviour.items.pick(rng))]
    items = [
        {"sku": p.sku, "category": p.category, "qty": qty_choice.pick(rng), "price": p.price}
        for p in products
    ]
    return items, products


def _coupon(rng: random.Random, shopper: _Shopper, month: int, first: bool) -> str | None:
    if first and rng.random() < 0.3:
        return "WELCOME10"
    if rng.random() < shopper.behaviour.coupon_rate:
        return _COUPONS_BY_MONTH[month]
    return None


def _entry_page(rng: random.Random, category: str, generic_share: float) -> str:
    """Sessions start on the home/sale/new pages or straight on a category,
    as deep links from search and ads do."""
    if rng.random() < generic_share:
        return _BROWSE_ENTRY[int(rng.random() * len(_BROWSE_ENTRY))]
    return _CATEGORY_PAGES[category]


def _ecommerce_order(
    rng: random.Random, sink: _Sink, cal: _Calendar, shopper: _Shopper, day: int, first: bool,
) -> None:
    """Most online orders are preceded by a browsing session ending minutes
    before checkout, so 'visit then buy' funnels can be measured."""
    channel = shopper.channels.pick(rng)
    ts = cal.day_ms(day) + _order_time_ms(rng, shopper, channel)
    items, products = _basket(rng, shopper)
    coupon = _coupon(rng, shopper, cal.months[day], first)
    extra: dict[str, Any] = {"coupon": coupon} if coupon else {}
    if channel != "store":
        extra["delivery"] = _delivery(sink)
    sink.order(ts, items, channel, extra)
    _support_ticket(sink, sink.last)
    if channel != "store" and rng.random() < 0.55:
        entry = _entry_page(rng, products[0].category, generic_share=0.5)
        pages = [entry, *(p.page for p in products[:2]), "/cart"]
        end = ts - rng.randint(30 * _SECOND_MS, 8 * _MINUTE_MS)
        _session(rng, sink, pages, channel, end, before=True)


_DELIVERIES = ("home", "pickup", "locker")


def _delivery(sink: _Sink) -> str:
    """Each shopper has a usual delivery (from the customer id) and every fourth order goes home
    (a gift, a bulky item). Derived, not drawn: the random stream, and so every other property
    of the log, is the same as before deliveries were added."""
    usual = _DELIVERIES[zlib.crc32(sink.customer_id.encode()) % len(_DELIVERIES)]
    return "home" if sink.orders_so_far % 4 == 3 else usual


_TICKET_SHARE = 1 / 20
_TICKET_TOPICS = ("delivery", "refund", "product")


def _support_ticket(sink: _Sink, order: Event) -> None:
    """About one order in twenty is followed a day or two later by a support ticket. Which orders,
    when and about what come from the order id (`_derived`), not the RNG; a store purchase has
    no delivery to complain about."""
    order_id = order["event_id"]
    if _derived(order_id, "ticket") >= _TICKET_SHARE:
        return
    topics = _TICKET_TOPICS if "delivery" in order else _TICKET_TOPICS[1:]
    topic = topics[int(_derived(order_id, "ticket-topic") * len(topics))]
    ts = order["ts"] + _DAY_MS + int(_derived(order_id, "ticket-delay") * _DAY_MS)
    sink.custom(ts, "support_ticket", {"topic": topic})


def _browse_session(rng: random.Random, sink: _Sink, cal: _Calendar, shopper: _Shopper, day: int) -> None:
    night = rng.random() < shopper.behaviour.night_share
    start = cal.day_ms(day) + (_NIGHT_HOURS if night else _SHOPPING_HOURS).draw_ms(rng)
    source = shopper.device if rng.random() < 0.75 else ("search" if rng.random() < 0.7 else "social")
    pages = [_entry_page(rng, shopper.favourites[0], generic_share=0.4)]
    for _ in range(rng.randint(0, 2)):
        pages.append(_pick_product(rng, shopper).page)
    _session(rng, sink, pages, source, start)


def _simulate_ecommerce(rng: random.Random, sink: _Sink, cal: _Calendar) -> None:
    archetype = _ARCHETYPE_CHOICE["ecommerce"].pick(rng)
    shopper = _make_shopper(rng, archetype, cal.n_days)
    b, life = shopper.behaviour, shopper.life
    for n, day in enumerate(_ecommerce_order_days(rng, shopper, cal)):
        _ecommerce_order(rng, sink, cal, shopper, day, first=(n == 0 and not life.existing))
    for day in _poisson_days(rng, b.browse_per_year, life, cal.browse_factor, cal.browse_max):
        _browse_session(rng, sink, cal, shopper, day)
    if rng.random() >= b.subscribed:
        return

    def land(click_ms: int, campaign: _Campaign) -> None:
        # Prospects are email-only by definition: they never reach the site.
        if archetype != "email_prospect" and rng.random() < 0.35:
            pages = [_CATEGORY_PAGES[campaign.topic]]
            pages += [_pick_product(rng, shopper).page for _ in range(rng.randint(0, 2))]
            _session(rng, sink, pages, "email", click_ms + rng.randint(2_000, 20_000))

    _respond_to_campaigns(rng, sink, cal, life, b.open_rate, b.click_rate, b.email_floor, land)


# --------------------------------------------------------------------------
# Auto (car dealership) profile
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Model:
    name: str
    band: str
    low: int  # prices end in 90, stepping by 100
    high: int


_MODELS = (
    _Model("lumo", "entry", 15_090, 19_990),
    _Model("vento", "entry", 17_490, 24_990),
    _Model("strada", "mid", 25_990, 34_990),
    _Model("kappa", "mid", 31_990, 44_990),
    _Model("orion", "premium", 46_990, 62_990),
    _Model("zenith", "premium", 59_990, 79_990),
)
_MODELS_BY_BAND = {band: tuple(m for m in _MODELS if m.band == band) for band in ("entry", "mid", "premium")}
_MODEL_PAGES = {m.name: f"/models/{m.name}" for m in _MODELS}
_TEST_DRIVE_PAGES = {m.name: f"/test-drive/{m.name}" for m in _MODELS}
_AUTO_EXTRA_PAGES = ("/financing", "/compare", "/offers")
# What a model or test-drive page tells about the visitor's interest, sent with the visit.
_PAGE_PROPERTIES = {
    page: {"model": m.name, "price_band": m.band}
    for m in _MODELS
    for page in (_MODEL_PAGES[m.name], _TEST_DRIVE_PAGES[m.name])
}
# The kind of after-sales work a service order is, from its first item.
_SERVICE_KIND = {"SRV-OIL": "maintenance", "SRV-INSPECTION": "maintenance", "SRV-MAJOR": "maintenance",
                 "SRV-BATTERY": "repair", "SRV-BRAKES": "repair", "SRV-TIRES": "tires"}
# sku, min, max price: totals stay within 80-1500 EUR.
_SERVICES = (
    ("SRV-OIL", 80, 160), ("SRV-INSPECTION", 90, 220), ("SRV-BATTERY", 110, 260),
    ("SRV-BRAKES", 180, 650), ("SRV-TIRES", 280, 900), ("SRV-MAJOR", 450, 1300),
)
_SERVICE_CHOICE = _Choice.of([(s, w) for s, w in zip(_SERVICES, (4, 3, 1, 1.5, 1.5, 1))])
_SERVICE_MAX_TOTAL = 1500


@dataclass(frozen=True, slots=True)
class _AutoBehaviour:
    browse_per_year: float
    service_per_year: float
    subscribed: float
    open_rate: float
    click_rate: float
    existing_share: float
    bands: _Choice


_AUTO_BEHAVIOUR: dict[str, _AutoBehaviour] = {
    "first_time_researcher": _AutoBehaviour(
        2.0, 1.5, 0.8, 0.25, 0.35, 0.3,
        _Choice.of([("entry", 0.5), ("mid", 0.38), ("premium", 0.12)])),
    "service_only": _AutoBehaviour(
        1.0, 2.5, 0.7, 0.12, 0.2, 0.6,
        _Choice.of([("entry", 0.4), ("mid", 0.45), ("premium", 0.15)])),
    "loyal_family": _AutoBehaviour(
        4.0, 3.0, 0.95, 0.45, 0.4, 0.85,
        _Choice.of([("entry", 0.15), ("mid", 0.5), ("premium", 0.35)])),
    "browser": _AutoBehaviour(
        6.0, 0.0, 0.85, 0.3, 0.3, 0.4,
        _Choice.of([("entry", 0.35), ("mid", 0.4), ("premium", 0.25)])),
}


@dataclass(frozen=True, slots=True)
class _Household:
    archetype: str
    behaviour: _AutoBehaviour
    life: _Life
    model: _Model  # the model they want (or own)
    interests: tuple[_Model, ...]


def _make_household(rng: random.Random, archetype: str, n_days: int) -> _Household:
    b = _AUTO_BEHAVIOUR[archetype]
    life = _join(rng, n_days, b.existing_share)
    band = b.bands.pick(rng)
    model = rng.choice(_MODELS_BY_BAND[band])
    others = [m for m in _MODELS if m is not model]
    interests = (model, *rng.sample(others, rng.randint(1, 2)))
    return _Household(archetype, b, life, model, interests)


def _store_day(cal: _Calendar, day: int) -> int:
    """The dealership is closed on Sundays; showroom events slide to Monday."""
    return day + 1 if cal.weekday(day) == _SUNDAY else day


def _model_session(rng: random.Random, sink: _Sink, cal: _Calendar, home: _Household, day: int) -> None:
    """Researchers keep coming back to their favourite model, with the odd
    comparison or financing page in between."""
    pages: list[str] = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.55:
            pages.append(_MODEL_PAGES[home.model.name])
        elif roll < 0.85:
            pages.append(_MODEL_PAGES[home.interests[int(rng.random() * len(home.interests))].name])
        else:
            pages.append(_AUTO_EXTRA_PAGES[int(rng.random() * 3)])
    _session(rng, sink, pages, "web", cal.day_ms(day) + _SHOPPING_HOURS.draw_ms(rng))
    _inquiry(sink, home)


_INQUIRY_SHARE = 1 / 6
_INQUIRY_TOPICS = _Choice.of([("price", 0.5), ("availability", 0.3), ("trade_in", 0.2)])


def _inquiry(sink: _Sink, home: _Household) -> None:
    """About one research session in six ends with the dealer's contact form, a few minutes after
    the last page, about that page's model (the household's own after a financing or comparison
    page). Decided by the last page view's id (`_derived`), not the RNG."""
    last = sink.last
    key = last["event_id"]
    if _derived(key, "inquiry") >= _INQUIRY_SHARE:
        return
    ts = last["ts"] + _MINUTE_MS + int(_derived(key, "inquiry-delay") * 9 * _MINUTE_MS)
    properties = {"model": last.get("model", home.model.name),
                  "topic": _INQUIRY_TOPICS.at(_derived(key, "inquiry-topic"))}
    sink.custom(ts, "inquiry", properties)


def _showroom_visit(rng: random.Random, sink: _Sink, cal: _Calendar, model: _Model, day: int,
                    test_drive: bool) -> None:
    """A test drive is booked on the website two days ahead (at noon: derived, not drawn); the
    booking form asks for a budget, answered with the booked model's band (a profile update)."""
    day = _store_day(cal, day)
    page = _TEST_DRIVE_PAGES[model.name] if test_drive else _MODEL_PAGES[model.name]
    sink.visit(cal.day_ms(day) + _STORE_HOURS.draw_ms(rng), page, "showroom")
    if test_drive and day >= 2:
        booking_ms = cal.day_ms(day - 2) + 12 * 3_600_000
        sink.visit(booking_ms, page, "web")
        sink.update_traits(booking_ms, {"budget": model.band})


def _vehicle_order(rng: random.Random, sink: _Sink, cal: _Calendar, model: _Model, day: int) -> None:
    day = _store_day(cal, day)
    price = float(model.low + 100 * rng.randint(0, (model.high - model.low) // 100))
    item = {"sku": model.name, "category": "vehicle", "qty": 1, "price": price}
    sink.order(cal.day_ms(day) + _STORE_HOURS.draw_ms(rng), [item], "store", {"budget_band": model.band})


def _service_order(rng: random.Random, sink: _Sink, cal: _Calendar, day: int) -> None:
    """A quarter of services are booked online first, leaving a web visit
    trail a few days ahead of the workshop visit."""
    day = _store_day(cal, day)
    items: list[dict[str, Any]] = []
    total = 0.0
    for _ in range(1 if rng.random() < 0.7 else 2):
        sku, low, high = _SERVICE_CHOICE.pick(rng)
        price = float(rng.randint(low, high))
        if total + price > _SERVICE_MAX_TOTAL:
            break
        total += price
        items.append({"sku": sku, "category": "service", "qty": 1, "price": price})
    booked_online = rng.random() < 0.25
    if booked_online:
        booking_ms = cal.day_ms(day - rng.randint(1, 6)) + _SHOPPING_HOURS.draw_ms(rng)
        _session(rng, sink, ("/service", "/service/booking"), "web", booking_ms)
    channel = "web" if booked_online else "store"
    sink.order(cal.day_ms(day) + _STORE_HOURS.draw_ms(rng), items, channel, {"service": _SERVICE_KIND[items[0]["sku"]]})


def _purchase_journey(rng: random.Random, sink: _Sink, cal: _Calendar, home: _Household,
                      first_day: int, length: int, base_buy: float) -> int | None:
    """Research sessions, then showroom and test drive near the end; a test
    drive makes the purchase much likelier, as dealers observe."""
    end = first_day + length
    _model_session(rng, sink, cal, home, first_day)
    for _ in range(rng.randint(2, 8)):
        _model_session(rng, sink, cal, home, first_day + rng.randrange(length))
    if rng.random() < 0.6:
        _showroom_visit(rng, sink, cal, home.model, end - rng.randint(3, 14), test_drive=False)
    drove = rng.random() < 0.65
    if drove:
        _showroom_visit(rng, sink, cal, home.model, end - rng.randint(0, 7), test_drive=True)
    if rng.random() < (base_buy if drove else base_buy / 3):
        _vehicle_order(rng, sink, cal, home.model, end)
        return end
    return None


def _service_days(rng: random.Random, home: _Household, life: _Life, cal: _Calendar) -> list[int]:
    days = [] if life.existing else [life.join]
    days += _poisson_days(rng, home.behaviour.service_per_year, life, cal.order_factor, cal.order_max)
    return [d for d in days if d < cal.n_days]


def _simulate_auto(rng: random.Random, sink: _Sink, cal: _Calendar) -> None:
    archetype = _ARCHETYPE_CHOICE["auto"].pick(rng)
    home = _make_household(rng, archetype, cal.n_days)
    b, life = home.behaviour, home.life
    if archetype == "first_time_researcher":
        bought = _purchase_journey(rng, sink, cal, home, life.join, rng.randint(20, 90), 0.75)
        if bought is not None:
            for day in _service_days(rng, home, _Life(join=bought + 60, existing=True), cal):
                _service_order(rng, sink, cal, day)
    elif archetype in ("service_only", "loyal_family"):
        for day in _service_days(rng, home, life, cal):
            _service_order(rng, sink, cal, day)
        if archetype == "loyal_family" and rng.random() < 0.35:
            journey_start = life.join + rng.randrange(cal.n_days - life.join)
            _purchase_journey(rng, sink, cal, home, journey_start, rng.randint(10, 40), 0.9)
    elif rng.random() < 0.2:  # browsers occasionally drop by the showroom
        _showroom_visit(rng, sink, cal, home.model, life.join + rng.randrange(cal.n_days - life.join), False)
    for day in _poisson_days(rng, b.browse_per_year, life, cal.browse_factor, cal.browse_max):
        _model_session(rng, sink, cal, home, day)
    if rng.random() >= b.subscribed:
        return

    def land(click_ms: int, campaign: _Campaign) -> None:
        if rng.random() < 0.5:
            sink.visit(click_ms + rng.randint(2_000, 20_000), _MODEL_PAGES[campaign.topic], "web")

    _respond_to_campaigns(rng, sink, cal, life, b.open_rate, b.click_rate, 0.0, land)


# --------------------------------------------------------------------------
# Profiles: who the customer is, written once the simulation is done
# --------------------------------------------------------------------------

_REGIONS = _Choice.of([("home", 0.8), ("out_of_town", 0.2)])
_GENDERS = _Choice.of([("female", 0.5), ("male", 0.42), ("undisclosed", 0.08)])
_COMPANY_SIZES = _Choice.of([("small", 0.6), ("medium", 0.3), ("large", 0.1)])
_CONSENT_SHARE = 0.85
_BUSINESS_SHARE = 0.10
_WITHDRAWAL_SHARE = 0.05 / _CONSENT_SHARE  # of consenting customers: about 5 % of all
_YOUNGEST_AGE = 18
_OLDEST_AGE = 80
_TraitsOf = Callable[[str, _Calendar], dict[str, Any]]


def _years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (February 28 for a February 29 in a common year)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _birth_date(customer: str, cal: _Calendar) -> date:
    """Uniform over the birth dates that make a customer 18 to 80 years old on the log's first day,
    so age rules see every band from the start and some customers cross one during the log."""
    first_day = _EPOCH_DATE + timedelta(days=cal.first_midnight_ms // _DAY_MS)
    latest = _years_before(first_day, _YOUNGEST_AGE)
    earliest = _years_before(first_day, _OLDEST_AGE + 1) + timedelta(days=1)  # not yet 81
    return earliest + timedelta(days=int(_derived(customer, "birth") * ((latest - earliest).days + 1)))


def _person_traits(customer: str, cal: _Calendar) -> dict[str, Any]:
    """Traits of every profile; like every profile choice, derived from the customer id, never drawn."""
    return {
        "region": _REGIONS.at(_derived(customer, "region")),
        "birth_date": _birth_date(customer, cal).isoformat(),
        "email_consent": _derived(customer, "consent") < _CONSENT_SHARE,
    }


def _ecommerce_traits(customer: str, cal: _Calendar) -> dict[str, Any]:
    """A company size is only known (and only sent) for business customers."""
    traits = _person_traits(customer, cal)
    traits["gender"] = _GENDERS.at(_derived(customer, "gender"))
    business = _derived(customer, "business") < _BUSINESS_SHARE
    traits["customer_type"] = "business" if business else "consumer"
    if business:
        traits["company_size"] = _COMPANY_SIZES.at(_derived(customer, "company-size"))
    return traits


def _consent_withdrawal(customer: str, traits: dict[str, Any], first: int, last: int) -> int | None:
    """A few consenting customers withdraw email consent 25-75 % of the way from their first to their
    last event. Their email events are left as they were (every earlier event must stay the same),
    so opens and clicks can still follow a withdrawal."""
    if not traits["email_consent"] or last <= first or _derived(customer, "withdraw") >= _WITHDRAWAL_SHARE:
        return None
    return first + int((last - first) * (0.25 + 0.5 * _derived(customer, "withdraw-at")))


def _write_profiles(sink: _Sink, cal: _Calendar, traits_of: _TraitsOf) -> None:
    """The first profile comes a minute before the customer's first event in the window, so rules
    know the traits before any activity (at the window's start when that minute lies outside it);
    the simulation's trait changes and a consent withdrawal follow. A customer with no event in the
    window gets no profile: nobody would have seen them."""
    span = sink.span(cal.start_ms, cal.end_ms)
    if span is None:
        return
    first, last = span
    opened = max(first - _MINUTE_MS, cal.start_ms)
    traits = traits_of(sink.customer_id, cal)
    updates = [(ts, changed) for ts, changed in sink.trait_updates if opened <= ts < cal.end_ms]
    withdrawn = _consent_withdrawal(sink.customer_id, traits, first, last)
    if withdrawn is not None:
        updates.append((withdrawn, {"email_consent": False}))
    sink.profile(opened, traits)
    for ts, changed in sorted(updates, key=operator.itemgetter(0)):
        sink.profile(ts, changed)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

_ARCHETYPE_CHOICE = {profile: _Choice.of(pairs) for profile, pairs in ARCHETYPE_WEIGHTS.items()}
_SIMULATORS: dict[str, Callable[[random.Random, _Sink, _Calendar], None]] = {
    "ecommerce": _simulate_ecommerce,
    "auto": _simulate_auto,
}
_TRAITS: dict[str, _TraitsOf] = {
    "ecommerce": _ecommerce_traits,
    "auto": _person_traits,  # the budget comes later, from the test-drive booking form
}


def customer_id(index: int, customers: int) -> str:
    """Zero-padded ids sort lexically in index order; six digits covers any
    realistic test log, wider only when needed."""
    return f"c{index:0{max(6, len(str(customers - 1)))}d}"


def _customer_rng(seed: int, profile: str, index: int) -> random.Random:
    # String seeds are hashed with SHA-512 by ``random``: stable across
    # processes, unlike ``hash()``.
    return random.Random(f"{seed}:{profile}:{index}")  # noqa: S311 - synthetic data, not secrets


def _validate(customers: int, days: int, profile: str, start: datetime | None) -> None:
    if customers < 1:
        raise ValueError(f"customers must be >= 1, got {customers}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    if start is not None and start.utcoffset() is None:
        raise ValueError("start must be timezone-aware (e.g. tzinfo=timezone.utc)")


def customer_archetypes(customers: int, seed: int, profile: str = "ecommerce") -> dict[str, str]:
    """Ground-truth labels for a generated log, so classifiers can be scored.

    The archetype is the first draw of each customer's RNG, so this matches
    ``generate_events`` with the same arguments without simulating anything.
    """
    _validate(customers, 1, profile, None)
    choice = _ARCHETYPE_CHOICE[profile]
    return {
        customer_id(i, customers): choice.pick(_customer_rng(seed, profile, i))
        for i in range(customers)
    }


class _TsFormatter:
    """Formats epoch ms as ``YYYY-MM-DDTHH:MM:SS.mmmZ``; the date prefix is
    cached per day because strftime per event would dominate big logs."""

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        day, rest = divmod(ms, _DAY_MS)
        prefix = self._days.get(day)
        if prefix is None:
            d = _EPOCH_DATE + timedelta(days=day)
            prefix = self._days[day] = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"
        hours, rest = divmod(rest, _HOUR_MS)
        minutes, rest = divmod(rest, _MINUTE_MS)
        seconds, millis = divmod(rest, _SECOND_MS)
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def _finalise(raw: list[Event], cal: _Calendar) -> list[Event]:
    """Sorting on integer ms is equivalent to sorting on the fixed-width ts
    string and much cheaper, so formatting happens after the sort."""
    low, high = cal.start_ms, cal.end_ms
    events = [e for e in raw if low <= e["ts"] < high]
    events.sort(key=operator.itemgetter("ts", "event_id"))
    fmt = _TsFormatter()
    for event in events:
        event["ts"] = fmt(event["ts"])
    return events


def generate_events(
    customers: int,
    days: int,
    seed: int,
    profile: str = "ecommerce",
    start: datetime | None = None,
) -> list[dict]:
    """Return a canonical event log covering ``[start, start + days)``,
    sorted by ``(ts, event_id)``; identical arguments give identical logs."""
    _validate(customers, days, profile, start)
    cal = _build_calendar((start or DEFAULT_START).astimezone(timezone.utc), days, profile)
    simulate, traits_of = _SIMULATORS[profile], _TRAITS[profile]
    raw: list[Event] = []
    for index in range(customers):
        rng = _customer_rng(seed, profile, index)
        sink = _Sink(raw, customer_id(index, customers))
        simulate(rng, sink, cal)
        _write_profiles(sink, cal, traits_of)
    return _finalise(raw, cal)
