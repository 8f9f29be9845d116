"""latency: from a record's append to its tag change being readable, at a fixed offered load.

A live worker (`--clock live`) on fresh topics; the bench process produces events stamped `now`
at a fixed rate (kafka-python, acks=1, no linger) and, in a second thread, reads the change topic
from its start. Each change names the event that caused it (`data.cause_event_id`), so its latency
is the moment the consumer got it minus the moment that event was handed to the producer.

The worker runs a copy of the default rule pack with `allowed_lateness = "0s"`: with the default
5 minutes an event stamped `now` is held until the watermark passes it, i.e. its change is due 5
minutes later by design, whatever the machine. Everything else is the default pack.

Per run: a warm-up (one order per customer: first tag assignments for everyone, drained, and
waited for until every warm-up order's changes are readable), a reference phase at a low rate the
worker can follow, then the measured phase at the offered load. Between phases the reader waits
for the change topic to stay quiet for longer than a source needs to count as idle
(`source_idle_after` plus a tick): changes can trail the committed offsets by that much, since with
only some topics receiving records the watermark waits for the others to go idle. If the worker
cannot keep up, the backlog at the end of the load is reported and the run is marked saturated: its percentiles are then lower bounds (changes still queued when the
drain time ran out are not in the sample).
"""

from __future__ import annotations

import random
import threading
import time

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.common import BROKER, Deployment, GroupProgress, end_offsets, log, median, percentile, tagstream, wait_http
from bench.scales import Scale
from config.settings import load_settings

CATEGORIES = ("shoes", "dresses", "electronics", "home", "beauty")
REFERENCE_RATE = 100  # events/s: a load the worker follows, for comparison
REFERENCE_SECONDS = 5


