"""Shared plumbing of the benchmarks: a private broker and Redis, isolated deployments, data sets,
child processes that are always stopped, consumer-group progress, and small statistics helpers.

Every benchmark talks to its own Kafka (127.0.0.1:19092) and Redis (127.0.0.1:16379), never to
the shared broker on 9092 that other suites stop and start.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import ROOT, Settings, load_settings

KAFKA_PORT = int(os.environ.get("BENCH_KAFKA_PORT", "19092"))
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "16379"))
BROKER = f"127.0.0.1:{KAFKA_PORT}"
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
LOCAL = ROOT / ".local" / "bench"
DATA = LOCAL / "data"
RUNS = LOCAL / "runs"
PYTHON = sys.executable
NAIVE_WINDOW_DAYS = 30  # bench/naive_faust.py: 30-day hopping windows stepping by a day

INPUT_NAMES = {"ORDERS": "orders", "EMAIL_OPENS": "email-opens", "CLICKS": "clicks", "VISITS": "visits",
               "PROFILES": "profiles", "CUSTOM": "custom-events"}
OTHER_NAMES = {"TICKS": "ticks", "CHANGES": "changes", "DLQ": "dlq"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The private broker and Redis
# ---------------------------------------------------------------------------------------------


def services_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGSTREAM_")}
    env.update(KAFKA_PORT=str(KAFKA_PORT), REDIS_PORT=str(REDIS_PORT), TAGSTREAM_LOCAL_DIR=str(LOCAL))
    env.pop("KAFKA_CONTROLLER_PORT", None)
    return env


def services(action: str) -> None:
    """`scripts/services.sh up|down` for the benchmark's own broker and Redis."""
    LOCAL.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), action], env=services_env(), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in done.stdout.splitlines():
        log(line)
    if done.returncode != 0:
        raise RuntimeError(f"services.sh {action} failed with status {done.returncode}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Isolated deployments: topics, consumer group, web port and data directory of their own
# ---------------------------------------------------------------------------------------------


def base_env() -> dict[str, str]:
    """The caller's environment without any TAGSTREAM_* (make exports the shared broker's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGSTREAM_")}
    env.update(TAGSTREAM_KAFKA_BROKER=BROKER, TAGSTREAM_REDIS_URL=REDIS_URL,
               PYTHONUNBUFFERED="1")
    return env


@dataclass
class Deployment:
    """One set of topics (prefix `bench-<scenario>-<id>.`), cleaned up by `remove`."""

    scenario: str
    prefix: str = ""
    env: dict[str, str] = field(default_factory=dict)
    settings: Settings | None = None
    dir: Path = Path()

    @classmethod
    def create(cls, scenario: str, partitions: int = 8) -> "Deployment":
        tag = uuid.uuid4().hex[:8]
        prefix = f"bench-{scenario}-{tag}"
        env = base_env()
        env.update({f"TAGSTREAM_TOPIC_{k}": f"{prefix}.{v}" for k, v in {**INPUT_NAMES, **OTHER_NAMES}.items()})
        env.update(TAGSTREAM_APP_ID=prefix, TAGSTREAM_PARTITIONS=str(partitions))
        directory = RUNS / prefix
        directory.mkdir(parents=True, exist_ok=True)
        deployment = cls(scenario, prefix, env, load_settings(environ=env), directory)
        from agents.topics import ensure_topics

        ensure_topics(deployment.settings)
        _LIVE_PREFIXES.add(prefix)
        return deployment

    def group_env(self, name: str) -> dict[str, str]:
        """Environment of one consumer (worker) of these input topics: its own app id / group,
        its own ticks/changes/dlq topics, web port and data directory."""
        env = dict(self.env)
        app_id = f"{self.prefix}-{name}"
        env.update(TAGSTREAM_APP_ID=app_id, TAGSTREAM_WEB_PORT=str(free_port()),
                   TAGSTREAM_DATA_DIR=str(self.dir / name))
        env.update({f"TAGSTREAM_TOPIC_{k}": f"{app_id}.{v}" for k, v in OTHER_NAMES.items()})
        return env

    @property
    def input_topics(self) -> list[str]:
        return list(self.settings.input_topics)

    def remove(self) -> None:
        remove_prefix(self.prefix)
        _LIVE_PREFIXES.discard(self.prefix)


_LIVE_PREFIXES: set[str] = set()


def admin():
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=BROKER, client_id="tagstream-bench", request_timeout_ms=30000)


def remove_prefix(prefix: str) -> None:
    """Delete every topic and consumer group named `prefix` or starting with `prefix.` or
    `prefix-` (best effort)."""
    def ours(name: str) -> bool:
        return name == prefix or name.startswith(prefix + ".") or name.startswith(prefix + "-")

    try:
        client = admin()
    except Exception as error:  # noqa: BLE001
        log(f"cleanup of {prefix}: broker unreachable ({error})")
        return
    try:
        topics = [t for t in client.list_topics() if ours(t)]
        for start in range(0, len(topics), 50):
            try:
                client.delete_topics(topics[start : start + 50], timeout_ms=30000)
            except Exception as error:  # noqa: BLE001
                log(f"cleanup of {prefix}: deleting topics failed: {error}")
        try:
            groups = [g.get("group_id") if isinstance(g, dict) else g for g in client.list_groups()]
            groups = [g for g in groups if isinstance(g, str) and ours(g)]
            if groups:
                client.delete_groups(groups)
        except Exception as error:  # noqa: BLE001
            log(f"cleanup of {prefix}: deleting groups failed: {error}")
    finally:
        client.close()


def remove_all_live() -> None:
    for prefix in list(_LIVE_PREFIXES):
        remove_prefix(prefix)
        _LIVE_PREFIXES.discard(prefix)


# ---------------------------------------------------------------------------------------------
# Child processes: always stopped, by their own process group, never by name
# ---------------------------------------------------------------------------------------------

_CHILDREN: list["Child"] = []


class Child:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, name: str = "") -> None:
        self.args, self.log_path, self.name = args, log_path, name or args[-1]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.started = time.monotonic()
        _CHILDREN.append(self)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check(self) -> None:
        if not self.alive:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout=timeout_s)

    def stop(self, timeout_s: float = 30) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        if self in _CHILDREN:
            _CHILDREN.remove(self)


def stop_all_children() -> None:
    for child in list(_CHILDREN):
        child.stop(timeout_s=10)


atexit.register(stop_all_children)


def tagstream(*args: str, env: dict[str, str], log_path: Path, name: str = "") -> Child:
    return Child([PYTHON, "-m", "agents.cli", *args], env, log_path, name or f"tagstream {args[0]}")


def run_cli(*args: str, env: dict[str, str], timeout_s: float = 1800) -> str:
    done = subprocess.run([PYTHON, "-m", "agents.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"tagstream {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stderr


def wait_http(port: int, child: Child, path: str = "/metrics", timeout_s: float = 120) -> float:
    """Wait until the child's web server answers; return the seconds since it was started."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child.check()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).read()
            return time.monotonic() - child.started
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{child.name} did not serve {path} within {timeout_s:.0f}s:\n{child.tail()}")


# ---------------------------------------------------------------------------------------------
# Data sets: `tagstream generate`, cached by their arguments, cut to an exact number of lines
# ---------------------------------------------------------------------------------------------


def dataset(customers: int, days: int, seed: int, lines: int | None = None, start: str | None = None) -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    name = f"gen-c{customers}-d{days}-s{seed}" + (f"-{start[:10]}" if start else "")
    full = DATA / f"{name}.jsonl"
    if not full.exists():
        started = time.monotonic()
        tmp = full.with_suffix(".tmp")
        extra = ["--start", start] if start else []
        run_cli("generate", "--customers", str(customers), "--days", str(days), "--seed", str(seed),
                "--out", str(tmp), *extra, env=base_env())
        tmp.rename(full)
        log(f"generated {full.name} in {time.monotonic() - started:.1f}s")
    if lines is None:
        return full
    cut = DATA / f"{name}-n{lines}.jsonl"
    if not cut.exists():
        with open(full, "rb") as source, open(cut.with_suffix(".tmp"), "wb") as out:
            count = 0
            for line in source:
                out.write(line)
                count += 1
                if count >= lines:
                    break
        if count < lines:
            raise RuntimeError(f"{full.name} has only {count:,} lines, {lines:,} wanted")
        cut.with_suffix(".tmp").rename(cut)
    return cut


def count_lines(path: Path) -> int:
    with open(path, "rb") as source:
        return sum(1 for _ in source)


# ---------------------------------------------------------------------------------------------
# Consumer-group progress: committed offsets against the end offsets of the input topics
# ---------------------------------------------------------------------------------------------


def end_offsets(topics: Iterable[str], partitions: int = 8) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=BROKER)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        return consumer.end_offsets(parts)
    finally:
        consumer.close()


