"""Stop and restart the (shared, local) Kafka broker while the worker is mid-stream; the worker is
not touched by the test and must recover by itself: same output as the oracle, nothing missing,
duplicates byte-identical.

The broker is the one `make up` started (scripts/services.sh, default ports): stopping it affects
only the running test, since tests run one at a time. Its data directory persists, so topics and
committed offsets survive; it is always brought back up, whatever happens."""

from __future__ import annotations

import pytest

import random
import subprocess
import time

from config.settings import ROOT
from tests.faults.common import Backlog, Collector, wait_consuming
from tests.integration.conftest import _answers
from tests.integration.harness import BROKER

SEED = 20250304
DOWN_S = 5.0


def services(action: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/services.sh", action], cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_worker_recovers_by_itself_when_the_broker_restarts(deployment, tmp_path):
    assert BROKER == "127.0.0.1:9092", "this test restarts the broker `make up` started on the default port"
    if not (ROOT / ".local" / "kafka-9092" / "pid").is_file():
        pytest.skip("the broker on 9092 was not started by this checkout's `make up`, so it cannot restart it")
    rng = random.Random(SEED)
    run = Backlog.produced(deployment, tmp_path, customers=500, days=280, seed=104, at_least=12000)
    mark = run.mark
    worker = deployment.start_worker("--clock", "event")
    broker_down = False
    try:
        wait_consuming(worker)
        time.sleep(rng.uniform(0.5, 2.0))
        mark("broker down")
        assert len(run.collector.records) < len(run.expected), "stopped mid-stream"
        broker_down = True
        down = services("down")
        assert down.returncode == 0, down.stderr
        assert not _answers(BROKER), "the broker is really down"
        time.sleep(DOWN_S)
        alive_while_down = worker.alive
        up = services("up")
        assert up.returncode == 0, up.stdout + up.stderr
        broker_down = False
        mark("broker up")
        run.collector.close()
        run.collector = Collector(deployment, deployment.settings.topic_changes)  # a fresh connection
        mark.collector = run.collector
        run.converge(alive=lambda: worker.alive, timeout_s=90)
        assert alive_while_down, f"the worker exited while the broker was down:\n{worker.tail()}"
        assert worker.alive, f"the worker exited after the broker came back:\n{worker.tail()}"
    finally:
        if broker_down or not _answers(BROKER):
            services("up")
        worker.stop()
        run.collector.close()

    run.check("broker restart", tmp_path, duplicates=True, context=worker.tail(30))
