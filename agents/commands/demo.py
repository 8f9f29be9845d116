"""`tagstream demo`: the whole pipeline on this machine, with tag changes on screen.

Starts a worker (event clock) on topics of its own, replays the shipped sample log into them at a
readable pace, and prints every tag change as the worker publishes it. Each run uses fresh topics
and a fresh consumer group, so running it twice shows the same story twice.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
from kafka import KafkaConsumer

from agents.commands.arguments import port, positive_float
from agents.commands.tail import describe_group, same_moment
from agents.kafka_clients import client_options
from agents.topics import delete_topics, ensure_topics
from config.settings import Settings, load_settings, state_dir

HELP = "run worker + demo feed on the local broker and print tag changes (Ctrl-C stops)"
SAMPLE = Path(__file__).resolve().parents[1] / "demo" / "sample-events.jsonl.gz"  # shipped in the package


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help=HELP, description=HELP + ".")
    parser.add_argument("--log", default=str(SAMPLE), help="event log to feed (default: the shipped sample, 400 customers, one year)")
    parser.add_argument("--rate", type=positive_float, default=400, help="events per second fed to the worker (default 400)")
    parser.add_argument("--seconds", type=positive_float, help="stop by itself after this many seconds")
    parser.add_argument("--web-port", type=port, default=6066, help="worker web port: /metrics (default 6066)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run_id = time.strftime("%Y%m%d%H%M%S")
    env = {**os.environ, **_run_environment(run_id, args.web_port)}
    settings = load_settings(environ=env)
    ensure_topics(settings)
    log_dir = state_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    worker_log = log_dir / "demo-worker.log"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(_start(["worker", "--clock", "event", "--data-dir", str(log_dir / f"demo-{run_id}")], env, worker_log))
        _wait_for_web(args.web_port, processes[0], worker_log)
        print(f"demo: worker up (log {worker_log}); metrics at http://127.0.0.1:{args.web_port}/metrics", flush=True)
        processes.append(_start(["replay", args.log, "--rate", str(args.rate)], env, log_dir / "demo-replay.log"))
        print(f"demo: feeding {args.log} at {args.rate:.0f} events/s into topics {settings.topic_orders}, ...; "
              f"tag changes from {settings.topic_changes}:", flush=True)
        shown = _show_changes(settings, args.seconds, processes)
        print(f"demo: {shown:,} tag changes shown", flush=True)
        return 0
    except KeyboardInterrupt:
        print("\ndemo: stopping ...", flush=True)
        return 0
    finally:
        started = time.monotonic()
        _stop(processes)
        delete_topics(settings, settings.all_topics)
        print(f"demo: stopped worker and feed, removed this run's topics ({time.monotonic() - started:.0f}s)", flush=True)


def _run_environment(run_id: str, web_port: int) -> dict[str, str]:
    prefix = f"demo-{run_id}."
    names = {"ORDERS": "orders", "EMAIL_OPENS": "email-opens", "CLICKS": "clicks", "VISITS": "visits",
             "PROFILES": "profiles", "CUSTOM": "custom-events", "TICKS": "ticks", "CHANGES": "customer-tag-changes", "DLQ": "dlq"}
    env = {f"TAGSTREAM_TOPIC_{key}": prefix + name for key, name in names.items()}
    env.update(TAGSTREAM_APP_ID=f"tagstream-demo-{run_id}", TAGSTREAM_WEB_PORT=str(web_port))
    return env


def _start(arguments: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "agents.cli", *arguments], env=env, stdout=out,  # noqa: S603 - our own CLI, fixed arguments
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_web(port: int, worker: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the worker did not serve /metrics within {timeout_s:.0f}s; see {log}")


def _show_changes(settings: Settings, seconds: float | None, processes: list[subprocess.Popen]) -> int:
    consumer = KafkaConsumer(settings.topic_changes, **client_options(settings),
                             auto_offset_reset="earliest", isolation_level="read_committed", consumer_timeout_ms=500)
    started, shown = time.monotonic(), 0
    group: list[dict] = []
    try:
        while seconds is None or time.monotonic() - started < seconds:
            for record in consumer:
                event = orjson.loads(record.value)
                if group and not same_moment(group[0], event):
                    print(describe_group(group), flush=True)
                    group = []
                group.append(event)
                shown += 1
            if group:
                print(describe_group(group), flush=True)
                group = []
            if processes[0].poll() is not None:
                raise RuntimeError(f"the worker exited with {processes[0].returncode}")
    finally:
        consumer.close()
    return shown


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM all at once (the worker flushes and commits on its way out), SIGKILL after 30 s."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