class ChangeReader(threading.Thread):
    def __init__(self, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(bootstrap_servers=BROKER, enable_auto_commit=False, fetch_max_wait_ms=20,
                                      auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024)
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.received: list[tuple[float, bytes]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            batch = self.consumer.poll(timeout_ms=50)
            now = time.time()
            for records in batch.values():
                self.received.extend((now, record.value) for record in records)
        self.consumer.close()


def make_event(rng: random.Random, event_id: str, customer: str, ts: int, kind: str | None = None) -> dict:
    kind = kind or rng.choices(("order", "email_open", "click", "visit"), weights=(10, 30, 20, 40))[0]
    event = {"event_id": event_id, "type": kind, "customer_id": customer, "ts": ts}
    if kind == "order":
        price = round(rng.uniform(10, 300), 2)
        event.update(amount=price, currency="EUR", channel=rng.choice(("web", "app")),
                     items=[{"sku": "SKU1", "category": rng.choice(CATEGORIES), "qty": 1, "price": price}])
    elif kind == "email_open":
        event.update(campaign_id="spring")
    elif kind == "click":
        event.update(campaign_id="spring", url="https://shop.example/sale")
    else:
        event.update(page="/sale", source="web")
    return event


def paced_send(producer: KafkaProducer, topic_for: dict[str, str], events, rate: float, sent_at: dict[str, float]) -> float:
    """Send `events` (an iterator of dicts, built just in time) at `rate` per second; return the
    seconds it took. The send time of each event is taken right before `producer.send`."""
    started = time.monotonic()
    count = 0
    for event in events:
        delay = started + count / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent_at[event["event_id"]] = time.time()
        producer.send(topic_for[event["type"]], key=event["customer_id"].encode(), value=orjson.dumps(event))
        count += 1
    producer.flush()
    return time.monotonic() - started


def lateness_zero_rules(directory) -> str:
    """The default pack with `allowed_lateness = "0s"`, written next to the run's logs."""
    from config.settings import ROOT

    text = (ROOT / "config" / "rules" / "default.toml").read_text()
    changed = text.replace('allowed_lateness = "5m"', 'allowed_lateness = "0s"')
    if changed == text:
        raise RuntimeError('config/rules/default.toml no longer says allowed_lateness = "5m"')
    path = directory / "lateness-0.toml"
    path.write_text(changed)
    return str(path)


def once(scale: Scale, index: int, drain_s: float) -> dict:
    deployment = Deployment.create("latency")
    rng = random.Random(index)
    worker = reader = producer = progress = None
    now_ms = lambda: int(time.time() * 1000)  # noqa: E731
    try:
        env = deployment.group_env(f"live{index}")
        env["TAGSTREAM_RULES"] = lateness_zero_rules(deployment.dir)
        app_id = env["TAGSTREAM_APP_ID"]
        settings = load_settings(environ=env)
        worker = tagstream("worker", "--clock", "live", env=env, log_path=deployment.dir / f"live{index}.log",
                           name="tagstream worker (live)")
        wait_http(int(env["TAGSTREAM_WEB_PORT"]), worker)
        progress = GroupProgress(app_id, {})
        deadline = time.monotonic() + 60
        while progress.members() < 1:
            worker.check()
            if time.monotonic() > deadline:
                raise RuntimeError("the live worker never joined its group")
            time.sleep(0.2)
        reader = ChangeReader(env["TAGSTREAM_TOPIC_CHANGES"], deployment.settings.partitions)
        reader.start()
        producer = KafkaProducer(bootstrap_servers=BROKER, acks=1, linger_ms=0)
        topic_for = deployment.settings.topic_for_type
        customers = [f"lat{index}-c{n:06d}" for n in range(scale.latency_customers)]

        def phase(name: str, rate: float, seconds: float, kind: str | None = None, drain: float = 120) -> dict:
            count = len(customers) if kind == "order" else int(rate * seconds)
            sent_at: dict[str, float] = {}
            before = len(reader.received)
            events = (make_event(rng, f"{name}{index}-{n}", customers[n] if kind else rng.choice(customers), now_ms(), kind)
                      for n in range(count))
            took = paced_send(producer, topic_for, events, rate, sent_at)
            watch = GroupProgress(app_id, end_offsets(deployment.input_topics, deployment.settings.partitions))
            try:
                backlog = watch.total - watch.committed()
                drained = _drain(watch, worker, drain)
            finally:
                watch.close()
            if drained is not None and kind is not None:
                _await_causes(reader, before, set(sent_at), timeout_s=drain)  # every first order changes a tag
            if drained is not None:
                _settle(reader, quiet_s=settings.source_idle_after + settings.tick_interval + 1.0)
            received = reader.received[before:]
            matched = [(cause, at) for cause, at in ((orjson.loads(value)["data"]["cause_event_id"], at) for at, value in received)
                       if cause in sent_at]
            latencies = [(at - sent_at[cause]) * 1000 for cause, at in matched]
            return {"offered_eps": count / took, "events": count, "changes_matched": len(latencies),
                    "events_answered": len({cause for cause, _ in matched}),
                    "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
                    "max_ms": max(latencies) if latencies else float("nan"),
                    "backlog_at_end_of_load": backlog, "drain_s": drained,
                    "saturated": backlog > rate or drained is None}

        warm = phase("w", scale.latency_rate, 0, kind="order")
        if warm["events_answered"] < warm["events"]:
            raise RuntimeError(f"warm-up: changes for {warm['events_answered']:,} of {warm['events']:,} first orders "
                               f"(drained: {warm['drain_s']})")
        reference = phase("r", REFERENCE_RATE, REFERENCE_SECONDS)
        measured = phase("m", scale.latency_rate, scale.latency_seconds, drain=drain_s)
        return {**measured, "warmup_changes": warm["changes_matched"], "warmup_s": warm["drain_s"], "reference_eps": reference["offered_eps"],
                "reference_p50_ms": reference["p50_ms"], "reference_p99_ms": reference["p99_ms"],
                "reference_saturated": reference["saturated"]}
    finally:
        if reader is not None:
            reader.stopping.set()
            reader.join(timeout=10)
        if producer is not None:
            producer.close(timeout=5)
        if progress is not None:
            progress.close()
        if worker is not None:
            worker.stop()
        deployment.remove()


def _await_causes(reader: ChangeReader, start: int, causes: set[str], timeout_s: float) -> None:
    """Wait until a change caused by each of `causes` has been read (at most `timeout_s`)."""
    missing, index = set(causes), start
    deadline = time.monotonic() + timeout_s
    while missing and time.monotonic() < deadline:
        received = reader.received[index:]
        index += len(received)
        for _, value in received:
            missing.discard(orjson.loads(value)["data"]["cause_event_id"])
        if missing:
            time.sleep(0.1)


def _settle(reader: ChangeReader, quiet_s: float, timeout_s: float = 60) -> None:
    """Wait until no change has arrived for `quiet_s` (changes trail the commits: the producer
    buffer, and the watermark waiting for idle sources)."""
    started = time.monotonic()
    count, changed = len(reader.received), time.monotonic()
    while time.monotonic() - changed < quiet_s and time.monotonic() - started < timeout_s:
        time.sleep(0.1)
        if len(reader.received) != count:
            count, changed = len(reader.received), time.monotonic()


def _drain(progress: GroupProgress, worker, timeout_s: float) -> float | None:
    """Seconds until the worker's committed offsets reach the end; None if they did not in time."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        worker.check()
        if progress.committed() >= progress.total:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def run(scale: Scale, repeat: int) -> dict:
    drain_s = scale.latency_drain_s
    runs = []
    for i in range(repeat):
        result = once(scale, i, drain_s)
        runs.append(result)
        drained = f"{result['drain_s']:.1f}s" if result["drain_s"] is not None else f"not within {drain_s:.0f}s"
        log(f"latency: run {i + 1}: offered {result['offered_eps']:,.0f} ev/s, p50 {result['p50_ms']:,.0f} ms, "
            f"p99 {result['p99_ms']:,.0f} ms over {result['changes_matched']:,} changes; backlog at end of load "
            f"{result['backlog_at_end_of_load']:,}, drained {drained}; reference {result['reference_eps']:,.0f} ev/s: "
            f"p50 {result['reference_p50_ms']:,.0f} ms, p99 {result['reference_p99_ms']:,.0f} ms")
    p99 = median([r["p99_ms"] for r in runs])
    saturated = any(r["saturated"] for r in runs)
    return {
        "figures": {
            "offered_events_per_s": round(median([r["offered_eps"] for r in runs])),
            "seconds": scale.latency_seconds,
            "customers": scale.latency_customers,
            "p50_ms": round(median([r["p50_ms"] for r in runs]), 1),
            "p99_ms": round(p99, 1),
            "changes_matched": round(median([r["changes_matched"] for r in runs])),
            "backlog_at_end_of_load": round(median([r["backlog_at_end_of_load"] for r in runs])),
            "saturated": saturated,
            "reference_events_per_s": round(median([r["reference_eps"] for r in runs])),
            "reference_p50_ms": round(median([r["reference_p50_ms"] for r in runs]), 1),
            "reference_p99_ms": round(median([r["reference_p99_ms"] for r in runs]), 1),
        },
        "targets": {"p99 <= 250 ms at 2k ev/s": (not saturated) and p99 <= 250},
        "runs": runs,
    }
