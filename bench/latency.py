"""latency: from a record's append to its tag change being readable, at a fixed offered load.

A live worker (`--clock live`, the default) with the **default rule pack** on fresh topics; the
bench process produces events stamped `now` at a fixed rate (kafka-python, acks=1, no linger) and,
in a second thread, reads the change topic from its start. Each change names the event that caused
it (`data.cause_event_id`), so its latency is the moment the consumer got it minus the moment that
event was handed to the producer. The change record's own timestamp (taken by the worker's
producer as it appends the change) splits that into append -> published (the worker's fetch, its
batch wait, the engine) and published -> read (the broker's ack, this reader's fetch and poll).

With the live clock an arriving event is applied at once and its own changes are published with
the batch that read it; only deadlines (time passing without an event) wait for the watermark. So
these figures are what a marketing system reading the change topic sees, with the pack it ships
with. (Before f0f5302 an event waited in a reorder buffer until the watermark passed it: with the
default 5 minutes of `allowed_lateness` its change came 5 minutes later by design, and this bench
ran a copy of the pack with `allowed_lateness = "0s"` to measure anything at all.)

Per run: a warm-up (one order per customer: first tag assignments for everyone, drained, and
waited for until every warm-up order's changes are readable), a reference phase at 100 events/s
(the issue's latency target: p99 <= 100 ms), then the measured phase at the offered load. A phase
ends when the worker has committed every event sent and the reader has read every change published
by then: the worker publishes a batch's changes (and waits for their acks) before it commits the
batch, so the change topic's end offsets at that moment cover every change the phase's events
cause. No wait for idle sources is needed any more (event changes no longer wait for the
watermark; the default pack's deadlines are days away, so none fall inside a run). If the worker
cannot keep up, the backlog at the end of the load is reported and the run is marked saturated:
its percentiles are then lower bounds (changes still queued when the drain time ran out are not in
the sample).
"""

from __future__ import annotations

import random
import threading
import time

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.common import BROKER, Deployment, GroupProgress, end_offsets, log, median, percentile, tagstream, wait_http
from bench.scales import Scale

CATEGORIES = ("shoes", "dresses", "electronics", "home", "beauty")
REFERENCE_RATE = 100  # events/s: a load the worker follows; the p99 <= 100 ms is set at this rate
REFERENCE_SECONDS = 40  # 4,000 events, ~900 changes (most events change no tag): a p99 from the top ~9, not 1
REFERENCE_P99_TARGET_MS = 100
LOAD_P99_TARGET_MS = 250


class ChangeReader(threading.Thread):
    def __init__(self, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(bootstrap_servers=BROKER, enable_auto_commit=False, fetch_max_wait_ms=20,
                                      auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024)
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.received: list[tuple[float, int, bytes]] = []  # (read at, the worker's append time in ms, value)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            batch = self.consumer.poll(timeout_ms=50)
            now = time.time()
            for records in batch.values():
                self.received.extend((now, record.timestamp, record.value) for record in records)
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


def once(scale: Scale, index: int, drain_s: float) -> dict:
    deployment = Deployment.create("latency")
    rng = random.Random(index)
    worker = reader = producer = progress = None
    now_ms = lambda: int(time.time() * 1000)  # noqa: E731
    try:
        env = deployment.group_env(f"live{index}")
        app_id = env["TAGSTREAM_APP_ID"]
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
        changes_topic = env["TAGSTREAM_TOPIC_CHANGES"]
        reader = ChangeReader(changes_topic, deployment.settings.partitions)
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
                if drained is not None:  # every change of the phase's events is in the topic now
                    _read_up_to(reader, watch.topic_end(changes_topic, deployment.settings.partitions))
            finally:
                watch.close()
            if drained is not None and kind is not None:
                _await_causes(reader, before, set(sent_at), timeout_s=drain)  # every first order changes a tag
            received = reader.received[before:]
            matched = [(cause, at, stamped) for cause, at, stamped in
                       ((orjson.loads(value)["data"]["cause_event_id"], at, stamped) for at, stamped, value in received)
                       if cause in sent_at]
            latencies = [(at - sent_at[cause]) * 1000 for cause, at, _ in matched]
            # Split at the change record's timestamp, taken by the worker's producer as it appends
            # the change: append -> published (fetch, batch wait, engine) and published -> read.
            in_worker = [stamped - sent_at[cause] * 1000 for cause, _, stamped in matched]
            to_reader = [at * 1000 - stamped for _, at, stamped in matched]
            return {"offered_eps": count / took, "events": count, "changes_matched": len(latencies),
                    "events_answered": len({cause for cause, _, _ in matched}),
                    "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
                    "max_ms": max(latencies) if latencies else float("nan"),
                    "worker_p50_ms": percentile(in_worker, 50), "worker_p99_ms": percentile(in_worker, 99),
                    "reader_p50_ms": percentile(to_reader, 50), "reader_p99_ms": percentile(to_reader, 99),
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
                "reference_changes_matched": reference["changes_matched"], "reference_saturated": reference["saturated"],
                **{f"reference_{k}": reference[k] for k in ("max_ms", "worker_p50_ms", "worker_p99_ms", "reader_p50_ms", "reader_p99_ms")}}
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
        for _, _, value in received:
            missing.discard(orjson.loads(value)["data"]["cause_event_id"])
        if missing:
            time.sleep(0.1)


def _read_up_to(reader: ChangeReader, count: int, timeout_s: float = 60) -> None:
    """Wait until the reader has read `count` changes (the change topic's end offsets, summed)."""
    deadline = time.monotonic() + timeout_s
    while len(reader.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)


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
            f"p50 {result['reference_p50_ms']:,.0f} ms, p99 {result['reference_p99_ms']:,.0f} ms over "
            f"{result['reference_changes_matched']:,} changes")
    p99 = median([r["p99_ms"] for r in runs])
    saturated = any(r["saturated"] for r in runs)
    reference_p99 = median([r["reference_p99_ms"] for r in runs])
    reference_saturated = any(r["reference_saturated"] for r in runs)
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
            "reference_p99_ms": round(reference_p99, 1),
            "reference_changes_matched": round(median([r["reference_changes_matched"] for r in runs])),
            **{f"reference_{k}": round(median([r[f"reference_{k}"] for r in runs]), 1)
               for k in ("worker_p50_ms", "worker_p99_ms", "reader_p50_ms", "reader_p99_ms")},
        },
        "targets": {
            f"p99 <= {REFERENCE_P99_TARGET_MS} ms at {REFERENCE_RATE} ev/s": (not reference_saturated) and reference_p99 <= REFERENCE_P99_TARGET_MS,
            f"p99 <= {LOAD_P99_TARGET_MS} ms at 2k ev/s": (not saturated) and p99 <= LOAD_P99_TARGET_MS,
        },
        "runs": runs,
    }
