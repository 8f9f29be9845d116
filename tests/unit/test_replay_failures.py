"""`tagstream replay` when Kafka fails: one clear line, no traceback, and where to resume.

Resume points count events in time order (the order replay sends, whatever the file order), so a
resumed run sends exactly the rest of that sequence.

The unreachable broker is real (a closed local port); the mid-run failure uses an in-memory
producer whose deliveries fail, because killing a broker at an exact line is not reproducible.
The resume-after-kill path through the real broker is in tests/integration/test_replay_backfill.py."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys

import orjson
from kafka.errors import KafkaTimeoutError

from agents import cli
from agents.commands import replay
from agents.commands.demo import SAMPLE
from config.settings import ROOT


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_broker_is_one_clear_line_and_exit_code_2():
    done = subprocess.run([sys.executable, "-m", "agents.cli", "replay", str(SAMPLE),
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

    def __init__(self, n: int | None = None) -> None:
        self.n, self.sent = n, 0
        self.acknowledged: list[bytes] = []

    def send(self, topic: str, *, value: bytes, **kwargs) -> _Delivery:
        self.sent += 1
        ok = self.n is None or self.sent <= self.n
        if ok:
            self.acknowledged.append(value)
        return _Delivery(ok)

    def flush(self) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


def test_a_broker_lost_mid_run_names_the_events_to_skip_and_keeps_the_checkpoint(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(replay, "_producer", lambda settings: _BrokerDiesAfter(7000))
    checkpoint = tmp_path / "replay.checkpoint"
    code = cli.main(["replay", str(SAMPLE), "--checkpoint", str(checkpoint)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "replay: Kafka failed" in err and "the first 5000 events in time order are confirmed" in err, err
    assert "Resume with --skip 5000" in err, err
    sample = replay.logs_fingerprint([str(SAMPLE)])
    assert checkpoint.read_text() == f"5000 events confirmed of logs {sample}\n", "the checkpoint holds the confirmed count, so a rerun resumes by itself"


def _customer_sorted_sample(tmp_path) -> tuple[str, list[bytes]]:
    """The shipped sample re-sorted by customer, and its lines in the time order replay must send."""
    lines = [line.strip() for line in gzip.open(SAMPLE) if line.strip()]
    by_customer = sorted(lines, key=lambda line: orjson.loads(line)["customer_id"])
    path = tmp_path / "by-customer.jsonl"
    path.write_bytes(b"\n".join(by_customer) + b"\n")
    in_time_order = sorted(enumerate(by_customer), key=lambda item: (replay.decode_event(item[1]).ts, item[0]))
    return str(path), [line for _, line in in_time_order]


def test_a_resumed_replay_sends_exactly_the_rest_of_the_time_ordered_sequence(monkeypatch, tmp_path, capsys):
    log, in_time_order = _customer_sorted_sample(tmp_path)
    checkpoint = tmp_path / "replay.checkpoint"
    failing, healthy = _BrokerDiesAfter(7000), _BrokerDiesAfter()
    monkeypatch.setattr(replay, "_producer", lambda settings: failing)
    assert cli.main(["replay", log, "--checkpoint", str(checkpoint)]) == 1
    monkeypatch.setattr(replay, "_producer", lambda settings: healthy)
    assert cli.main(["replay", log, "--checkpoint", str(checkpoint)]) == 0
    err = capsys.readouterr().err
    assert "replay: resuming after 5000 events already confirmed" in err, err
    assert failing.acknowledged[:5000] + healthy.acknowledged == in_time_order
    assert checkpoint.read_text() == f"{len(in_time_order)} events confirmed of logs {replay.logs_fingerprint([log])}\n"


def test_skip_resumes_without_a_checkpoint(monkeypatch, tmp_path, capsys):
    log, in_time_order = _customer_sorted_sample(tmp_path)
    producer = _BrokerDiesAfter()
    monkeypatch.setattr(replay, "_producer", lambda settings: producer)
    assert cli.main(["replay", log, "--skip", "9000", "--limit", "500"]) == 0
    assert producer.acknowledged == in_time_order[9000:9500]
    assert "replay: sent 500 events after the first 9,000, 0 bad lines skipped; 9,500 events in time order confirmed" in capsys.readouterr().err


def test_a_checkpoint_of_another_format_is_refused_not_misread(tmp_path, capsys):
    checkpoint = tmp_path / "replay.checkpoint"
    checkpoint.write_text("5000\n")  # a line number, as replay wrote before it sent in time order
    assert cli.main(["replay", str(SAMPLE), "--dry-run", "--checkpoint", str(checkpoint)]) == 1
    assert "holds '5000', not a count like '5000 events confirmed of logs …'" in capsys.readouterr().err


def test_a_checkpoint_of_other_logs_is_refused_not_applied(monkeypatch, tmp_path, capsys):
    log, _ = _customer_sorted_sample(tmp_path)
    checkpoint = tmp_path / "replay.checkpoint"
    monkeypatch.setattr(replay, "_producer", lambda settings: _BrokerDiesAfter(7000))
    assert cli.main(["replay", log, "--checkpoint", str(checkpoint)]) == 1
    with open(log, "ab") as grown:  # the export was appended to since
        grown.write(b'{"type":"visit","event_id":"v-new","customer_id":"c1","ts":"2025-06-01T00:00:00Z"}\n')
    capsys.readouterr()
    assert cli.main(["replay", log, "--dry-run", "--checkpoint", str(checkpoint)]) == 1
    assert "counts events of other logs (or these changed since)" in capsys.readouterr().err
