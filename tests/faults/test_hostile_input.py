"""Hostile input at volume: bursts of ~1k malformed records (not JSON, not UTF-8, wrong types,
missing fields, negative/NaN/huge amounts, unknown types, key != customer_id, the wrong topic,
tombstones that name no customer, 900 KB payloads, timestamps in 1970 and 2100) interleaved with a valid generated log
that also carries 10 % duplicate event ids and events reordered within the lateness bound. The
worker never exits, every bad record lands in the dead-letter topic with its reason, and the valid
ones produce exactly what backtest computes over the valid lines in the order they were sent."""

from __future__ import annotations

import random
import re
from collections import Counter

import orjson
from kafka import KafkaProducer

from stream.rules.ruleset import load_rules
from tests.faults.common import Collector, compare, covers, dump, oracle
from tests.integration.harness import metric_value

SEED = 20250305
BURSTS = 10
PER_BURST = 100
HUGE = 900 * 1024  # under the broker's ~1 MB message limit, far over the 64 KiB event limit
HIGH_CARDINALITY = 3000  # orders of one customer with as many distinct channels


def bad_records(rng: random.Random, customer: str, topics: dict[str, str], n: int) -> list[tuple[str, bytes | None, bytes | None, str]]:
    """(topic, key, value, expected reason) for one burst of n hostile records."""
    key = customer.encode()
    ts = '"2025-03-01T12:00:00Z"'
    order = lambda **f: orjson.dumps({"event_id": f"bad-{rng.getrandbits(48):x}", "type": "order", "customer_id": customer,  # noqa: E731
                                      "ts": "2025-03-01T12:00:00Z", "amount": 10.0, **f})
    makers = [
        lambda: (topics["order"], key, b"{not json " + rng.randbytes(8).hex().encode(), "not_json"),
        lambda: (topics["visit"], key, b"\xff\xfe\x00" + rng.randbytes(16), "not_utf8"),
        lambda: (topics["order"], key, b'{"event_id":"x","type":"order","customer_id":"' + key + b'","ts":' + ts.encode() + b',"amount":\xff}', "not_utf8"),
        lambda: (topics["click"], key, b"[1, 2, 3]", "bad_type"),
        lambda: (topics["visit"], key, orjson.dumps({"event_id": 7, "type": "visit", "customer_id": customer, "ts": "2025-03-01T12:00:00Z"}), "bad_type"),
        lambda: (topics["order"], key, order(amount="12.50"), "bad_type"),
        lambda: (topics["click"], key, orjson.dumps({"event_id": "x", "type": "click", "customer_id": customer}), "missing_field"),
        lambda: (topics["order"], key, orjson.dumps({"event_id": "x", "type": "order", "customer_id": customer, "ts": "2025-03-01T12:00:00Z"}), "missing_field"),
        lambda: (topics["order"], key, order(amount=-5), "bad_value"),
        lambda: (topics["order"], key, order(amount=1e12), "bad_value"),
        lambda: (topics["order"], key, order().replace(b'"amount":10.0', b'"amount":NaN'), "not_json"),
        lambda: (topics["click"], key, orjson.dumps({"event_id": "x", "type": "purchase", "customer_id": customer, "ts": "2025-03-01T12:00:00Z"}), "unknown_type"),
        lambda: (topics["visit"], b"someone-else", orjson.dumps({"event_id": "x", "type": "visit", "customer_id": customer, "ts": "2025-03-01T12:00:00Z"}), "key_mismatch"),
        lambda: (topics["visit"], key, orjson.dumps({"event_id": "x", "type": "visit", "customer_id": customer, "ts": "1969-12-31T23:59:59Z"}), "bad_value"),
        lambda: (topics["email_open"], key, orjson.dumps({"event_id": "x", "type": "email_open", "customer_id": customer, "ts": "2100-01-01T00:00:00Z"}), "future_ts"),
        lambda: (topics["visit"], key, orjson.dumps({"event_id": "x", "type": "visit", "customer_id": customer, "ts": 4102444800000}), "future_ts"),
        lambda: (topics["email_open"], key, orjson.dumps({"event_id": "x", "type": "click", "customer_id": customer, "ts": "2025-03-01T12:00:00Z"}), "wrong_topic"),
        lambda: (topics["click"], b"\x00not-an-id", None, "bad_value"),  # a tombstone: an erase request naming no customer
        lambda: (topics["order"], key, order(channel="w" * 2000), "bad_value"),  # giant strings: bounded in the state
        lambda: (topics["order"], key, order(items=[{"category": "c" * 2000}]), "bad_value"),
    ]
    burst = [rng.choice(makers)() for _ in range(n - 1)]
    # one ~900 KB payload per burst: too large for an event, small enough for the broker
    burst.append((topics["visit"], key, orjson.dumps({"event_id": "x", "type": "visit", "customer_id": customer,
                                                      "ts": "2025-03-01T12:00:00Z", "page": "a" * HUGE}), "too_large"))
    rng.shuffle(burst)
    return burst


