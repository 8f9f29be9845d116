"""recovery: seconds for a restarted worker to restore N customers from its changelog and serve.

The changelog a worker would have left behind is written directly: N customers whose states are
real ones (built by `Backtest` from a generated year of history, cycled under new ids), keyed and
partitioned as the worker writes them, plus each partition's watermark record. Before the
worker starts, one probe order per partition (a new customer, older than the restored watermark,
so it is applied at once) waits in the orders topic. The time measured runs from starting
`tagstream worker --clock event` to the changes of all eight probes being readable: joining the
group, reading every partition's changelog into the engine (agents/changelog.py), and one event
per partition.

The same is measured with an empty changelog (watermarks only) side by side; the difference is the
cost of the N customers, projected linearly to 1M. The worker's log gives the load itself
("loaded partitions ...: N customers in S s"): the changelog read and the engine's restore.
"""

from __future__ import annotations

import itertools
import re
import time
from datetime import datetime

import orjson
from kafka import KafkaProducer

from agents.changelog import watermark_key
from agents.topics import ensure_topics
from bench.common import BROKER, Deployment, GroupProgress, dataset, end_offsets, log, median, tagstream
from bench.latency import ChangeReader
from bench.scales import Scale
from config.settings import load_settings
from schemas.events import EVENT_TYPES
from stream.backtest import Backtest
from stream.logfile import LogReader
from stream.native import stored_wake
from stream.partitioner import partition_for
from stream.rules.ruleset import load_rules

TEMPLATE_CUSTOMERS = 2000


def templates() -> tuple[list[bytes], int]:
    """Encoded states of real customers after a year, and the watermark to restore: just below
    the earliest instant any of them has work due (so a restart fires no deadline)."""
    rules = load_rules(None)
    backtest = Backtest(rules, 8)
    backtest.run(LogReader([dataset(TEMPLATE_CUSTOMERS, 365, 5)]), lambda change: None, lambda line, rejection: None)
    backtest.finish("watermark", lambda change: None)
    states = backtest.engine.export_states()  # what the worker stores: state format 2
    wakes = [wake for customer_id, raw in states if (wake := stored_wake(customer_id, raw)) is not None]
    return [raw for _, raw in states], min(wakes) - 1


def write_changelog(topic: str, customers: int, encoded: list[bytes], watermark: int, lateness_ms: int) -> None:
    """Into the (empty) changelog topic `ensure_topics` created."""
    producer = KafkaProducer(bootstrap_servers=BROKER, acks=1, linger_ms=20, batch_size=512 * 1024, retries=10)
    sent = []
    try:
        for n, value in zip(range(customers), itertools.cycle(encoded)):
            sent.append(producer.send(topic, key=f"r{n:07d}".encode(), value=value))
        meta = orjson.dumps({"newest": {source: watermark + lateness_ms for source in EVENT_TYPES}, "value": watermark})
        for partition in range(8):
            sent.append(producer.send(topic, key=watermark_key(partition, 8), value=meta))  # lands on `partition`
        producer.flush()
        _confirm(sent)
    finally:
        producer.close(timeout=10)
    written = sum(end_offsets([topic]).values())
    if written != customers + 8:
        raise RuntimeError(f"changelog {topic} holds {written:,} records, {customers + 8:,} were written")


def _confirm(futures: list) -> None:
    for future in futures:
        future.get(timeout=60)  # raises the delivery error, if any


def probes(orders_topic: str, tag: str, at: int) -> set[str]:
    """One order per partition for a new customer, stamped `at`; returns their event ids."""
    ids, sent, producer = set(), [], KafkaProducer(bootstrap_servers=BROKER, acks="all", retries=10)
    try:
        for partition in range(8):
            customer = next(c for c in (f"probe-{tag}-{k}" for k in itertools.count()) if partition_for(c, 8) == partition)
            event = {"event_id": f"p-{customer}", "type": "order", "customer_id": customer, "ts": at, "amount": 50.0,
                     "currency": "EUR", "items": [{"sku": "P1", "category": "shoes", "qty": 1, "price": 50.0}], "channel": "web"}
            sent.append(producer.send(orders_topic, key=customer.encode(), value=orjson.dumps(event)))
            ids.add(event["event_id"])
        producer.flush()
        _confirm(sent)
    finally:
        producer.close(timeout=10)
    return ids


