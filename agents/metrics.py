"""Prometheus metrics of the worker: `tagstream_` prefix, base units, bounded labels only.

Never a customer id in a label: label values come from closed sets (event types, rejection
reasons, partitions, family names and the values the rule pack declares; a value taken from event
data, such as a channel, is counted as `(free text)`). Faust's own consumer and
producer metrics are exported beside these as `tagstream_faust_*`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily

from stream.rules.families import CaseFamily, GridFamily, TopFamily

if TYPE_CHECKING:
    from agents.driver import Handled
    from stream.rules.ruleset import RuleSet

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


# The label of a tag value outside its family's declared values (`top` and `value` families take
# theirs from event data, e.g. the channel or the model viewed): one series for all of them
# instead of one per distinct string.
FREE_TEXT = "(free text)"


def declared_tag_values(rules: RuleSet) -> dict[str, frozenset[str]]:
    """Per family, the values its rules can produce (as `str()` gives them, which is how the
    change counter labels them), None included for a first assignment."""
    bands = {name for name, _, _ in rules.hour_bands}
    declared: dict[str, frozenset[str]] = {}
    for family in rules.families:
        if isinstance(family, CaseFamily):
            values = {case.value for case in family.cases}
        elif isinstance(family, GridFamily):
            values = {name for row in family.grid for name in row}
        elif isinstance(family, TopFamily) and family.counter == "hour_band":
            values = set(bands)
        else:
            values = set()
        declared[family.name] = frozenset(str(value) for value in {*values, family.default, None})
    return declared


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # the change counter's label values per family (`declared_tag_values`); None: labels as they come
    tag_values: dict[str, frozenset[str]] | None = None

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter("tagstream_events_consumed", "Valid events consumed", ["type"], registry=r)
        self.rejected = Counter("tagstream_events_rejected", "Records sent to the dead-letter topic", ["reason"], registry=r)
        self.duplicates = Counter("tagstream_events_duplicate", "Events ignored as duplicate event ids", registry=r)
        self.late = Counter("tagstream_events_late", "Events older than their partition's watermark", registry=r)
        self.erased = Counter("tagstream_customers_erased", "Customers erased on request (README, Erasure)", registry=r)
        self.changes = Counter("tagstream_tag_changes", "Tag changes emitted", ["family", "from_value", "to_value"], registry=r)
        self.watermark = Gauge("tagstream_watermark_seconds", "Event-time watermark per partition (epoch seconds)", ["partition"], registry=r)
        self.lag = Gauge("tagstream_event_time_lag_seconds", "Wall clock minus the partition's watermark", ["partition"], registry=r)
        self.latency = ManyAtOnceHistogram(
            "tagstream_processing_latency_seconds", "From a record's arrival at the worker to its changes being handed to the producer",
            LATENCY_BUCKETS, r,
        )
        self.deadlines = Gauge("tagstream_deadline_index_size", "Customers waiting for a deadline or buffered event", registry=r)
        self.customers = Gauge("tagstream_customers_tracked", "Customers in this worker's active partitions", registry=r)
        self.redis_write_seconds = Histogram(
            "tagstream_redis_write_seconds", "Duration of one pipelined batch of profile writes", buckets=LATENCY_BUCKETS, registry=r,
        )
        self.delivery_retries = Counter(
            "tagstream_delivery_retries", "Failed sends of a batch's changes or state, retried until Kafka takes them", ["what"], registry=r,
        )
        self.offset_holes = Counter(
            "tagstream_offset_holes", "Runs of input records Faust skipped, read from Kafka directly and processed", registry=r,
        )
        self.redis_failures = Counter("tagstream_redis_failures", "Failed Redis batch writes (profiles kept and retried)", registry=r)
        self.redis_unreadable = Counter("tagstream_redis_unreadable_states",
                                        "Customers whose stored state could not be read, so no Redis profile was written", registry=r)
        self.redis_pending = Gauge("tagstream_redis_pending_profiles", "Customer profiles waiting to be written to Redis", registry=r)
        self.audience = Gauge("tagstream_audience_size", "Customers of this worker's partitions per family value "
                              "(a value the pack does not declare counts as (free text))", ["family", "value"], registry=r)
        self._audience_labels: set[tuple[str, str]] = set()
        self._child = LabelledChildren()  # event types, rejection reasons and the rule pack's values: closed sets

    def count(self, handled: Handled) -> None:
        """A batch's events, rejections and tag changes."""
        for dead in handled.dead:
            self._child(self.rejected, dead.reason).inc()
        for event_type, consumed in handled.consumed.items():
            self._child(self.consumed, event_type).inc(consumed)
        if handled.duplicates:
            self.duplicates.inc(handled.duplicates)
        if handled.late:
            self.late.inc(handled.late)
        if handled.erased:
            self.erased.inc(len(handled.erased))
        for family, old, new, count in handled.transitions:
            self._child(self.changes, family, self._tag_label(family, old), self._tag_label(family, new)).inc(count)

    def set_audiences(self, sizes: list[tuple[str, str, int]]) -> None:
        """The engine's `audience_sizes()`: customers per (family, value) of the partitions held;
        a value gone since the last call reads 0 (its label set stays the pack's, closed)."""
        totals: dict[tuple[str, str], int] = {}
        for family, value, customers in sizes:
            label = (family, self._tag_label(family, value))
            totals[label] = totals.get(label, 0) + customers
        for label in self._audience_labels - totals.keys():
            self._child(self.audience, *label).set(0)
        for label, customers in totals.items():
            self._child(self.audience, *label).set(customers)
        self._audience_labels |= totals.keys()

    def _tag_label(self, family: str, value: str) -> str:
        if self.tag_values is None or value in self.tag_values.get(family, ()):
            return value
        return FREE_TEXT


class LabelledChildren:
    """`metric.labels(*labels)`, looked up once per metric and label set: `labels()` builds and
    checks a tuple and takes the metric's lock on every call, which adds up per event and per
    change. Only for label values from closed sets (the rule above). `clear()` when the
    children may have been removed from their metric."""

    def __init__(self) -> None:
        self._children: dict[tuple, Any] = {}

    def __call__(self, metric: Any, *labels: object) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def clear(self) -> None:
        self._children.clear()


class ManyAtOnceHistogram:
    """A histogram that takes `count` equal observations in one call. Every record of a fetch
    waited the same time, and `Histogram.observe` once per record (a lock and a bucket search
    each) was 5 % of a busy worker's event loop. Observed on the loop only; exported as a
    Prometheus histogram like any other."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...], registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = [*buckets, float("inf")]
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float, count: int = 1) -> None:
        self._counts[bisect_left(self._bounds, value)] += count
        self._sum += value * count

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, buckets = 0, []
        for bound, count in zip(self._bounds, self._counts):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=self._sum)