def distinct_channels(customer: str, after_ts: int, n: int) -> list[bytes]:
    """n valid orders of one customer, each with a channel never seen before: a high-cardinality
    burst (the channel becomes a tag value and, unbounded, a metric label)."""
    return [orjson.dumps({"event_id": f"hc-{i}", "type": "order", "customer_id": customer, "ts": after_ts + 1000 * i,
                          "amount": 1.0, "channel": f"channel-{i:05d}-" + "x" * 40}) for i in range(n)]


def hostile_stream(rng: random.Random, valid: list[bytes], topics: dict[str, str], lateness_ms: int):
    """The valid lines with 10 % duplicates and some neighbours swapped (within the lateness bound),
    plus BURSTS bursts of hostile records, in the order they are produced."""
    events = [orjson.loads(line) for line in valid]
    ts = [_ms(e["ts"]) for e in events]
    order = list(range(len(valid)))
    swapped = 0
    for i in range(0, len(order) - 1, 7):  # reorder neighbours less than the lateness bound apart
        a, b = order[i], order[i + 1]
        if 0 <= ts[b] - ts[a] < lateness_ms * 0.8 and rng.random() < 0.5:
            order[i], order[i + 1] = b, a
            swapped += 1
    sent_valid: list[bytes] = []
    out: list[tuple[str, bytes | None, bytes | None, str | None]] = []
    pending_dups: list[tuple[int, int]] = []  # (emit after this many more valid lines, index)
    burst_every = len(order) // (BURSTS + 1)
    for n, index in enumerate(order):
        event = events[index]
        out.append((topics[event["type"]], event["customer_id"].encode(), valid[index], None))
        sent_valid.append(valid[index])
        if rng.random() < 0.10:
            pending_dups.append((rng.randint(2, 12), index))
        due = [d for d in pending_dups if d[0] <= 0]
        pending_dups = [(left - 1, i) for left, i in pending_dups if left > 0]
        for _, i in due:
            out.append((topics[events[i]["type"]], events[i]["customer_id"].encode(), valid[i], None))
            sent_valid.append(valid[i])
        if n and n % burst_every == 0 and n // burst_every <= BURSTS:
            out += bad_records(rng, event["customer_id"], topics, PER_BURST)
    for _, i in pending_dups:
        out.append((topics[events[i]["type"]], events[i]["customer_id"].encode(), valid[i], None))
        sent_valid.append(valid[i])
    customer = events[-1]["customer_id"]
    for line in distinct_channels(customer, max(ts) + 1000, HIGH_CARDINALITY):
        out.append((topics["order"], customer.encode(), line, None))
        sent_valid.append(line)
    return out, sent_valid, swapped


def _ms(value) -> int:
    from stream.timeutil import parse_instant

    return value if isinstance(value, int) else parse_instant(value)


