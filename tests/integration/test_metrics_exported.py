"""A real worker exports every metric the Grafana dashboard queries, with sensible values once it has
consumed valid events of every type and dead-lettered an invalid record."""

from __future__ import annotations

import re
import time

import orjson

from tests.integration.harness import metric_value
from tests.unit.test_dashboard import base_name, dashboard_metrics

EVENTS = [
    {"event_id": "m-o-1", "type": "order", "customer_id": "m1", "ts": "2025-03-01T12:00:00Z", "amount": 42.0,
     "currency": "EUR", "items": [{"sku": "A1", "category": "shoes", "qty": 1, "price": 42.0}], "channel": "web"},
    {"event_id": "m-o-2", "type": "order", "customer_id": "m2", "ts": "2025-03-01T12:00:05Z", "amount": 10.5,
     "currency": "EUR", "items": [{"sku": "B2", "category": "socks", "qty": 3, "price": 3.5}], "channel": "app"},
    {"event_id": "m-e-1", "type": "email_open", "customer_id": "m3", "ts": "2025-03-01T12:00:01Z", "campaign_id": "spring"},
    {"event_id": "m-k-1", "type": "click", "customer_id": "m4", "ts": 1740830402000, "url": "https://x"},
    {"event_id": "m-v-1", "type": "visit", "customer_id": "m1", "ts": "2025-03-01T12:00:03+00:00", "page": "/shoes"},
]
CUSTOMERS = {event["customer_id"] for event in EVENTS}
TYPE_LINE = re.compile(r"^# TYPE (\S+) \S+$", re.MULTILINE)
SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", re.MULTILINE)


def exported_families(text: str) -> set[str]:
    """Base names of every metric family in a /metrics page, declared or sampled."""
    names = set(TYPE_LINE.findall(text)) | set(SAMPLE_LINE.findall(text))
    return {base_name(name) for name in names}


def watermarks(text: str) -> list[float]:
    """Every partition's `tagstream_watermark_seconds` sample."""
    return [float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith("tagstream_watermark_seconds{")]


def wait_for(worker, done, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        assert worker.alive, worker.tail()
        text = worker.metrics() or ""
        if done(text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"metrics did not get there within {timeout_s}s:\n{text}\n--- worker log ---\n{worker.tail()}")


def test_worker_exports_every_metric_the_dashboard_queries(deployment):
    worker = deployment.start_worker("--clock", "live")
    try:
        producer = deployment.producer()
        for event in EVENTS:
            topic = deployment.settings.topic_for_type[event["type"]]
            producer.send(topic, key=event["customer_id"].encode(), value=orjson.dumps(event))
        producer.send(deployment.settings.topic_orders, key=b"m9", value=b"{not json")
        producer.flush()
        producer.close()

        text = wait_for(worker, lambda t: (
            metric_value(t, "tagstream_events_consumed_total") >= len(EVENTS)
            and metric_value(t, "tagstream_events_rejected_total") >= 1
            and metric_value(t, "tagstream_customers_tracked") >= len(CUSTOMERS)
            and metric_value(t, "tagstream_tag_changes_total") > 0  # once the topics have been quiet for a moment
            # Changes are counted before their batch is published, the watermark gauges after:
            # a scrape in between sees changes and no watermark yet.
            and max(watermarks(t), default=0) > 1.7e9
        ))
        assert worker.alive, worker.tail()
    finally:
        worker.stop()

    missing = dashboard_metrics() - exported_families(text)
    assert not missing, f"the dashboard queries metrics the worker does not export: {sorted(missing)}"

    assert metric_value(text, "tagstream_events_consumed_total") == len(EVENTS)
    for kind in ("order", "email_open", "click", "visit"):
        assert metric_value(text, "tagstream_events_consumed_total", type=kind) >= 1, kind
    assert metric_value(text, "tagstream_events_rejected_total") == 1
    assert metric_value(text, "tagstream_events_rejected_total", reason="not_json") == 1
    assert metric_value(text, "tagstream_customers_tracked") >= len(CUSTOMERS)
    assert metric_value(text, "tagstream_processing_latency_seconds_count") > 0
    assert metric_value(text, "tagstream_tag_changes_total") > 0
    # each decided customer is in one lifecycle audience; no family counts more customers than it holds
    assert 1 <= metric_value(text, "tagstream_audience_size", family="lifecycle") <= len(CUSTOMERS)
    assert metric_value(text, "tagstream_faust_messages_received_total") >= len(EVENTS) + 1
    assert max(watermarks(text), default=0) > 1.7e9, watermarks(text)
