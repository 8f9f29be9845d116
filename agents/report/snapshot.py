"""What a report says about one set of customer records: counts, revenue, tag distributions, RFM.

Records are snapshot records (the JSONL `tagstream backtest --snapshot-out` writes, shaped by
`native/src/engine/snapshot.rs`) or Redis profiles read back by `record_from_hash`. `normalise` is
the one place that knows that shape; it tolerates string-typed numbers, as a flat store gives them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from stream.timeutil import parse_instant

# Families shown first, in this order; any other family follows alphabetically.
PREFERRED_FAMILIES = ("lifecycle", "value_tier", "rfm_segment", "engagement", "churn_risk")
SCORES = range(1, 6)
TOP_CUSTOMERS = 10
COMPARE_ROWS = 24  # a comparison's values beyond these (a free-text family) are one row
OTHER = "(other values)"  # one bar, band or row for the values beyond what a chart can tell apart
NESTED = "(a value nested too deeply to show)"


@dataclass(frozen=True)
class Customer:
    """What the report needs from one customer, whatever the source."""

    customer_id: str
    as_of: str | None  # RFC 3339, as the record states it; None when absent or not an instant
    as_of_ms: int | None  # the same instant, for ordering (text order is not time order)
    revenue: float
    orders: int
    rfm: tuple[int, int, int] | None  # (r, f, m), or None when never ordered / unscored
    tags: dict[str, str]  # family -> display value


def normalise(record: Mapping) -> Customer:
    """One snapshot record (see `native/src/engine/snapshot.rs`) -> `Customer`."""
    rfm = _mapping(record.get("rfm"))
    r, f, m = (_score(rfm.get(key)) for key in ("r", "f", "m"))
    tags = _mapping(record.get("tags"))
    as_of = record.get("as_of")
    instant = _instant(as_of)
    return Customer(
        customer_id=str(record.get("customer_id", "")),
        as_of=as_of if isinstance(as_of, str) and instant is not None else None,
        as_of_ms=instant,
        revenue=_number(record.get("revenue_total")),
        orders=int(_number(record.get("orders_total"))),
        rfm=(r, f, m) if r is not None and f is not None and m is not None else None,
        tags={str(family): tag_text(value) for family, value in tags.items()},
    )


def tag_text(value: object) -> str:
    """A tag value as the page shows it (and as Redis stores it): `true`/`false`, `none`, text;
    anything else a producer put there as its JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str | int | float):
        return str(value)
    try:
        return orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (254 levels; it reads 1024)
        return NESTED


def _instant(value: object) -> int | None:
    """An as-of's epoch ms; None when it is not an RFC 3339 instant (`n/a`, a number, no zone)."""
    try:
        return parse_instant(value) if isinstance(value, str) else None
    except (ValueError, OverflowError):
        return None


def _mapping(value: object) -> Mapping:
    """`tags` and `rfm` of a record; anything but an object counts as empty (no tags, unscored)."""
    return value if isinstance(value, Mapping) else {}


def _score(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        score = int(value)  # type: ignore[call-overload]  # any object: what int() refuses is caught below
    except (TypeError, ValueError):
        return None
    return score if score in SCORES else None


def _number(value: object) -> float:
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)  # type: ignore[arg-type]  # any object: what float() refuses is caught below
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


@dataclass
class Summary:
    customers: int = 0
    revenue: float = 0.0
    buyers: int = 0
    as_of: str | None = None  # the newest record's as-of instant
    as_of_ms: int | None = None
    families: dict[str, Counter] = field(default_factory=dict)
    cell_customers: Counter = field(default_factory=Counter)  # (r, f) -> customers
    cell_revenue: dict[tuple[int, int], float] = field(default_factory=dict)
    unscored: int = 0
    segment_customers: Counter = field(default_factory=Counter)
    segment_revenue: dict[str, float] = field(default_factory=dict)
    top_customers: list[Customer] = field(default_factory=list)

    def add(self, customer: Customer) -> None:
        self.customers += 1
        self.revenue += customer.revenue
        self.buyers += customer.orders > 0
        if customer.as_of_ms is not None and (self.as_of_ms is None or customer.as_of_ms > self.as_of_ms):
            self.as_of, self.as_of_ms = customer.as_of, customer.as_of_ms
        for family, value in customer.tags.items():
            self.families.setdefault(family, Counter())[value] += 1
        if customer.rfm is None:
            self.unscored += 1
        else:
            cell = customer.rfm[:2]
            self.cell_customers[cell] += 1
            self.cell_revenue[cell] = self.cell_revenue.get(cell, 0.0) + customer.revenue
        segment = customer.tags.get("rfm_segment")
        if segment is not None:
            self.segment_customers[segment] += 1
            self.segment_revenue[segment] = self.segment_revenue.get(segment, 0.0) + customer.revenue
        self.top_customers.append(customer)
        if len(self.top_customers) > 4 * TOP_CUSTOMERS:
            self._trim()

    def _trim(self) -> None:
        self.top_customers.sort(key=lambda c: (-c.revenue, c.customer_id))
        del self.top_customers[TOP_CUSTOMERS:]

    def family_order(self) -> list[str]:
        return order_families(self.families)


def order_families(names: Iterable[str]) -> list[str]:
    """The preferred families first, in their order, then the rest alphabetically."""
    present = set(names)
    preferred = [name for name in PREFERRED_FAMILIES if name in present]
    return preferred + sorted(present - set(PREFERRED_FAMILIES))


def summarise(records: Iterable[Mapping]) -> Summary:
    summary = Summary()
    for record in records:
        summary.add(normalise(record))
    summary._trim()
    return summary


@dataclass(frozen=True)
class ValueDelta:
    value: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


def compare(before: Summary, after: Summary) -> dict[str, list[ValueDelta]]:
    """Per family (in page order), every value either snapshot holds: its count in each and the
    change, largest movement first."""
    families = order_families(set(before.families) | set(after.families))
    result = {}
    for family in families:
        old, new = before.families.get(family, Counter()), after.families.get(family, Counter())
        rows = sorted((ValueDelta(value, old[value], new[value]) for value in set(old) | set(new)),
                      key=lambda row: (-abs(row.delta), -row.after, row.value))
        shown, rest = top_and_rest(rows, COMPARE_ROWS)
        if rest:
            shown.append(ValueDelta(OTHER, sum(row.before for row in rest), sum(row.after for row in rest)))
        result[family] = shown
    return result


def top_and_rest(ranked: list, limit: int) -> tuple[list, list]:
    """The first `limit` items, or `limit - 1` and the rest when there are more: room for one row
    standing for the rest."""
    if len(ranked) <= limit:
        return list(ranked), []
    return list(ranked[: limit - 1]), list(ranked[limit - 1:])
