"""Wall-clock ticks during recovery never produce a false deadline change. A worker with
`--clock live` works through a backlog of recent events (the log ends 12 hours ago), is SIGKILLed
mid-stream and restarted. While a partition still has records to deliver, the wall clock must not
move its watermark; once caught up, it may (deadlines up to now - allowed lateness fire).

Checked against `backtest --as-of T` (T = the moment of the check, i.e. time ran to T):
- every published change is one of the oracle's, byte for byte (a dormant/churned/... change
  fired too early, before the backlog's events were applied, would not be);
- every oracle change stamped before T - allowed_lateness - margin was published (the ticks did
  release the deadlines once caught up), lifecycle ones included;
- no deadline change (cause_event_id null) is stamped later than its record's wall-clock
  timestamp minus the allowed lateness."""

from __future__ import annotations

import random
import signal
import time
from datetime import datetime, timedelta, timezone

import orjson

from stream.rules.ruleset import load_rules
from stream.timeutil import format_ts, parse_instant
from tests.faults.common import Collector, Timeline, compare, dump, fast_failover, generate, mid_stream, oracle, preload, wait_consuming

SEED = 20250306
MARGIN_MS = 30_000  # ticks every 0.5 s; the check itself takes a few seconds


def at_ms(value: bytes) -> int:
    return parse_instant(orjson.loads(value)["data"]["at"])


def test_live_ticks_during_recovery_fire_no_false_deadline(deployment, tmp_path):
    rng = random.Random(SEED)
    fast_failover(deployment)
    mid_stream(deployment)
    lateness = load_rules(None).allowed_lateness_ms
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=200, hours=12)
    log = generate(deployment, tmp_path, 600, 200, 106, "--start", start.isoformat().replace("+00:00", "Z"))
    t0 = int(time.time() * 1000)
    first = oracle(deployment, log, as_of=format_ts(t0))
    settled = {i for i, line in first.items() if at_ms(line) <= t0 - lateness - MARGIN_MS}
    assert len(settled) > 10000
    preload(deployment, log)

    collector = Collector(deployment, deployment.settings.topic_changes)
    mark = Timeline(collector)
    worker = deployment.start_worker("--clock", "live")
    try:
        wait_consuming(worker)
        time.sleep(rng.uniform(0.5, 2.5))
        mark("SIGKILL")
        assert len(collector.records) < len(settled), "killed mid-stream"
        worker.stop(signal.SIGKILL)
        worker = deployment.start_worker("--clock", "live")
        mark("restarted")
        have = lambda records: settled <= {orjson.loads(r.value)["id"] for r in records}  # noqa: E731
        converged = collector.until(have, idle_s=3, timeout_s=60, alive=lambda: worker.alive)
        mark("caught up" if converged else "gave up")
        check = int(time.time() * 1000)
        expected = oracle(deployment, log, as_of=format_ts(check))
        collector.poll()
        mark("checked")
        assert worker.alive, worker.tail()
    finally:
        worker.stop()
        collector.close()

    dump(collector.records, tmp_path / "published.jsonl")
    due = {i: line for i, line in expected.items() if at_ms(line) <= check - lateness - MARGIN_MS}
    result = compare(due, collector.records)
    invented = [i for i in result.extra if i not in expected]
    early = [r.value.decode() for r in collector.records
             if orjson.loads(r.value)["data"]["cause_event_id"] is None and at_ms(r.value) > r.timestamp - lateness]
    lifecycle = lambda ids, source: sorted(i for i in ids if orjson.loads(source[i])["data"]["family"] == "lifecycle")  # noqa: E731
    print(f"\nlive clock: {len(due)} changes due by {format_ts(check - lateness - MARGIN_MS)}; {result.summary()}; "
          f"{len(invented)} not in the oracle as of {format_ts(check)}; {len(early)} stamped ahead of the clock; timeline {mark}")
    assert not invented, f"changes time never produced (false deadlines?): {[orjson.loads(_first(collector, i)) for i in invented[:3]]}"
    assert not early, f"deadline changes stamped later than wall clock - lateness: {early[:3]}"
    assert not result.missing, f"deadlines or events not released by the live clock: {result.summary()}"
    assert not result.differing, f"duplicates and oracle must be byte-identical: {result.summary()}"
    assert not result.wrong_key, result.summary()
    assert lifecycle(due, due) == lifecycle(set(due) & {orjson.loads(r.value)["id"] for r in collector.records}, due)


def _first(collector: Collector, change_id: str) -> bytes:
    return next(r.value for r in collector.records if orjson.loads(r.value)["id"] == change_id)
