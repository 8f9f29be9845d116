"""A real worker with `TAGSTREAM_LOG_FORMAT=json`: every line it logs is one JSON object."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import orjson

from config.settings import ROOT


def test_a_worker_logging_json_writes_only_json_lines(deployment, tmp_path):
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    env = {**os.environ, **deployment.env, "TAGSTREAM_LOG_FORMAT": "json"}
    port = deployment.env["TAGSTREAM_WEB_PORT"]
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        worker = subprocess.Popen([sys.executable, "-m", "agents.cli", "worker", "--clock", "event"], env=env, cwd=ROOT,
                                  stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert worker.poll() is None, err.read_text() + out.read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    lines = [line for line in out.read_text().splitlines() if line.strip()]
    assert lines, err.read_text()
    docs = [orjson.loads(line) for line in lines]  # each line parses, or this fails naming it
    assert all({"time", "level", "logger", "message"} <= doc.keys() for doc in docs)
    loggers = {doc["logger"] for doc in docs}
    assert any(name.startswith("faust") for name in loggers) and any(name.startswith("agents") for name in loggers), loggers
