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
from collections.abc import Callable, Iterable
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
        """Precompute the loops' shapes, so the hot path does no name parsing or dispatch: per
        series the age spans with the (name, bucket field) pairs each one sums, the recency
        anchors as getters, and per series the window edges deadlines come from."""
        self._names = [w.name for w in self.windows]
        self._order_spans = _spans_of(self.windows, "order")
        self._activity_spans = _spans_of(self.windows, "activity")
        self._cents = [w.name for w in self.windows if w.cents]
        self._recency = [(name, ANCHORS[name]) for name in self.recency]
        self._steps = [(ANCHORS[name], steps) for name, steps in self.recency_steps.items()]
        self._step_sets = [(name, ANCHORS[name], frozenset(steps)) for name, steps in self.recency_steps.items()]
        self._order_edges = _edges_of(self.deadline_windows, "order")
        self._activity_edges = _edges_of(self.deadline_windows, "activity")
        self._edge_windows = [
            (w.name, w.series == "order", (w.days, 2 * w.days) if w.previous else (w.days,)) for w in self.deadline_windows
        ]
        self._rfm_inputs = (
            frozenset() if self.rfm is None
            else frozenset({"days_since_last_order", self.rfm.frequency_metric, self.rfm.monetary_metric})
        )

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
        values: dict[str, object] = dict.fromkeys(self._names, 0)
        today = now // DAY_MS
        if state.order_days and self._order_spans:
            _sum_windows(values, state.order_days, self._order_spans, today)
        if state.activity_days and self._activity_spans:
            _sum_windows(values, state.activity_days, self._activity_spans, today)
        for name in self._cents:
            values[name] = values[name] / 100  # type: ignore[operator]
        for name, anchor_of_state in self._recency:
            anchor = anchor_of_state(state)
            values[name] = None if anchor is None else (now - anchor) // DAY_MS
        for name in self.lifetime:
            values[name] = _lifetime(state, name)
        if self.rfm is not None:
            values.update(rfm_scores(self.rfm, state, values))
        return values

    def next_change(self, state: CustomerState, now: int) -> int | None:
        """The first instant after `now` at which a metric some rule reads can change by itself:
        a recency threshold, or a bucket with a non-zero count of a window's field crossing that
        window's edge (a bucket whose relevant counts are zero moves no sum: no wake for it)."""
        best: int | None = None
        for anchor_of_state, steps in self._steps:
            anchor = anchor_of_state(state)
            if anchor is None:
                continue
            index = bisect_right(steps, (now - anchor) // DAY_MS)  # first step still ahead of now
            if index < len(steps):
                at = anchor + steps[index] * DAY_MS
                if best is None or at < best:
                    best = at
        today = now // DAY_MS
        if state.order_days and self._order_edges:
            best = _next_edge(state.order_days, self._order_edges, today, best)
        if state.activity_days and self._activity_edges:
            best = _next_edge(state.activity_days, self._activity_edges, today, best)
        return best

    def changing_at(self, state: CustomerState, at: int) -> set[str]:
        """Names of the rule-read metrics that change at exactly `at` (a deadline just reached)."""
        names = set()
        for name, anchor_of_state, steps in self._step_sets:
            anchor = anchor_of_state(state)
            if anchor is not None and (at - anchor) % DAY_MS == 0 and (at - anchor) // DAY_MS in steps:
                names.add(name)
        if at % DAY_MS == 0:
            edge_day = at // DAY_MS
            for name, of_orders, spans in self._edge_windows:
                buckets = state.order_days if of_orders else state.activity_days
                if buckets and any(edge_day - span in buckets for span in spans):
                    names.add(name)
        if names & self._rfm_inputs:
            names |= set(RFM)
        return names


def _sum_windows(values: dict[str, object], buckets: dict[int, list[int]], spans: list, today: int) -> None:
    for day, counts in buckets.items():
        age = today - day
        for low, high, targets in spans:
            if low <= age < high:
                for name, index in targets:
                    values[name] += counts[index]  # type: ignore[operator]


def _next_edge(buckets: dict[int, list[int]], edges: list, today: int, best: int | None) -> int | None:
    """The earliest of `best` and the first instant after today at which a bucket with a non-zero
    count in a window's field crosses that window's edge."""
    for day, counts in buckets.items():
        for span, fields in edges:  # ascending: the first edge still ahead is this bucket's next
            if day + span <= today:
                continue
            for index in fields:
                if counts[index]:
                    break
            else:
                continue
            at = (day + span) * DAY_MS
            if best is None or at < best:
                best = at
            break
    return best


def _spans_of(windows: list[Window], series: str) -> list[tuple[int, int, tuple[tuple[str, int], ...]]]:
    """(lowest age, age bound, the (name, field) pairs summed over it) per distinct span: windows
    over the same days share one age test per bucket."""
    spans: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for w in windows:
        if w.series == series:
            low = w.days if w.previous else 0
            spans.setdefault((low, low + w.days), []).append((w.name, w.field))
    return [(low, high, tuple(targets)) for (low, high), targets in sorted(spans.items())]


def _edges_of(windows: list[Window], series: str) -> list[tuple[int, tuple[int, ...]]]:
    """(days after a bucket's day at which it crosses an edge, the fields whose windows have that
    edge), ascending: a window of N days drops a bucket N days on, a previous-N window takes it in
    then and drops it at 2N."""
    edges: dict[int, set[int]] = {}
    for w in windows:
        if w.series == series:
            for span in (w.days, 2 * w.days) if w.previous else (w.days,):
                edges.setdefault(span, set()).add(w.field)
    return [(span, tuple(sorted(fields))) for span, fields in sorted(edges.items())]


def _typed(which: str, index: int) -> Callable[[CustomerState], int | None]:
    if which == "last":
        return lambda state: state.last_ts[index]
    return lambda state: state.first_ts[index]


def _last_event(state: CustomerState) -> int | None:
    # A plain loop: `max(filter(...), default=None)` costs four times as much on four items.
    newest = None
    for ts in state.last_ts:
        if ts is not None and (newest is None or ts > newest):
            newest = ts
    return newest


def _first_event(state: CustomerState) -> int | None:
    oldest = None
    for ts in state.first_ts:
        if ts is not None and (oldest is None or ts < oldest):
            oldest = ts
    return oldest


def _reactivated(state: CustomerState) -> int | None:
    return state.reactivated_at


# recency metric -> the instant its day count runs from (None: the anchor never happened)
ANCHORS: dict[str, Callable[[CustomerState], int | None]] = {
    name: (
        _reactivated if which == "reactivated"
        else _typed(which, TYPE_INDEX[event_type]) if event_type is not None
        else _last_event if which == "last"
        else _first_event
    )
    for name, (which, event_type) in RECENCY_ANCHORS.items()
}


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