def test_hostile_records_are_dead_lettered_and_valid_ones_match_the_oracle(deployment, tmp_path):
    rng = random.Random(SEED)
    settings = deployment.settings
    topics = settings.topic_for_type
    generated = tmp_path / "generated.jsonl"
    made = deployment.cli("generate", "--customers", "500", "--days", "260", "--seed", "105", "--out", str(generated))
    assert made.returncode == 0, made.stderr
    lateness_ms = load_rules(None).allowed_lateness_ms
    stream, sent_valid, swapped = hostile_stream(rng, generated.read_bytes().splitlines(), topics, lateness_ms)
    bad = [(topic, key, value, reason) for topic, key, value, reason in stream if reason is not None]
    log = tmp_path / "valid-as-sent.jsonl"
    log.write_bytes(b"".join(line + b"\n" for line in sent_valid))
    expected = oracle(deployment, log)
    offline = deployment.cli("backtest", str(log), "--changes-out", str(tmp_path / "unused.jsonl"), "--as-of", "watermark")
    duplicates_offline = int(re.search(r"([\d,]+) duplicates", offline.stderr).group(1).replace(",", ""))
    assert len(bad) >= 1000 and duplicates_offline > 0.08 * (len(sent_valid) - HIGH_CARDINALITY) and swapped > 50, (
        len(bad), duplicates_offline, swapped)

    producer = KafkaProducer(bootstrap_servers=settings.kafka_broker, acks="all", linger_ms=5, max_request_size=2 * 1024 * 1024)
    for topic, key, value, _ in stream:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    collector = Collector(deployment, settings.topic_changes)
    worker = deployment.start_worker("--clock", "event")
    try:
        converged = collector.until(covers(expected), idle_s=4, timeout_s=90, alive=lambda: worker.alive)
        dead = deployment.read_all(settings.topic_dlq, expect=len(bad), idle_s=2, timeout_s=60)
        assert worker.alive, f"the worker exited under hostile input:\n{worker.tail()}"
        metrics = worker.metrics() or ""
    finally:
        worker.stop()
        collector.close()

    dump(collector.records, tmp_path / "published.jsonl")
    result = compare(expected, collector.records)
    reasons = Counter(dict(r.headers).get("tagstream.error.reason", b"<none>").decode() for r in dead)
    print(f"\nhostile: {len(stream)} records sent ({len(sent_valid)} valid incl. {duplicates_offline} duplicate ids, "
          f"{swapped} reordered pairs; {len(bad)} bad); DLQ {len(dead)} {dict(reasons)}; converged {converged}; {result.summary()}")

    assert len(dead) == len(bad), f"{len(bad)} bad records sent, {len(dead)} dead-lettered: {dict(reasons)}"
    assert sorted(r.value or b"" for r in dead) == sorted(v or b"" for _, _, v, _ in bad), "the original bytes are kept"
    assert reasons == Counter(reason for *_, reason in bad), "each record's reason"
    for record in dead:
        headers = dict(record.headers)
        assert headers["tagstream.error.message"] and headers["tagstream.source.topic"].decode() in settings.input_topics
        assert int(headers["tagstream.source.offset"]) >= 0
    assert metric_value(metrics, "tagstream_events_rejected_total") == len(bad)
    assert metric_value(metrics, "tagstream_events_duplicate_total") == duplicates_offline, "the same duplicates as offline"
    assert metric_value(metrics, "tagstream_events_late_total") == 0, "reordering stayed within the lateness bound"
    change_series = [line for line in metrics.splitlines() if line.startswith("tagstream_tag_changes_total{")]
    assert len(change_series) < 300 and len(metrics) < 512 * 1024, (len(change_series), len(metrics))
    assert 'preferred_channel",from_value="(free text)",to_value="(free text)"' in metrics, "channels counted as one label"
    assert not result.missing and not result.extra, f"valid records give the oracle's changes: {result.summary()}"
    assert not result.differing and not result.wrong_key and result.duplicates == 0, result.summary()
