"""Per-customer state: everything the rules need, kept compact enough for one table value.

Windows have day resolution: one bucket per UTC day with activity, pruned once older than the
longest window any rule looks at. Lifetime totals, first/last timestamps and small counters
(channel, category, hour band) never expire. Events that arrived but are not yet due (the reorder
buffer) live here too, so a restarted worker finds them in its changelog-backed table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.events import EVENT_TYPES, Event

TYPE_INDEX = {name: index for index, name in enumerate(EVENT_TYPES)}
ORDER_INDEX = TYPE_INDEX["order"]
# Order buckets hold [orders, revenue cents, coupon orders]; activity buckets hold
# [email opens, clicks, visits] (orders are not activity: they have their own series).
ORDER_FIELDS = ("orders", "revenue", "coupon_orders")
ACTIVITY_FIELDS = ("opens", "clicks", "visits")
ACTIVITY_INDEX = {"email_open": 0, "click": 1, "visit": 2}
# Counters are capped so a customer buying from 5,000 categories cannot grow state without bound.
MAX_COUNTER_KEYS = 32


@dataclass(slots=True)
class CustomerState:
    first_ts: list[int | None] = field(default_factory=lambda: [None] * len(EVENT_TYPES))
    last_ts: list[int | None] = field(default_factory=lambda: [None] * len(EVENT_TYPES))
    orders_total: int = 0
    revenue_cents: int = 0
    events_total: int = 0
    order_days: dict[int, list[int]] = field(default_factory=dict)
    activity_days: dict[int, list[int]] = field(default_factory=dict)
    reactivated_at: int | None = None
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    recent_ids: list[str] = field(default_factory=list)
    tags: dict[str, object] = field(default_factory=dict)
    pending: list[Event] = field(default_factory=list)
    clock: int | None = None  # event time this customer has been evaluated up to
    next_deadline: int | None = None
    late_events: int = 0
    changed_at: int | None = None  # event time of the last tag change

    def wake_time(self) -> int | None:
        return wake_time(self.next_deadline, self.pending[0].ts if self.pending else None)

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.recent_ids or any(e.event_id == event_id for e in self.pending)


def wake_time(next_deadline: int | None, first_pending_ts: int | None) -> int | None:
    """The lowest watermark at which a customer has work: a deadline is due once the watermark
    reaches it, a buffered event once the watermark has passed it."""
    if first_pending_ts is None:
        return next_deadline
    if next_deadline is None or first_pending_ts + 1 < next_deadline:
        return first_pending_ts + 1
    return next_deadline


def count(counters: dict[str, dict[str, int]], name: str, key: str) -> None:
    """Increment a bounded counter; once full, unseen keys are ignored (the top keys are kept)."""
    bucket = counters.setdefault(name, {})
    if key in bucket or len(bucket) < MAX_COUNTER_KEYS:
        bucket[key] = bucket.get(key, 0) + 1
