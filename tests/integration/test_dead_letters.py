"""Given valid and invalid records of every type on the real broker, the worker tags the valid
ones, dead-letters every invalid one with its reason and source position, and keeps running."""

from __future__ import annotations

import time

import orjson

from stream.rules.ruleset import load_rules
from tests.integration.harness import metric_value

VALID = [
    {"event_id": "o-1", "type": "order", "customer_id": "c1", "ts": "2025-03-01T12:00:00Z", "amount": 59.9,
     "currency": "EUR", "items": [{"sku": "A1", "category": "shoes", "qty": 1, "price": 59.9}], "channel": "app"},
    {"event_id": "e-1", "type": "email_open", "customer_id": "c2", "ts": "2025-03-01T12:00:01Z", "campaign_id": "spring"},
    {"event_id": "k-1", "type": "click", "customer_id": "c3", "ts": 1740830402000, "url": "https://x"},
    {"event_id": "v-1", "type": "visit", "customer_id": "c4", "ts": "2025-03-01T12:00:03+00:00", "page": "/shoes"},
    {"event_id": "p-1", "type": "profile", "customer_id": "c5", "ts": "2025-03-01T12:00:04Z",
     "traits": {"region": "home", "birth_date": "1990-06-15", "email_consent": True}},
    {"event_id": "x-1", "type": "custom", "customer_id": "c6", "ts": "2025-03-01T12:00:05Z", "name": "support_ticket",
     "properties": {"topic": "refund"}},
]

# (topic key, key, raw value, expected reason)
INVALID = [
    ("orders", b"c9", b"{not json", "not_json"),
    ("orders", b"c9", b'{"event_id":"x","type":"order","customer_id":"c9","ts":"2025-03-01T12:00:00Z","amount":\xff}', "not_utf8"),
    ("email_opens", b"c9", b'\xff\xfe\x00garbage', "not_utf8"),
    ("clicks", b"c9", b'{"event_id":"x","type":"click","ts":"2025-03-01T12:00:00Z"}', "missing_field"),
    # the pack's traits decide what a profile may say
    ("profiles", b"c9", b'{"event_id":"x","type":"profile","customer_id":"c9","ts":"2025-03-01T12:00:00Z","traits":{"region":"moon"}}', "bad_value"),
    ("custom", b"c9", b'{"event_id":"x","type":"custom","customer_id":"c9","ts":"2025-03-01T12:00:00Z"}', "missing_field"),
    ("visits", b"c9", b'{"event_id":7,"type":"visit","customer_id":"c9","ts":"2025-03-01T12:00:00Z"}', "bad_type"),
    ("orders", b"c9", b'{"event_id":"x","type":"order","customer_id":"c9","ts":"2025-03-01T12:00:00Z","amount":-5}', "bad_value"),
    ("orders", b"c9", b'{"event_id":"x","type":"order","customer_id":"c9","ts":"2025-03-01T12:00:00Z"}', "missing_field"),
    ("clicks", b"c9", b'{"event_id":"x","type":"purchase","customer_id":"c9","ts":"2025-03-01T12:00:00Z"}', "unknown_type"),
    ("visits", b"other", b'{"event_id":"x","type":"visit","customer_id":"c9","ts":"2025-03-01T12:00:00Z"}', "key_mismatch"),
    ("visits", b"c9", b'{"event_id":"x","type":"visit","customer_id":"c9","ts":"1969-12-31T23:59:59Z"}', "bad_value"),
    ("clicks", b"c9", b'{"event_id":"x","type":"click","customer_id":"c9","ts":1740830402}', "bad_value"),  # seconds
    ("visits", b"c9", b'{"event_id":"x","type":"visit","customer_id":"c9","ts":"2099-01-01T00:00:00Z"}', "future_ts"),
    ("email_opens", b"c9", b'{"event_id":"x","type":"click","customer_id":"c9","ts":"2025-03-01T12:00:00Z"}', "wrong_topic"),
    ("orders", b"c9", b"[1, 2, 3]", "bad_type"),
    ("visits", b"c9", b'{"event_id":"x","type":"visit","customer_id":"c9","ts":"2025-03-01T12:00:00Z","p":"' + b"a" * 70000 + b'"}', "too_large"),
]


def topic_of(deployment, name: str) -> str:
    return getattr(deployment.settings, f"topic_{name}")


def test_valid_records_are_tagged_and_invalid_ones_dead_lettered(deployment):
    # Live clock: wall-clock ticks release the buffered events, so every valid customer is tagged.
    worker = deployment.start_worker("--clock", "live")
    try:
        producer = deployment.producer()
        for event in VALID:
            topic = deployment.settings.topic_for_type[event["type"]]
            producer.send(topic, key=event["customer_id"].encode(), value=orjson.dumps(event))
        for name, key, value, _ in INVALID:
            producer.send(topic_of(deployment, name), key=key, value=value)
        producer.flush()
        producer.close()

        dead = deployment.read_all(deployment.settings.topic_dlq, expect=len(INVALID))
        changes = deployment.read_all(deployment.settings.topic_changes, expect=len(VALID) * len(load_rules().families))
        time.sleep(1)
        assert worker.alive, worker.tail()
        metrics = worker.metrics()
    finally:
        worker.stop()

    reasons = sorted(dict(r.headers)["tagstream.error.reason"].decode() for r in dead)
    assert reasons == sorted(reason for *_, reason in INVALID)
    assert sorted(r.value for r in dead) == sorted(value for _, _, value, _ in INVALID), "original bytes kept"
    for record in dead:
        headers = dict(record.headers)
        assert headers["tagstream.error.message"]
        assert headers["tagstream.source.topic"].decode() in deployment.settings.input_topics
        assert int(headers["tagstream.source.offset"]) >= 0
    tagged = {orjson.loads(r.value)["data"]["customer_id"] for r in changes}
    assert tagged == {"c1", "c2", "c3", "c4", "c5", "c6"}
    first: dict[tuple[str, str], object] = {}
    for record in changes:
        data = orjson.loads(record.value)["data"]
        first.setdefault((data["customer_id"], data["family"]), data["to"])
    assert first[("c5", "age_band")] == "25_34"  # 34 on 2025-03-01 (the live clock then moves on: 35 in June)
    assert first[("c6", "service_issue")] == "one"
    assert metric_value(metrics, "tagstream_events_consumed_total") == len(VALID)
    assert metric_value(metrics, "tagstream_events_rejected_total") == len(INVALID)