LOADED = re.compile(r"loaded partitions .*: (\d+) customers in ([0-9.]+)s")


def _log_phases(path, started_wall: float) -> dict[str, float]:
    """Seconds from the worker's start to "Worker ready", and the seconds its partitions took
    to load, from its log."""
    found: dict[str, float] = {}
    for line in path.read_text(errors="replace").splitlines():
        if "ready_s" not in found and "Worker ready" in line and line.startswith("["):
            try:
                found["ready_s"] = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp() - started_wall
            except ValueError:
                continue
        if (loaded := LOADED.search(line)) is not None:
            found["load_s"] = found.get("load_s", 0.0) + float(loaded.group(2))
    return found


class ProbeTimeout(RuntimeError):
    pass


def _diagnose(env: dict, reader: ChangeReader) -> str:
    """What the worker says it did, and what reached the change topic (for a timeout)."""
    import urllib.request

    facts = [f"reader got {len(reader.received)} changes (thread alive: {reader.is_alive()})"]
    try:
        facts.append(f"change topic holds {sum(end_offsets([env['TAGSTREAM_TOPIC_CHANGES']]).values())}")
    except Exception as error:  # noqa: BLE001
        facts.append(f"change topic unreadable: {error}")
    try:  # did the group commit past the probes without publishing their changes?
        ends = end_offsets([env["TAGSTREAM_TOPIC_ORDERS"]])
        progress = GroupProgress(env["TAGSTREAM_APP_ID"], ends)
        try:
            facts.append(f"orders topic holds {sum(ends.values())}, group committed {progress.committed()}")
        finally:
            progress.close()
    except Exception as error:  # noqa: BLE001
        facts.append(f"group offsets unreadable: {error}")
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{env['TAGSTREAM_WEB_PORT']}/metrics", timeout=5).read().decode()
        for name in ("tagstream_events_consumed_total", "tagstream_events_late_total", "tagstream_tag_changes_total",
                     "tagstream_customers_tracked", "tagstream_offset_holes_total"):
            total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))
            facts.append(f"{name} {total:g}")
        marks = sorted({line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith("tagstream_watermark_seconds")})
        facts.append(f"watermarks {', '.join(marks) or 'none'}")
    except Exception as error:  # noqa: BLE001
        facts.append(f"metrics unreadable: {error}")
    return ", ".join(facts)


def _serve(env: dict, deployment: Deployment, tag: str, probe_at: int, reader: ChangeReader, timeout_s: float) -> dict:
    """Send the probes (stamped `probe_at`), start a worker; seconds until the changes of every
    probe are readable."""
    wanted = probes(env["TAGSTREAM_TOPIC_ORDERS"], tag, probe_at)
    log_path = deployment.dir / f"{tag}.log"
    worker = tagstream("worker", "--clock", "event", env=env, log_path=log_path, name=f"tagstream worker ({tag})")
    started_wall = time.time() - (time.monotonic() - worker.started)
    seen: dict[str, float] = {}

    def answered(until: float) -> bool:
        while time.monotonic() < until:
            worker.check()
            for at, _, value in list(reader.received):
                cause = orjson.loads(value)["data"]["cause_event_id"]
                if cause in wanted:
                    seen.setdefault(cause, at)
            if len(seen) == len(wanted):
                return True
            time.sleep(0.1)
        return False

    try:
        if not answered(worker.started + timeout_s):
            raise ProbeTimeout(f"{len(seen)} of {len(wanted)} probes answered within {timeout_s:.0f}s; "
                               f"{_diagnose(env, reader)}; worker log {log_path}")
    finally:
        worker.stop()
    return {"serving_s": max(seen.values()) - started_wall, **_log_phases(log_path, started_wall)}


