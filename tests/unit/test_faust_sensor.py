"""The lean Faust sensor exports exactly what Faust's own Prometheus sensor exports, also across a
rebalance (which removes Faust's per-topic children)."""

from __future__ import annotations

from types import SimpleNamespace

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from agents.faust_compat.sensor import LeanPrometheusMonitor


class Agent:
    pass


class Stream:  # hashable and weakly referable, as Faust's streams are
    shortlabel = "Stream: tagstream.ingest"

    def __init__(self) -> None:
        self.task_owner = Agent()


def drive(monitor: PrometheusMonitor, stream: Stream) -> None:
    table = SimpleNamespace(name="customers")
    for offset in range(3):
        for tp in (TP("orders", 0), TP("orders", 1), TP("clicks", 0)):
            monitor.on_message_in(tp, offset, SimpleNamespace(time_in=None))
            monitor.on_stream_event_in(tp, offset, stream, None)
            monitor.track_tp_end_offset(tp, offset + 10)
            monitor.on_tp_commit({tp: offset})
        monitor.on_table_get(table, b"c1")
        monitor.on_table_set(table, b"c1", b"{}")
        monitor.on_table_del(table, b"c1")
        monitor.on_send_initiated(None, "customer-tag-changes", None, 2, 10)


def exported(monitor_type: type) -> list[bytes]:
    registry = CollectorRegistry()
    monitor = monitor_type(metrics=FaustMetrics.create(registry, "tagstream_faust"))
    stream = Stream()
    drive(monitor, stream)
    monitor.on_rebalance_start(SimpleNamespace(rebalancing_count=1))
    drive(monitor, stream)  # per-topic children removed by the rebalance must be counted again
    return [line for line in generate_latest(registry).splitlines() if b"_created" not in line]  # creation times differ


def test_lean_sensor_exports_the_same_metrics_as_faust():
    lean, faust = exported(LeanPrometheusMonitor), exported(PrometheusMonitor)
    assert b'tagstream_faust_messages_received_per_topic_total{topic="orders"} 6.0' in lean
    assert b'tagstream_faust_messages_received_per_topics_partition{partition="1",topic="orders"} 2.0' in lean
    assert b'tagstream_faust_topic_messages_sent_total{topic="topic.customer-tag-changes"} 3.0' in lean
    assert b'tagstream_faust_table_operations_total{operation="keys_retrieved",table="table.customers"} 6.0' in lean
    assert b'tagstream_faust_topic_partition_end_offset{partition="0",topic="clicks"} 12.0' in lean
    assert b'tagstream_faust_topic_partition_offset_commited{partition="1",topic="orders"} 2.0' in lean
    assert b'tagstream_faust_total_events_per_stream_total{stream="stream.tagstream.ingest.events"} 18.0' in lean
    assert lean == faust
