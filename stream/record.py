"""The snapshot form of one customer's Python `CustomerState`: what an analyst (and the Redis
profile) reads. The native core writes the same record for its own state
(`native/src/engine/snapshot.rs`); the differential tests hold the two to the same bytes."""

from __future__ import annotations

from stream.rules.ruleset import RuleSet
from stream.state import ORDER_INDEX, CustomerState
from stream.timeutil import format_ts


def customer_record(rules: RuleSet, customer_id: str, state: CustomerState, at: int) -> dict[str, object]:
    """Metrics at `at`, moved up to the customer's own clock if that is later."""
    at = max(at, state.clock or at)
    metrics = rules.plan.compute(state, at)
    first_order, last_order = state.first_ts[ORDER_INDEX], state.last_ts[ORDER_INDEX]
    windows = {w.name: metrics[w.name] for w in rules.plan.windows if not w.previous}
    return {
        "customer_id": customer_id,
        "as_of": format_ts(at),
        "orders_total": state.orders_total,
        "revenue_total": state.revenue_cents / 100,
        "events_total": state.events_total,
        "first_order_at": format_ts(first_order) if first_order is not None else None,
        "last_order_at": format_ts(last_order) if last_order is not None else None,
        "days_since_last_order": metrics.get("days_since_last_order"),
        "windows": windows,
        "rfm": {k: metrics.get(f"rfm_{k}") for k in ("r", "f", "m")},
        "updated_at": format_ts(state.changed_at) if state.changed_at is not None else None,
        "tags": dict(sorted(state.tags.items())),
        "pending_events": len(state.pending),
        "late_events": state.late_events,
    }
