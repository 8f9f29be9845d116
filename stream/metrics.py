"""The metrics rules can read, computed for one customer at one instant of event time.

Names follow one grammar so a rule pack can use any declared window without code changes:
- lifetime: `orders_total`, `revenue_total`, `events_total`;
- windows: `<series>_<N>d` (last N days, today included) and `<series>_prev_<N>d` (the N days
  before that), for series `orders`, `revenue`, `coupon_orders` (order windows) and `opens`,
  `clicks`, `visits` (activity windows), N from the pack's `[windows]` section;
- recency in whole days: `days_since_{first,last}_{order,event}`, `days_since_last_{open,click,visit}`,
  `days_since_reactivation` (None when the anchor never happened);
- RFM scores 1-5: `rfm_r`, `rfm_f`, `rfm_m` and `rfm_fm` (round-half-up mean of F and M);
- property metrics, named by the pack (`[metrics.<name>]`, `PropertyMetric`): over one event type's
  properties (a visit's `page`, an order's `delivery`, any top-level field), filtered by a `where`
  predicate, in a window of N days or over the whole history: `count`, `sum` of a numeric property
  (to the hundredth), `distinct` string values, or the `top` (most frequent) string value;
- `tag.<family>`: another family's current value;
- `trait.<name>`: a customer attribute declared in the pack's `[traits]` and set by profile events;
  `age_years`: whole years since a `birth_date` date trait, at the instant of evaluation (each
  birthday is a deadline).

This module is the vocabulary the rule loader checks names against and the plan it hands to the
compiled core (stream.rules.plan_export); the core computes the values (native/src/engine/metrics.rs).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from stream.rules.expressions import CompiledCondition

# Order buckets hold [orders, revenue cents, coupon orders]; activity buckets hold
# [email opens, clicks, visits] (orders are not activity: they have their own series).
ORDER_FIELDS = ("orders", "revenue", "coupon_orders")
ACTIVITY_FIELDS = ("opens", "clicks", "visits")

WINDOW_PATTERN = re.compile(r"^(?P<field>[a-z_]+?)_(?P<prev>prev_)?(?P<days>\d+)d$")
SERIES = {**{name: ("order", i) for i, name in enumerate(ORDER_FIELDS)},
          **{name: ("activity", i) for i, name in enumerate(ACTIVITY_FIELDS)}}
LIFETIME = ("orders_total", "revenue_total", "events_total")
RFM = ("rfm_r", "rfm_f", "rfm_m", "rfm_fm")
RECENCY_ANCHORS = {
    "days_since_last_order": ("last", "order"),
    "days_since_first_order": ("first", "order"),
    "days_since_last_event": ("last", None),
    "days_since_first_event": ("first", None),
    "days_since_last_open": ("last", "email_open"),
    "days_since_last_click": ("last", "click"),
    "days_since_last_visit": ("last", "visit"),
    "days_since_reactivation": ("reactivated", None),
}


@dataclass(frozen=True)
class Window:
    name: str
    series: str  # "order" or "activity"
    field: int
    days: int
    previous: bool
    cents: bool


@dataclass(frozen=True)
class RfmScale:
    """R from recency (fewer days = higher), F and M from two window metrics (more = higher).
    Thresholds ascend; a value below the first scores 1 (or 5 for recency)."""

    recency_days: tuple[float, ...]
    frequency_metric: str
    frequency: tuple[float, ...]
    monetary_metric: str
    monetary: tuple[float, ...]


def parse_window(name: str, order_days: Iterable[int], activity_days: Iterable[int]) -> Window | None:
    match = WINDOW_PATTERN.match(name)
    if not match or match["field"] not in SERIES:
        return None
    series, index = SERIES[match["field"]]
    days = int(match["days"])
    if days not in (order_days if series == "order" else activity_days):
        return None
    return Window(name, series, index, days, bool(match["prev"]), match["field"] == "revenue")


# What each event type can change; everything else stays put until a deadline.
COMMON_TO_EVENTS = {"events_total", "days_since_last_event", "days_since_first_event"}
CHANGED_BY = {
    "order": {"orders_total", "revenue_total", "days_since_last_order", "days_since_first_order",
              "days_since_reactivation", *RFM},
    "email_open": {"days_since_last_open"},
    "click": {"days_since_last_click"},
    "visit": {"days_since_last_visit"},
}
SERIES_OF_TYPE = {"order": ("order", None), "email_open": ("activity", 0), "click": ("activity", 1), "visit": ("activity", 2)}


def changed_by(event_type: str, name: str, window: Window | None) -> bool:
    """Can an event of this type change metric `name` (at a fixed instant)? Profile and custom
    events are not activity: they change only traits and property metrics (checked by the caller)."""
    if event_type not in SERIES_OF_TYPE:
        return False
    if name in COMMON_TO_EVENTS or name in CHANGED_BY[event_type]:
        return True
    if window is None:
        return False
    series, field_index = SERIES_OF_TYPE[event_type]
    return window.series == series and (field_index is None or window.field == field_index)


AGGREGATES = ("count", "sum", "distinct", "top")
TRAIT_TYPES = ("text", "bool", "number", "date")
AGE = "age_years"
BIRTH_DATE = "birth_date"  # the date trait `age_years` counts from
# A text trait lists its values (a closed set keeps every state and the metrics' labels bounded).
MAX_TRAIT_VALUES = 64
# Per customer and property metric, at most this many (day, value) entries of `distinct` and `top`
# are kept: a producer sending a new page per visit cannot grow a state without bound. Beyond it,
# new values are not counted until old ones leave the window.
MAX_PROPERTY_KEYS = 64
# A property's text is cut to this many characters (pages are paths; a 10 KB one is garbage), and
# a number beyond this magnitude is not summed (it would overflow the hundredths kept).
MAX_PROPERTY_CHARS = 256
MAX_PROPERTY_NUMBER = 1e12


@dataclass(frozen=True)
class PropertyMetric:
    """`[metrics.<name>]` of a rule pack: what one event type's properties add up to."""

    name: str
    event_type: str
    aggregate: str  # one of AGGREGATES
    property: str | None  # the property summed, counted distinct or ranked (None for `count`)
    days: int | None  # a window of the last N days (today included); None: the whole history
    where: CompiledCondition | None  # which events count; None: all of the type

    @builtins.property  # the field `property` above shadows the builtin in this class body
    def is_text(self) -> bool:
        return self.aggregate == "top"


