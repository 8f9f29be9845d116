"""Given a generated multi-customer log replayed through the real broker, the worker publishes
exactly what `tagstream backtest --as-of watermark` computes offline: same ids, same bytes."""

from __future__ import annotations

import orjson


def test_worker_publishes_exactly_the_backtest_changes(deployment, tmp_path):
    log = tmp_path / "events.jsonl"
    expected_out = tmp_path / "expected.jsonl"
    generated = deployment.cli("generate", "--customers", "300", "--days", "240", "--seed", "11", "--out", str(log))
    assert generated.returncode == 0, generated.stderr
    offline = deployment.cli("backtest", str(log), "--as-of", "watermark", "--changes-out", str(expected_out))
    assert offline.returncode == 0, offline.stderr
    expected = {orjson.loads(line)["id"]: line for line in expected_out.read_bytes().splitlines()}
    assert len(expected) > 1000

    replayed = deployment.cli("replay", str(log))
    assert replayed.returncode == 0, replayed.stderr
    worker = deployment.start_worker("--clock", "event")
    try:
        records = deployment.read_all(deployment.settings.topic_changes, expect=len(expected), idle_s=4)
        assert worker.alive, worker.tail()
    finally:
        worker.stop()

    published = {orjson.loads(r.value)["id"]: r.value for r in records}
    assert len(records) == len(published), "no change published twice"
    missing = expected.keys() - published.keys()
    extra = published.keys() - expected.keys()
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} extra; e.g. {[expected[i] for i in list(missing)[:2]]} {[published[i] for i in list(extra)[:2]]}"
    assert all(published[i] == expected[i] for i in expected), "same bytes for every change"
    for record in records:
        assert record.key.decode() == orjson.loads(record.value)["data"]["customer_id"]
    # a batch writes the state of ~250 customers at once, past Faust's producer buffer: its
    # throttle (more than 100 queued writes) must not hold incoming records back
    assert "producer buffer full" not in worker.log.read_text(errors="replace")
