"""A log sorted by customer, not by time, backfills exactly like its time-sorted twin.

The public retail export of the issue: orders only (the other three input topics stay empty, so
the worker counts them idle and its watermark follows the newest order read) and sorted by
customer, then date. Sent in file order, most later customers' orders would be late in the worker.
`replay` sends in event-time order and `backtest` computes in it, so the worker publishes exactly
the backtest's changes, and the backtest does not depend on the file order at all."""

from __future__ import annotations

import orjson

from tests.integration.test_replay_backfill import assert_published_exactly, backtest_changes


def orders_by_customer(all_events: bytes) -> bytes:
    orders = [line for line in all_events.splitlines() if b'"type":"order"' in line]
    orders.sort(key=lambda line: (orjson.loads(line)["customer_id"], orjson.loads(line)["ts"]))
    return b"\n".join(orders) + b"\n"


def test_a_customer_sorted_orders_only_log_replayed_into_the_worker_equals_backtest(deployment, tmp_path):
    generated = tmp_path / "generated.jsonl"
    assert deployment.cli("generate", "--customers", "300", "--days", "240", "--seed", "5", "--out", str(generated)).returncode == 0
    (tmp_path / "by-customer").mkdir()
    (tmp_path / "by-time").mkdir()
    by_customer = tmp_path / "by-customer" / "orders.jsonl"
    by_customer.write_bytes(orders_by_customer(generated.read_bytes()))
    by_time = tmp_path / "by-time" / "orders.jsonl"
    by_time.write_bytes(b"\n".join(sorted(by_customer.read_bytes().splitlines(), key=lambda l: orjson.loads(l)["ts"])) + b"\n")
    assert by_customer.read_bytes() != by_time.read_bytes()

    expected = backtest_changes(deployment, by_customer)
    assert expected == backtest_changes(deployment, by_time), "the backtest does not depend on the file order"
    assert len(expected) > 1000

    worker = deployment.start_worker("--clock", "event")
    try:
        replayed = deployment.cli("replay", str(by_customer))
        assert replayed.returncode == 0, replayed.stderr
        assert_published_exactly(deployment, worker, expected)
    finally:
        worker.stop()
