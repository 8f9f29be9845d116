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

from stream.metric_code import compile_compute, compile_next_change
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
        """Fix the hot path once per plan: `compute` and `next_change` as generated code, and for
        `changing_at` the recency anchors as getters and each deadline window's edges."""
        self._compute = compile_compute(self, ANCHOR_EXPRESSIONS, {**ANCHOR_HELPERS, "rfm_scores": rfm_scores, "rfm": self.rfm})
        self._next_change = compile_next_change(self, ANCHOR_EXPRESSIONS, ANCHOR_HELPERS)
        self._step_sets = [(name, ANCHORS[name], frozenset(steps)) for name, steps in self.recency_steps.items()]
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
        """Every metric of the plan at `now` (generated code: stream/metric_code.py)."""
        return self._compute(state, now)

    def next_change(self, state: CustomerState, now: int) -> int | None:
        """The first instant after `now` at which a metric some rule reads can change by itself:
        a recency threshold, or a bucket with a non-zero count of a window's field crossing that
        window's edge (generated code: stream/metric_code.py)."""
        return self._next_change(state, now)

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


ANCHOR_HELPERS = {"_last_event": _last_event, "_first_event": _first_event}


def _anchor_expression(which: str, event_type: str | None) -> str:
    if which == "reactivated":
        return "state.reactivated_at"
    if event_type is None:
        return f"_{which}_event(state)"
    return f"state.{which}_ts[{TYPE_INDEX[event_type]}]"


# recency metric -> the instant its day count runs from (None: the anchor never happened), as an
# expression over `state` for generated code and as a getter for the deadline search
ANCHOR_EXPRESSIONS = {name: _anchor_expression(*anchor) for name, anchor in RECENCY_ANCHORS.items()}
ANCHORS: dict[str, Callable[[CustomerState], int | None]] = {
    name: eval(f"lambda state: {expression}", dict(ANCHOR_HELPERS))  # noqa: S307 - built from the table above
    for name, expression in ANCHOR_EXPRESSIONS.items()
}


def rfm_scores(scale: RfmScale, state: CustomerState, values: dict[str, object]) -> dict[str, int | None]:
    """Scores exist only for customers who ordered: RFM describes buyers, not prospects."""
    last_order = state.last_ts[ORDER_INDEX]
    if last_order is None:
        return {"rfm_r": None, "rfm_f": None, "rfm_m": None, "rfm_fm": None}
    # Thresholds ascend, so "how many are <= the value" is a bisection.
    r = 5 - bisect_right(scale.recency_days, values["days_since_last_order"])
    f = 1 + bisect_right(scale.frequency, values[scale.frequency_metric])
    m = 1 + bisect_right(scale.monetary, values[scale.monetary_metric])
    return {"rfm_r": r, "rfm_f": f, "rfm_m": m, "rfm_fm": math.floor((f + m) / 2 + 0.5)}
