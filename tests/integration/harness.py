"""Helpers that run the real thing: topics on the local broker, a worker process, consumers.

Each test gets topics and a consumer group of its own (a random suffix), so tests never see each
other's records and can run against the one broker `make up` started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agents.topics import delete_topics, ensure_topics
from config.settings import ROOT, Settings, load_settings

BROKER = os.environ.get("TAGSTREAM_KAFKA_BROKER", "127.0.0.1:9092")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_environment(tmp: Path) -> dict[str, str]:
    """TAGSTREAM_* variables giving a run its own topics, group, web port and data directory."""
    tag = uuid.uuid4().hex[:10]
    names = {"ORDERS": "orders", "EMAIL_OPENS": "email-opens", "CLICKS": "clicks", "VISITS": "visits",
             "PROFILES": "profiles", "CUSTOM": "custom-events", "TICKS": "ticks", "CHANGES": "changes", "DLQ": "dlq"}
    env = {f"TAGSTREAM_TOPIC_{key}": f"t{tag}.{name}" for key, name in names.items()}
    env.update(
        TAGSTREAM_KAFKA_BROKER=BROKER,
        TAGSTREAM_APP_ID=f"tagstream-test-{tag}",
        TAGSTREAM_WEB_PORT=str(free_port()),
        TAGSTREAM_DATA_DIR=str(tmp / "worker"),
        TAGSTREAM_TICK_INTERVAL="0.5",
    )
    return env


class RedisServer:
    """A private, throw-away redis-server (Debian's binary) so a test can kill and restart it
    without touching anyone else's data."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)


@dataclass
class Deployment:
    """One isolated tagstream deployment on the real broker, with a Redis of its own."""

    env: dict[str, str]
    settings: Settings
    tmp: Path
    redis: RedisServer

    @classmethod
    def create(cls, tmp: Path) -> "Deployment":
        env = isolated_environment(tmp)
        server = RedisServer(tmp)
        server.start()
        env["TAGSTREAM_REDIS_URL"] = server.url
        settings = load_settings(environ=env)
        ensure_topics(settings)
        return cls(env, settings, tmp, server)

    def remove(self) -> None:
        delete_topics(self.settings, self.settings.all_topics)
        self.redis.kill()

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "agents.cli", *args], env={**os.environ, **self.env},
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def start_worker(self, *args: str) -> "WorkerProcess":
        worker = WorkerProcess(self, list(args))
        worker.start()
        return worker

    def producer(self) -> KafkaProducer:
        return KafkaProducer(bootstrap_servers=self.settings.kafka_broker, acks="all", linger_ms=5)

    def read_all(self, topic: str, idle_s: float = 3.0, expect: int | None = None, timeout_s: float = 120) -> list:
        """Every record of `topic`, waiting until `expect` arrived (if given) and it then stays quiet."""
        consumer = KafkaConsumer(bootstrap_servers=self.settings.kafka_broker, auto_offset_reset="earliest",
                                 enable_auto_commit=False, consumer_timeout_ms=500)
        parts = [TopicPartition(topic, p) for p in range(self.settings.partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records, last, started = [], time.monotonic(), time.monotonic()
        try:
            while time.monotonic() - started < timeout_s:
                batch = list(consumer)
                records += batch
                if batch:
                    last = time.monotonic()
                enough = expect is None or len(records) >= expect
                if enough and time.monotonic() - last >= idle_s:
                    break
        finally:
            consumer.close()
        return records


class WorkerProcess:
    def __init__(self, deployment: Deployment, args: list[str]) -> None:
        self.deployment = deployment
        self.args = args
        self.log = deployment.tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen | None = None

    @property
    def port(self) -> int:
        return int(self.deployment.env["TAGSTREAM_WEB_PORT"])

    def start(self, timeout_s: float = 90) -> None:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agents.cli", "worker", *self.args],
                env={**os.environ, **self.deployment.env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.alive, f"worker exited with {self.process.returncode}:\n{self.tail()}"
            if self.metrics() is not None:
                return
            time.sleep(0.5)
        raise AssertionError(f"worker did not serve /metrics within {timeout_s}s:\n{self.tail()}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def metrics(self) -> str | None:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2).read().decode()
        except OSError:
            return None

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def start_peer_worker(deployment: Deployment, *args: str, name: str = "peer") -> WorkerProcess:
    """A second worker of the same deployment (same app id, so the same consumer group and
    topics) with a web port and data directory of its own, as a second machine would have."""
    import dataclasses

    env = {**deployment.env, "TAGSTREAM_WEB_PORT": str(free_port()), "TAGSTREAM_DATA_DIR": str(deployment.tmp / f"worker-{name}")}
    worker = WorkerProcess(dataclasses.replace(deployment, env=env), list(args))
    worker.start()
    return worker
