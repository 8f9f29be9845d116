"""One customer's timeline: apply events, let time pass, evaluate rules, report what changed.

Everything here happens at an explicit instant of event time; nothing reads a clock.
"""

from __future__ import annotations

from schemas.events import ORDER, Event
from stream.changes import TagChange
from stream.rules.ruleset import RuleSet
from stream.state import ACTIVITY_INDEX, ORDER_INDEX, TYPE_INDEX, CustomerState, count
from stream.timeutil import DAY_MS


_UNSET = object()  # a family never decided for this customer (distinct from a None tag)


def apply_event(rules: RuleSet, state: CustomerState, event: Event) -> None:
    """Fold one event into the totals, windows and counters."""
    index = TYPE_INDEX[event.type]
    ts = event.ts
    first, last = state.first_ts[index], state.last_ts[index]
    state.first_ts[index] = ts if first is None or ts < first else first
    state.last_ts[index] = ts if last is None or ts > last else last
    state.events_total += 1
    day = ts // DAY_MS
    if event.type == ORDER:
        _apply_order(rules, state, event, day, last)
    elif _bucket_alive(state, day, rules.activity_retention_days):
        bucket = state.activity_days.setdefault(day, [0, 0, 0])
        bucket[ACTIVITY_INDEX[event.type]] += 1
    _remember(state, event.event_id, rules.dedup_ids)


def _apply_order(rules: RuleSet, state: CustomerState, event: Event, day: int, previous_order: int | None) -> None:
    state.orders_total += 1
    state.revenue_cents += event.amount_cents
    if previous_order is not None and event.ts >= previous_order:
        if (event.ts - previous_order) // DAY_MS >= rules.reactivation_gap_days:
            state.reactivated_at = event.ts
    if _bucket_alive(state, day, rules.order_retention_days):
        bucket = state.order_days.setdefault(day, [0, 0, 0])
        bucket[0] += 1
        bucket[1] += event.amount_cents
        bucket[2] += event.coupon
    if event.channel:
        count(state.counters, "channel", event.channel)
    for category in event.categories:
        count(state.counters, "category", category)
    band = rules.hour_band(event.ts % DAY_MS // 3_600_000)
    if band:
        count(state.counters, "hour_band", band)


def _bucket_alive(state: CustomerState, day: int, retention_days: int) -> bool:
    """A late event whose day has already been pruned only counts toward lifetime totals."""
    return state.clock is None or day > state.clock // DAY_MS - retention_days


def _remember(state: CustomerState, event_id: str, keep: int) -> None:
    state.recent_ids.append(event_id)
    if len(state.recent_ids) > keep:
        del state.recent_ids[: len(state.recent_ids) - keep]


def evaluate(
    rules: RuleSet, customer_id: str, state: CustomerState, now: int, cause: str | None, trigger: str | None = None
) -> list[TagChange]:
    """Re-decide, at `now`, the families that can have changed: for an event of type `trigger`
    those reading what it moves, for a deadline (`trigger` None) those reading a metric that
    changes right now, and every family on a customer's first evaluation. Return the changes."""
    state.clock = now if state.clock is None or now > state.clock else state.clock
    if len(state.tags) != len(rules.families):
        families, plan = rules.by_trigger[None]
    elif trigger is None:
        families, plan = rules.selection(None, frozenset(rules.plan.changing_at(state, now)))
        _prune(rules, state, now)
    else:
        families, plan = rules.selection(trigger)
    metrics = plan.compute(state, now)
    changes = []
    tags, counters = state.tags, state.counters
    for family in families:
        value, rule = family.decide(metrics, counters)
        name = family.name
        old = tags.get(name, _UNSET)
        if old == value and type(old) is type(value):
            continue
        if old is _UNSET:
            old = None
        tags[name] = value
        changes.append(TagChange(customer_id, name, old, value, now, rule, cause, {k: metrics.get(k) for k in family.reads}))
    if changes:
        state.changed_at = now
    state.next_deadline = rules.plan.next_change(state, now)
    return changes


def _prune(rules: RuleSet, state: CustomerState, now: int) -> None:
    today = now // DAY_MS
    for buckets, keep in ((state.order_days, rules.order_retention_days), (state.activity_days, rules.activity_retention_days)):
        for day in [d for d in buckets if d <= today - keep]:
            del buckets[day]


def advance(
    rules: RuleSet, customer_id: str, state: CustomerState, watermark: int, inclusive: bool = False
) -> list[TagChange]:
    """Replay this customer's due work in event-time order: buffered events strictly before the
    watermark and deadlines at or before it, a deadline first when both fall on the same instant.
    `inclusive` also releases events at the watermark itself: the end of a finite log."""
    changes: list[TagChange] = []
    pending = state.pending
    event_limit = watermark + 1 if inclusive else watermark
    while True:
        deadline = state.next_deadline
        due_deadline = deadline is not None and deadline <= watermark
        due_event = bool(pending) and pending[0].ts < event_limit
        if due_deadline and (not due_event or deadline <= pending[0].ts):
            changes += evaluate(rules, customer_id, state, deadline, None)  # type: ignore[arg-type]
        elif due_event:
            event = pending.pop(0)
            apply_event(rules, state, event)
            changes += evaluate(rules, customer_id, state, event.ts, event.event_id, event.type)
        else:
            return changes


def apply_late(rules: RuleSet, customer_id: str, state: CustomerState, event: Event, watermark: int) -> list[TagChange]:
    """An event older than its partition's watermark: catch the customer up to the watermark, fold
    the event in, and evaluate at the watermark. Earlier changes stand; new ones are stamped now."""
    changes = advance(rules, customer_id, state, watermark)
    state.late_events += 1
    apply_event(rules, state, event)
    now = watermark if state.clock is None or watermark > state.clock else state.clock
    return changes + evaluate(rules, customer_id, state, now, event.event_id, event.type)
