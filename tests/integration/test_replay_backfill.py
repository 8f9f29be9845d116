"""Replay of history through the real broker: a 50k-event, 2k-customer log gives the worker's
tag-change topic exactly the backtest output, and a replay killed midway resumes from its
checkpoint with the same final result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson

from config.settings import ROOT


def backtest_changes(deployment, log) -> dict[str, bytes]:
    out = log.parent / "expected.jsonl"
    result = deployment.cli("backtest", str(log), "--as-of", "watermark", "--changes-out", str(out))
    assert result.returncode == 0, result.stderr
    return {orjson.loads(line)["id"]: line for line in out.read_bytes().splitlines()}


def assert_published_exactly(deployment, worker, expected: dict[str, bytes], allow_identical_duplicates: bool = False):
    records = deployment.read_all(deployment.settings.topic_changes, expect=len(expected), idle_s=5, timeout_s=400)
    assert worker.alive, worker.tail()
    published: dict[str, bytes] = {}
    for record in records:
        change_id = orjson.loads(record.value)["id"]
        assert published.setdefault(change_id, record.value) == record.value, "a duplicate differs from its first copy"
    if not allow_identical_duplicates:
        assert len(records) == len(published), f"{len(records) - len(published)} changes published twice"
    missing, extra = expected.keys() - published.keys(), published.keys() - expected.keys()
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} extra"
    assert all(published[i] == expected[i] for i in expected)


def test_a_50k_event_history_replayed_into_a_running_worker_equals_backtest(deployment, tmp_path):
    log = tmp_path / "history.jsonl.gz"
    assert deployment.cli("generate", "--customers", "2000", "--days", "365", "--seed", "21", "--out", str(log)).returncode == 0
    expected = backtest_changes(deployment, log)
    worker = deployment.start_worker("--clock", "event")
    try:
        replayed = deployment.cli("replay", str(log), timeout=600)
        assert replayed.returncode == 0, replayed.stderr
        assert "sent 5" in replayed.stderr or "sent" in replayed.stderr
        assert_published_exactly(deployment, worker, expected)
    finally:
        worker.stop()


def test_a_killed_replay_resumes_from_its_checkpoint_without_loss(deployment, tmp_path):
    log = tmp_path / "history.jsonl"
    checkpoint = tmp_path / "replay.checkpoint"
    assert deployment.cli("generate", "--customers", "600", "--days", "300", "--seed", "8", "--out", str(log)).returncode == 0
    expected = backtest_changes(deployment, log)
    command = [sys.executable, "-m", "agents.cli", "replay", str(log), "--rate", "4000", "--checkpoint", str(checkpoint)]
    env = {**os.environ, **deployment.env}
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert checkpoint.is_file(), "a checkpoint was written before the kill"
    stopped_at = int(checkpoint.read_text().split()[0])
    resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after {stopped_at} events already confirmed" in resumed.stderr

    worker = deployment.start_worker("--clock", "event")
    try:
        assert_published_exactly(deployment, worker, expected)
    finally:
        worker.stop()


def test_history_from_any_year_and_future_dated_synthetic_history_reach_the_broker(deployment, tmp_path):
    """The broker judges record timestamps by its own clock (Kafka 4 refuses one more than an hour
    ahead; retention deletes history stamped decades back), so replay stamps the send time and
    the event time travels in the payload alone."""
    now = int(time.time() * 1000)
    log = tmp_path / "years.jsonl"
    docs = [{"type": "visit", "event_id": f"v{n}", "customer_id": "c1", "ts": ts}
            for n, ts in enumerate(["1997-01-01T00:00:00Z", now - 86_400_000, now + 2 * 3_600_000])]
    log.write_bytes(b"".join(orjson.dumps(doc) + b"\n" for doc in docs))
    sent_from = time.time() * 1000
    replayed = deployment.cli("replay", str(log), "--max-future", "3h")
    assert replayed.returncode == 0, replayed.stderr
    records = deployment.read_all(deployment.settings.topic_visits, expect=3, idle_s=1)
    assert [orjson.loads(r.value)["event_id"] for r in records] == ["v0", "v1", "v2"], "sent in event-time order"
    assert all(sent_from - 60_000 <= r.timestamp <= time.time() * 1000 for r in records)