FIELD_TYPES = ("text", "number", "bool")


@dataclass(frozen=True)
class CustomEvent:
    """`[events.<name>]` of a rule pack: a kind of custom event (`"type": "custom"`, `"name":
    <name>`) with typed fields, each required unless its type ends in `?`. An event of a declared
    name that lacks a required field or has one of the wrong type is dead-lettered; metrics name
    it as their `event`."""

    name: str
    fields: tuple[tuple[str, str, bool], ...]  # (field, one of FIELD_TYPES, required)


@dataclass(frozen=True)
class Trait:
    """`[traits.<name>]` of a rule pack: a customer attribute profile events set (`type` is one
    of TRAIT_TYPES; a text trait's `values` are the only ones a profile may give it)."""

    name: str
    type: str
    values: tuple[str, ...] = ()

    @property
    def is_text(self) -> bool:
        """Read like a tag: compared with ==/!= or used as true/false (a number is ordered too)."""
        return self.type != "number"


@dataclass
class MetricPlan:
    """What to compute, fixed once per rule pack so the hot path does no name parsing."""

    windows: list[Window] = field(default_factory=list)  # computed (rules and snapshots)
    deadline_windows: list[Window] = field(default_factory=list)  # read by some rule
    recency: list[str] = field(default_factory=list)
    lifetime: list[str] = field(default_factory=list)
    rfm: RfmScale | None = None
    # recency metric -> whole-day offsets at which some rule can flip
    recency_steps: dict[str, tuple[int, ...]] = field(default_factory=dict)
