"""Shared pieces of the fault-injection suite: generated logs, the backtest oracle, a background
replay, an incremental reader of the change topic and the oracle comparison."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from config.settings import ROOT


def generate(deployment, tmp: Path, customers: int, days: int, seed: int, *extra: str) -> Path:
    log = tmp / f"events-{seed}.jsonl"
    done = deployment.cli("generate", "--customers", str(customers), "--days", str(days), "--seed", str(seed),
                          "--out", str(log), *extra)
    assert done.returncode == 0, done.stderr
    return log


def oracle(deployment, log: Path, as_of: str = "watermark", snapshot: Path | None = None) -> dict[str, bytes]:
    """`tagstream backtest LOG --as-of …`: id -> the exact bytes the worker must publish."""
    out = log.with_suffix(f".oracle-{as_of.replace(':', '')}.jsonl")
    extra = ("--snapshot-out", str(snapshot)) if snapshot else ()
    offline = deployment.cli("backtest", str(log), "--as-of", as_of, "--changes-out", str(out), *extra)
    assert offline.returncode == 0, offline.stderr
    lines = out.read_bytes().splitlines()
    expected = {orjson.loads(line)["id"]: line for line in lines}
    assert len(expected) == len(lines), "the oracle itself never repeats an id"
    return expected


def preload(deployment, log: Path) -> None:
    """Produce the whole log before any worker runs. The faults then hit a worker working through
    a backlog; a producer writing *while* the worker is caught up trips a watermark race of its
    own (see test_concurrent_feed.py), which would mask what these tests check."""
    done = deployment.cli("replay", str(log))
    assert done.returncode == 0, done.stderr


class Replay:
    """`tagstream replay LOG --rate N` in the background."""

    def __init__(self, deployment, log: Path, *args: str) -> None:
        self.err = deployment.tmp / f"replay-{log.stem}.err"
        with open(self.err, "wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "agents.cli", "replay", str(log), *args],
                                            env={**os.environ, **deployment.env}, cwd=ROOT,
                                            stdout=subprocess.DEVNULL, stderr=err)

    def wait(self, timeout_s: float = 120) -> int:
        return self.process.wait(timeout=timeout_s)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")[-2000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Timeline:
    """(seconds since start, what happened, change records read so far): printed with results."""

    def __init__(self, collector: "Collector") -> None:
        self.collector, self.started, self.entries = collector, time.monotonic(), []

    def __call__(self, what: str, detail: object = None) -> None:
        self.collector.poll()
        self.entries.append((round(time.monotonic() - self.started, 1), what,
                             detail if detail is not None else len(self.collector.records)))

    def __repr__(self) -> str:
        return repr(self.entries)


@dataclass
class Collector:
    """Reads a topic from the beginning, incrementally, keeping every record in arrival order."""

    deployment: object
    topic: str
    records: list = field(default_factory=list)

    def __post_init__(self) -> None:
        settings = self.deployment.settings
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_broker, auto_offset_reset="earliest",
                                      enable_auto_commit=False, consumer_timeout_ms=300,
                                      max_partition_fetch_bytes=2 * 1024 * 1024)
        parts = [TopicPartition(self.topic, p) for p in range(settings.partitions)]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)

    def poll(self, budget_s: float = 1.0) -> int:
        """Read what is there (at most ~`budget_s`, so a busy topic never blocks the caller)."""
        got, started = 0, time.monotonic()
        while time.monotonic() - started < budget_s:
            batches = self.consumer.poll(timeout_ms=200)
            batch = [record for part in sorted(batches, key=lambda tp: tp.partition) for record in batches[part]]
            if not batch:
                break
            self.records += batch
            got += len(batch)
        return got

    def until(self, done: Callable[[list], bool], idle_s: float = 4.0, timeout_s: float = 90.0,
              alive: Callable[[], bool] = lambda: True) -> bool:
        """Poll until `done(records)` holds and nothing new arrived for `idle_s`; False on timeout."""
        started = last = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.poll():
                last = time.monotonic()
            if done(self.records) and time.monotonic() - last >= idle_s:
                return True
            if not alive():
                return False
        return False

    def close(self) -> None:
        self.consumer.close()


def ids_of(records: list) -> set[str]:
    return {orjson.loads(r.value)["id"] for r in records}


def covers(expected: dict[str, bytes]) -> Callable[[list], bool]:
    wanted = set(expected)
    return lambda records: wanted <= ids_of(records)


@dataclass
class Comparison:
    published: int  # records read
    missing: list[str]
    extra: list[str]
    duplicates: int  # records beyond the first copy of their id
    differing: list[str]  # ids whose copies are not all byte-identical, or differ from the oracle
    wrong_key: int
    samples: dict[str, object]

    def summary(self) -> str:
        return (f"{self.published} published records: {len(self.missing)} missing, {len(self.extra)} extra, "
                f"{self.duplicates} duplicates, {len(self.differing)} non-identical, {self.wrong_key} wrong keys; "
                f"samples {self.samples}")


def compare(expected: dict[str, bytes], records: list) -> Comparison:
    first: dict[str, bytes] = {}
    differing: set[str] = set()
    duplicates = wrong_key = 0
    for record in records:
        change = orjson.loads(record.value)
        if record.key is None or record.key.decode() != change["data"]["customer_id"]:
            wrong_key += 1
        copy = first.setdefault(change["id"], record.value)
        if copy is not record.value:
            duplicates += 1
            if copy != record.value:
                differing.add(change["id"])
    differing |= {i for i, value in first.items() if i in expected and value != expected[i]}
    missing = sorted(expected.keys() - first.keys())
    extra = sorted(first.keys() - expected.keys())
    samples = {
        "missing": [expected[i].decode() for i in missing[:2]],
        "extra": [first[i].decode() for i in extra[:2]],
        "differing": [(expected.get(i, b"").decode(), first[i].decode()) for i in sorted(differing)[:1]],
    }
    return Comparison(len(records), missing, extra, duplicates, sorted(differing), wrong_key, samples)


# Faust reads these from the environment. Its default session timeout (60 s) means that after a
# SIGKILL the group waits up to a minute before the dead member's partitions move (longer if the
# dead member had been elected group leader); the fault tests shorten it to the broker's minimum
# so a kill costs seconds, not minutes. Correctness does not depend on it.
FAST_FAILOVER = {"BROKER_SESSION_TIMEOUT": "6", "BROKER_HEARTBEAT_INTERVAL": "1"}


# A worker drains these backlogs in a second or two at its default batch size, before a test
# polling its progress can strike mid-stream; batches of 25 records keep the fault inside the
# stream and put many batch boundaries (each an offset release) around it.
MID_STREAM = {"TAGSTREAM_BATCH_SIZE": "25"}


def fast_failover(deployment) -> None:
    deployment.env.update(FAST_FAILOVER)


def mid_stream(deployment) -> None:
    deployment.env.update(MID_STREAM)


def wait_consuming(worker, timeout_s: float = 60, drained: Callable[[], bool] | None = None) -> bool:
    """Block until this worker process has consumed at least one input event (True), or, given
    `drained`, until that says every input record is already committed (False): a worker restarted
    after the backlog's last batch has nothing left to consume, only buffered events to release."""
    from tests.integration.harness import metric_value

    started = time.monotonic()
    next_drain_check = started + 3
    while time.monotonic() - started < timeout_s:
        assert worker.alive, worker.tail()
        if metric_value(worker.metrics() or "", "tagstream_events_consumed_total") > 0:
            return True
        if drained is not None and time.monotonic() >= next_drain_check:
            if drained():
                return False
            next_drain_check = time.monotonic() + 2
        time.sleep(0.2)
    raise AssertionError(f"worker consumed nothing within {timeout_s}s:\n{worker.tail()}")