@dataclass
class Throughput:
    events: int  # events counted in the measured window
    seconds: float
    total: int  # events the group had to consume
    startup_s: float  # from process start to the first committed progress

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class GroupProgress:
    """Polls a consumer group's committed offsets on the input topics."""

    def __init__(self, group: str, ends: dict) -> None:
        self.group = group
        self.ends = ends
        self.total = sum(ends.values())
        self.client = admin()
        self._last = 0

    def committed(self) -> int:
        """Committed events so far (the last value seen while the coordinator is not ready)."""
        try:
            offsets = self.client.list_group_offsets({self.group: list(self.ends)}).get(self.group, {})
        except Exception:  # noqa: BLE001 - coordinator loading, group not yet known: no news
            return self._last
        self._last = sum(min(meta.offset, self.ends[tp]) for tp, meta in offsets.items()
                         if meta.offset is not None and meta.offset >= 0)
        return self._last

    def topic_end(self, topic: str, partitions: int = 8) -> int:
        """Sum of a topic's end offsets (0 while it does not exist yet)."""
        from kafka import TopicPartition
        from kafka.admin import OffsetSpec

        try:
            found = self.client.list_partition_offsets({TopicPartition(topic, p): OffsetSpec.LATEST for p in range(partitions)})
        except Exception:  # noqa: BLE001 - not created yet
            return 0
        return sum(o.offset for o in found.values())

    def members(self) -> int:
        try:
            described = self.client.describe_groups([self.group])[self.group]
            return len(described.get("members", [])) if described.get("group_state", described.get("state")) == "Stable" else 0
        except Exception:  # noqa: BLE001
            return 0

    def measure(self, children: list[Child], timeout_s: float, members: int = 1, poll_s: float = 0.2,
                budget_s: float | None = None, progress: Callable[[], int] | None = None,
                settle: Callable[[], int] | None = None) -> Throughput:
        """From the first progress seen while the group is stable with `members` members to the
        moment progress reaches the end offsets (or `budget_s` of measuring). Progress is the
        committed offsets on the input topics unless `progress` says otherwise."""
        progress = progress or self.committed
        started = min(c.started for c in children)
        deadline = time.monotonic() + timeout_s
        first: tuple[float, int] | None = None
        last = (time.monotonic(), 0)
        while time.monotonic() < deadline:
            for child in children:
                child.check()
            done = progress()
            now = time.monotonic()
            last = (now, done)
            if first is None and done > 0 and (members <= 1 or self.members() >= members):
                first = (now, done)
            if done >= self.total:
                break
            if first is not None and budget_s is not None and now - first[0] >= budget_s:
                break
            time.sleep(poll_s)
        else:
            raise RuntimeError(f"group {self.group} reached {last[1]:,} of {self.total:,} in {timeout_s:.0f}s")
        if first is None or last[1] <= first[1]:
            raise RuntimeError(f"group {self.group}: no progress measurable (committed {last[1]:,} of {self.total:,})")
        end = last[0]
        if settle is not None and last[1] >= self.total:
            end = self._settled(settle, end, deadline)
        return Throughput(last[1] - first[1], end - first[0], self.total, first[0] - started)

    @staticmethod
    def _settled(settle: Callable[[], int], since: float, deadline: float, quiet_s: float = 1.0) -> float:
        """Writes may trail the commits (a producer buffer): the moment `settle()` last grew."""
        value, changed = settle(), since
        while time.monotonic() < deadline and time.monotonic() - changed < quiet_s:
            time.sleep(0.1)
            now_value = settle()
            if now_value != value:
                value, changed = now_value, time.monotonic()
        return changed

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def repeat(times: int, once: Callable[[int], dict], warmup: Callable[[], object] | None = None) -> list[dict]:
    if warmup is not None:
        warmup()
    return [once(i) for i in range(times)]


def medians(runs: list[dict]) -> dict[str, float]:
    keys = [k for k in runs[0] if all(isinstance(r.get(k), (int, float)) for r in runs)]
    return {k: median([float(r[k]) for r in runs]) for k in keys}


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gib": round(mem / 2**30, 1),
            "python": sys.version.split()[0]}
