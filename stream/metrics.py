"""The metrics rules can read, computed for one customer at one instant of event time.

Names follow one grammar so a rule pack can use any declared window without code changes:
- lifetime: `orders_total`, `revenue_total`, `events_total`;
- windows: `<series>_<N>d` (last N days, today included) and `<series>_prev_<N>d` (the N days
  before that), for series `orders`, `revenue`, `coupon_orders` (order windows) and `opens`,
  `clicks`, `visits` (activity windows), N from the pack's `[windows]` section;
- recency in whole days: `days_since_{first,last}_{order,event}`, `days_since_last_{open,click,visit}`,
  `days_since_reactivation` (None when the anchor never happened);
- RFM scores 1-5: `rfm_r`, `rfm_f`, `rfm_m` and `rfm_fm` (round-half-up mean of F and M).

`next_change` answers the question that makes deadlines cheap: after `now`, when is the first
instant at which any metric a rule reads can change with no new event? Between such instants every
rule is constant, so the engine wakes a customer only then.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from stream.state import ACTIVITY_FIELDS, ORDER_FIELDS, ORDER_INDEX, TYPE_INDEX, CustomerState
from stream.timeutil import DAY_MS

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
    """Can an event of this type change metric `name` (at a fixed instant)?"""
    if name in COMMON_TO_EVENTS or name in CHANGED_BY[event_type]:
        return True
    if window is None:
        return False
    series, field_index = SERIES_OF_TYPE[event_type]
    return window.series == series and (field_index is None or window.field == field_index)


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

    def __post_init__(self) -> None:
        self.prepare()

    def prepare(self) -> None:
        """Precompute the loops' shapes: (name, bucket field, lowest age, age bound) per series,
        and the distinct (series, days, previous) edges deadlines come from."""
        self._ranges = {
            series: [(w.name, w.field, w.days if w.previous else 0, w.days * (2 if w.previous else 1))
                     for w in self.windows if w.series == series]
            for series in ("order", "activity")
        }
        self._cents = [w.name for w in self.windows if w.cents]
        self._edges = sorted({(w.series, w.days, w.previous) for w in self.deadline_windows})

    def only(self, names: set[str]) -> "MetricPlan":
        """The same plan restricted to `names` (and what RFM scores need, if any are asked)."""
        if self.rfm is not None and names & set(RFM):
            names = names | {"days_since_last_order", self.rfm.frequency_metric, self.rfm.monetary_metric}
        return MetricPlan(
            windows=[w for w in self.windows if w.name in names],
            deadline_windows=self.deadline_windows,
            recency=[n for n in self.recency if n in names],
            lifetime=[n for n in self.lifetime if n in names],
            rfm=self.rfm if names & set(RFM) else None,
            recency_steps=self.recency_steps,
        )

    def compute(self, state: CustomerState, now: int) -> dict[str, object]:
        values: dict[str, object] = {}
        today = now // DAY_MS
        for series, buckets in (("order", state.order_days), ("activity", state.activity_days)):
            ranges = self._ranges[series]
            if not ranges:
                continue
            for name, *_ in ranges:
                values[name] = 0
            for day, counts in buckets.items():
                age = today - day
                for name, index, low, high in ranges:
                    if low <= age < high:
                        values[name] += counts[index]  # type: ignore[operator]
        for name in self._cents:
            values[name] = values[name] / 100  # type: ignore[operator]
        for name in self.recency:
            anchor = anchor_of(state, name)
            values[name] = None if anchor is None else (now - anchor) // DAY_MS
        for name in self.lifetime:
            values[name] = _lifetime(state, name)
        if self.rfm is not None:
            values.update(rfm_scores(self.rfm, state, values))
        return values

    def next_change(self, state: CustomerState, now: int) -> int | None:
        """The first instant after `now` at which a metric some rule reads can change by itself:
        a recency threshold, or the oldest bucket still inside a window leaving it (it may be an
        empty field of that bucket: waking for nothing is harmless, missing a change is not)."""
        best: int | None = None
        for name, steps in self.recency_steps.items():
            anchor = anchor_of(state, name)
            if anchor is None:
                continue
            for step in steps:
                at = anchor + step * DAY_MS
                if at > now:
                    if best is None or at < best:
                        best = at
                    break
        today = now // DAY_MS
        days = {"order": None, "activity": None}
        for series, window_days, previous in self._edges:
            ordered = days[series]
            if ordered is None:
                ordered = days[series] = sorted(state.order_days if series == "order" else state.activity_days)
            for span in (window_days, 2 * window_days) if previous else (window_days,):
                index = bisect_right(ordered, today - span)  # first bucket still inside the span
                if index < len(ordered):
                    at = (ordered[index] + span) * DAY_MS
                    if best is None or at < best:
                        best = at
        return best


def changing_at(plan: MetricPlan, state: CustomerState, at: int) -> set[str]:
    """Names of the rule-read metrics that change at exactly `at` (a deadline just reached)."""
    names = set()
    for name, steps in plan.recency_steps.items():
        anchor = anchor_of(state, name)
        if anchor is not None and (at - anchor) % DAY_MS == 0 and (at - anchor) // DAY_MS in steps:
            names.add(name)
    if at % DAY_MS == 0:
        edge_day = at // DAY_MS
        for window in plan.deadline_windows:
            buckets = state.order_days if window.series == "order" else state.activity_days
            spans = (window.days, 2 * window.days) if window.previous else (window.days,)
            if any(edge_day - span in buckets for span in spans):
                names.add(window.name)
    if plan.rfm is not None and names & {"days_since_last_order", plan.rfm.frequency_metric, plan.rfm.monetary_metric}:
        names |= set(RFM)
    return names


def anchor_of(state: CustomerState, metric: str) -> int | None:
    which, event_type = RECENCY_ANCHORS[metric]
    if which == "reactivated":
        return state.reactivated_at
    series = state.last_ts if which == "last" else state.first_ts
    if event_type is not None:
        return series[TYPE_INDEX[event_type]]
    present = [ts for ts in series if ts is not None]
    if not present:
        return None
    return max(present) if which == "last" else min(present)


def _lifetime(state: CustomerState, name: str) -> float | int:
    if name == "orders_total":
        return state.orders_total
    if name == "revenue_total":
        return state.revenue_cents / 100
    return state.events_total


def rfm_scores(scale: RfmScale, state: CustomerState, values: dict[str, object]) -> dict[str, int | None]:
    """Scores exist only for customers who ordered: RFM describes buyers, not prospects."""
    last_order = state.last_ts[ORDER_INDEX]
    if last_order is None:
        return {"rfm_r": None, "rfm_f": None, "rfm_m": None, "rfm_fm": None}
    recency = values["days_since_last_order"]
    r = 5 - sum(1 for t in scale.recency_days if recency >= t)  # type: ignore[operator]
    f = 1 + sum(1 for t in scale.frequency if values[scale.frequency_metric] >= t)  # type: ignore[operator]
    m = 1 + sum(1 for t in scale.monetary if values[scale.monetary_metric] >= t)  # type: ignore[operator]
    return {"rfm_r": r, "rfm_f": f, "rfm_m": m, "rfm_fm": math.floor((f + m) / 2 + 0.5)}