def wait_for_share(run: Backlog, share: float, timeout_s: float) -> None:
    """Read changes until `share` of the expected ones are in (duplicates counted): a point of
    the stream chosen by progress, whatever the worker's speed."""
    wanted = share * len(run.expected)
    started = time.monotonic()
    while len(run.collector.records) < wanted and time.monotonic() - started < timeout_s:
        run.collector.poll(budget_s=0.05)


def input_drained(deployment) -> Callable[[], bool]:
    """Whether the deployment's consumer group has committed the end of every input partition."""
    settings = deployment.settings
    parts = [TopicPartition(topic, p) for topic in settings.input_topics for p in range(settings.partitions)]

    def check() -> bool:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_broker)
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_broker)
        try:
            committed = admin.list_group_offsets({settings.app_id: parts})[settings.app_id]
            ends = consumer.end_offsets(parts)
        finally:
            admin.close()
            consumer.close()
        return all(committed.get(tp) is not None and committed[tp].offset >= end for tp, end in ends.items())

    return check


@dataclass
class Backlog:
    """A generated log and its backtest oracle, produced into the input topics before any worker
    runs (see `preload`), with a reader of the change topic and a timeline for the report."""

    log: Path
    expected: dict[str, bytes]
    collector: Collector
    mark: Timeline

    @classmethod
    def produced(cls, deployment, tmp: Path, *, customers: int, days: int, seed: int, at_least: int,
                 snapshot: Path | None = None) -> "Backlog":
        log = generate(deployment, tmp, customers=customers, days=days, seed=seed)
        expected = oracle(deployment, log, snapshot=snapshot)
        assert len(expected) > at_least, f"the log yields only {len(expected)} changes"
        preload(deployment, log)
        collector = Collector(deployment, deployment.settings.topic_changes)
        return cls(log, expected, collector, Timeline(collector))

    def converge(self, alive: Callable[[], bool], timeout_s: float) -> None:
        """Read until every expected change is there and the topic is quiet, or give up."""
        done = self.collector.until(covers(self.expected), idle_s=4, timeout_s=timeout_s, alive=alive)
        self.mark("converged" if done else "gave up")

    def check(self, label: str, tmp: Path, *, duplicates: bool, context: str = "") -> Comparison:
        """The oracle comparison every fault case ends with: nothing missing, nothing invented,
        every copy byte-identical, keys right; duplicates allowed only where the case says so."""
        records = self.collector.records
        dump(records, tmp / "published.jsonl")
        result = compare(self.expected, records)
        summary = f"{label}: {len(self.expected)} expected; {result.summary()}; timeline {self.mark}"
        print(f"\n{summary}")
        assert not result.missing, f"changes lost: {summary}\n{context}"
        assert not result.extra, f"changes the oracle does not have: {summary}\n{context}"
        assert not result.differing, f"copies must be byte-identical to the oracle: {summary}"
        assert not result.wrong_key, summary
        if not duplicates:
            assert result.duplicates == 0, f"no change may be published twice here: {summary}"
        return result


def dump(records: list, path: Path) -> None:
    """Every record read, in arrival order per partition, for a post-mortem of a failed run."""
    with open(path, "wb") as out:
        for r in records:
            out.write(orjson.dumps({"p": r.partition, "o": r.offset, "v": orjson.loads(r.value)}) + b"\n")
