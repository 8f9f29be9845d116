"""`tagstream replay` when Kafka fails: one clear line, no traceback, and the line to resume from.

The unreachable broker is real (a closed local port); the mid-run failure uses an in-memory
producer whose deliveries fail, because killing a broker at an exact line is not reproducible.
The resume-after-kill path through the real broker is in tests/integration/test_replay_backfill.py."""

from __future__ import annotations

import socket
import subprocess
import sys

from kafka.errors import KafkaTimeoutError

from agents import cli
from agents.commands import replay
from config.settings import ROOT


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_broker_is_one_clear_line_and_exit_code_2():
    done = subprocess.run([sys.executable, "-m", "agents.cli", "replay", "demo/sample-events.jsonl.gz",
                           "--broker", f"127.0.0.1:{_closed_port()}", "--limit", "10"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "replay: cannot reach Kafka at 127.0.0.1:" in done.stderr
    assert "nothing was sent" in done.stderr


class _Delivery:
    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.exception = KafkaTimeoutError("Batch expired: broker not available")

    def failed(self) -> bool:
        return not self.ok


class _BrokerDiesAfter:
    """Acknowledges the first `n` records, then every delivery fails, as when the broker goes away."""

    def __init__(self, n: int) -> None:
        self.n, self.sent = n, 0

    def send(self, *args, **kwargs) -> _Delivery:
        self.sent += 1
        return _Delivery(self.sent <= self.n)

    def flush(self) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


def test_a_broker_lost_mid_run_names_the_line_to_resume_from_and_keeps_the_checkpoint(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(replay, "_producer", lambda settings: _BrokerDiesAfter(7000))
    checkpoint = tmp_path / "replay.checkpoint"
    code = cli.main(["replay", str(ROOT / "demo" / "sample-events.jsonl.gz"), "--checkpoint", str(checkpoint)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "replay: Kafka failed" in err and "every line up to 5000 is confirmed" in err, err
    assert "Resume with --from-line 5001" in err, err
    assert checkpoint.read_text() == "5000\n", "the checkpoint holds the last confirmed line, so a rerun resumes by itself"
