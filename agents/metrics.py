"""Prometheus metrics of the worker: `tagstream_` prefix, base units, bounded labels only.

Never a customer id in a label: label values come from closed sets (event types, rejection
reasons, family names and values from the rule pack).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter("tagstream_events_consumed", "Valid events consumed", ["type"], registry=r)
        self.rejected = Counter("tagstream_events_rejected", "Records sent to the dead-letter topic", ["reason"], registry=r)
        self.duplicates = Counter("tagstream_events_duplicate", "Events ignored as duplicate event ids", registry=r)
        self.late = Counter("tagstream_events_late", "Events older than their partition's watermark", registry=r)
        self.changes = Counter("tagstream_tag_changes", "Tag changes emitted", ["family", "from_value", "to_value"], registry=r)
        self.watermark = Gauge("tagstream_watermark_seconds", "Event-time watermark per partition", ["partition"], registry=r)
