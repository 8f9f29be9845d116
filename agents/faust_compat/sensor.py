"""Faust's Prometheus sensor without its per-message `labels()` lookups.

Faust's `PrometheusMonitor` calls `Metric.labels(...)` for every message received, every stream
event, every table get and set, every send and every partition of every fetch (end offsets): each call builds a label tuple, validates it and
takes the metric's lock to find the child, which made it about 6 % of the worker's own time in a
py-spy profile. The label values come from small closed sets (topics, partitions, the one stream,
the one table), so this subclass looks each child up once and keeps it. Every metric Faust
exports stays, with the same names, labels and values (`tagstream_faust_*`, on the dashboard).

Faust removes the per-topic and per-partition children at a rebalance
(`_clear_partition_related_metrics`); a kept child would then count into a detached object, so the
kept children are dropped at the same moment and looked up afresh.
"""

from __future__ import annotations

import weakref
from time import monotonic
from collections.abc import MutableMapping
from typing import Any

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import PrometheusMonitor, setup_prometheus_sensors
from faust.types import TP, CollectionT, EventT, Message, PendingMessage, StreamT
from faust.types.transports import ProducerT

from agents.metrics import LabelledChildren


class LeanPrometheusMonitor(PrometheusMonitor):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._child = LabelledChildren()
        self._stream_children: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # as Faust's `stream_lookup`

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        Monitor.on_message_in(self, tp, offset, message)
        metrics = self._metrics
        metrics.messages_received.inc()
        metrics.active_messages.inc()
        self._child(metrics.messages_received_per_topics, tp.topic).inc()
        self._child(metrics.messages_received_per_topics_partition, tp.topic, tp.partition).set(offset)

    def on_fetched(self, tp: TP, records: list, highwater: int | None) -> None:
        """One fetch of the batch intake (batch_intake.py), which makes no `Message` per record:
        the received counts and offsets Faust's `on_message_in` keeps, a fetch at a time, and the
        time Faust's stall detector (`verify_event_path`) reads: without it, a backlog older
        than `stream_processing_timeout` would be logged as a stream that never started."""
        self.stream_inbound_time[tp] = monotonic()
        metrics = self._metrics
        metrics.messages_received.inc(len(records))
        self._child(metrics.messages_received_per_topics, tp.topic).inc(len(records))
        self._child(metrics.messages_received_per_topics_partition, tp.topic, tp.partition).set(records[-1].offset)
        if highwater is not None:
            self.track_tp_end_offset(tp, highwater)

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT, event: EventT) -> dict | None:
        state = Monitor.on_stream_event_in(self, tp, offset, stream, event)
        metrics = self._metrics
        metrics.total_events.inc()
        metrics.total_active_events.inc()
        child = self._stream_children.get(stream)  # its label is a regex substitution of the stream's name
        if child is None:
            child = self._stream_children[stream] = metrics.total_events_per_stream.labels(f"stream.{self._stream_label(stream)}.events")
        child.inc()
        return state

    def _table_op(self, table: CollectionT, operation: str) -> None:
        self._child(self._metrics.table_operations, f"table.{table.name}", operation).inc()

    def on_table_get(self, table: CollectionT, key: Any) -> None:
        Monitor.on_table_get(self, table, key)
        self._table_op(table, self.KEYS_RETRIEVED)

    def on_table_set(self, table: CollectionT, key: Any, value: Any) -> None:
        Monitor.on_table_set(self, table, key, value)
        self._table_op(table, self.KEYS_UPDATED)

    def on_table_del(self, table: CollectionT, key: Any) -> None:
        Monitor.on_table_del(self, table, key)
        self._table_op(table, self.KEYS_DELETED)

    def on_send_initiated(self, producer: ProducerT, topic: str, message: PendingMessage, keysize: int, valsize: int) -> Any:
        self._child(self._metrics.topic_messages_sent, f"topic.{topic}").inc()
        return Monitor.on_send_initiated(self, producer, topic, message, keysize, valsize)

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        Monitor.track_tp_end_offset(self, tp, offset)
        self._child(self._metrics.topic_partition_end_offset, tp.topic, tp.partition).set(offset)

    def on_tp_commit(self, tp_offsets: MutableMapping[TP, int]) -> None:
        Monitor.on_tp_commit(self, tp_offsets)
        for tp, offset in tp_offsets.items():
            self._child(self._metrics.topic_partition_offset_commited, tp.topic, tp.partition).set(offset)

    def _clear_partition_related_metrics(self) -> None:
        self._child.clear()
        self._stream_children.clear()
        super()._clear_partition_related_metrics()


def install_prometheus_sensor(app: Any, registry: Any) -> LeanPrometheusMonitor:
    """Faust's own metrics on the worker's `/metrics` (`tagstream_faust_*`), kept by the lean
    monitor, which is returned (the intake reports fetches to it)."""
    setup_prometheus_sensors(app, pattern="/metrics", registry=registry, name_prefix="tagstream_faust")
    monitor = LeanPrometheusMonitor(metrics=app.monitor._metrics)  # the same metric objects
    app.monitor = monitor
    return monitor
