"""A rolling restart: SIGTERM the worker mid-stream and start it again (same app id, same data
directory), twice, while it works through a backlog. A clean stop finishes the batch in hand and
commits offsets after its outputs are acknowledged, so nothing is missing and nothing is
published twice."""

from __future__ import annotations

import random
import signal
import time

from tests.faults.common import Backlog, fast_failover, input_drained, mid_stream, wait_consuming

SEED = 20250302
CYCLES = 2


def test_sigterm_rolling_restart_has_no_duplicates_and_no_gaps(deployment, tmp_path):
    rng = random.Random(SEED)
    fast_failover(deployment)
    mid_stream(deployment)
    run = Backlog.produced(deployment, tmp_path, customers=500, days=280, seed=102, at_least=12000)
    worker = deployment.start_worker("--clock", "event")
    stopped = []
    try:
        for _ in range(CYCLES):
            if not wait_consuming(worker, drained=input_drained(deployment)):
                run.mark("drained", "the backlog was consumed before this cycle: no more stops")
                break
            time.sleep(rng.uniform(0.5, 3.0))
            assert worker.alive, worker.tail()
            run.mark("SIGTERM")
            assert len(run.collector.records) < len(run.expected), "stopped mid-stream"
            t0 = time.monotonic()
            code = worker.stop(signal.SIGTERM, timeout_s=60)
            run.mark("stopped", f"exit {code} after {time.monotonic() - t0:.1f}s")
            stopped.append((code, worker))
            worker = deployment.start_worker("--clock", "event")
            run.mark("restarted")
        run.converge(alive=lambda: worker.alive, timeout_s=40)
        assert worker.alive, worker.tail()
    finally:
        worker.stop()
        run.collector.close()

    for code, old in stopped:
        assert code == 0, f"a clean stop exits 0, got {code}:\n{old.tail()}"
    run.check(f"sigterm x{CYCLES}", tmp_path, duplicates=False)