def restart(customers: int, encoded: list[bytes], watermark: int, tag: str, timeout_s: float) -> dict:
    """A worker starting on a changelog of `customers`."""
    deployment = Deployment.create("recovery")
    reader = None
    try:
        env = deployment.group_env(tag)
        settings = load_settings(environ=env)
        ensure_topics(settings)
        lateness = load_rules(None).allowed_lateness_ms
        write_changelog(settings.topic_changelog, customers, encoded, watermark, lateness)
        reader = ChangeReader(settings.topic_changes, settings.partitions)
        reader.start()
        return {"customers": customers, **_serve(env, deployment, tag, watermark - 3_600_000, reader, timeout_s)}
    finally:
        if reader is not None:
            reader.stopping.set()
            reader.join(timeout=10)
        deployment.remove()


def run(scale: Scale, repeat: int) -> dict:
    n = scale.recovery_customers
    encoded, watermark = templates()
    log(f"recovery: {len(encoded):,} template states, {sum(map(len, encoded)) / len(encoded):,.0f} B each; warm-up")
    retried: list[str] = []

    def measured(customers: int, tag: str) -> dict:
        """One restart; a failure is logged and the restart tried once more (counted in the results).
        The time allowed grows with the customers to restore (an empty start serves in ~3 s; a
        start that has answered nothing after 30 s will not)."""
        timeout = 30 + customers / 1000
        try:
            return restart(customers, encoded, watermark, tag, timeout)
        except RuntimeError as error:  # a probe timeout, a changelog not fully written
            log(f"recovery: {tag}: {error}; trying once more")
            retried.append(f"{tag}: {error}")
            return restart(customers, encoded, watermark, tag + "-retry", timeout)

    measured(0, "warm")
    runs = []
    for i in range(repeat):
        empty = measured(0, f"empty{i}")
        full = measured(n, f"full{i}")
        read_s = full.get("load_s", float("nan"))
        runs.append({"empty_s": empty["serving_s"], "full_s": full["serving_s"],
                     "restore_s": full["serving_s"] - empty["serving_s"], "load_s": read_s,
                     "ready_to_serving_s": full["serving_s"] - full.get("ready_s", float("nan")),
                     "empty_ready_to_serving_s": empty["serving_s"] - empty.get("ready_s", float("nan"))})
        log(f"recovery: run {i + 1}: serving after {full['serving_s']:.1f}s with {n:,} customers (loaded in "
            f"{read_s:.1f}s, ready -> serving {runs[-1]['ready_to_serving_s']:.1f}s), {empty['serving_s']:.1f}s with none")
    restore_s = median([r["restore_s"] for r in runs])
    per_second = n / restore_s if restore_s > 0 else float("inf")
    projected_1m = 1_000_000 / per_second
    figures = {
        "customers": n,
        "state_bytes_mean": round(sum(map(len, encoded)) / len(encoded)),
        "serving_s_with_n": round(median([r["full_s"] for r in runs]), 2),
        "serving_s_empty": round(median([r["empty_s"] for r in runs]), 2),
        "restore_s": round(restore_s, 2),
        "load_s": round(median([r["load_s"] for r in runs]), 2),
        "ready_to_serving_s": round(median([r["ready_to_serving_s"] for r in runs]), 2),
        "ready_to_serving_s_empty": round(median([r["empty_ready_to_serving_s"] for r in runs]), 2),
        "restore_customers_per_s": round(per_second),
        "projected_1m_restore_s": round(projected_1m, 1),
    }
    figures["restarts_retried"] = len(retried)
    return {"figures": figures, "targets": {"1M restored <= 30 s": projected_1m <= 30}, "runs": runs, "retried": retried}
