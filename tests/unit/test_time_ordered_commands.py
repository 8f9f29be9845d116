"""`backtest`, `whatif` and `replay` process logs in event-time order, whatever the file order.

A log sorted by customer, or shuffled, gives byte-for-byte the changes and snapshot of the same
log sorted by time; `--presorted` trusts the file order and stops at the first line that breaks
it; both mistakes a user can make with the new options are one line and exit status 2."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from agents import cli
from agents.log_order import parse_size
from config.settings import ROOT
from stream.timeutil import format_ts, parse_instant

WHATIF_B = ["--rules-b", str(ROOT / "config" / "rules" / "default.toml")]
COMMANDS = {
    "backtest": lambda tmp: ["--changes-out", str(tmp / "changes.jsonl")],
    "whatif": lambda tmp: WHATIF_B,
    "replay": lambda tmp: ["--dry-run"],
}


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> dict[str, Path]:
    """One generated history in three file orders: by time (as generated), by customer, shuffled."""
    folder = tmp_path_factory.mktemp("history")
    by_time = folder / "by-time.jsonl"
    assert cli.main(["generate", "--customers", "150", "--days", "200", "--seed", "4", "--out", str(by_time)]) == 0
    lines = by_time.read_bytes().splitlines()
    by_customer = sorted(lines, key=lambda line: orjson.loads(line)["customer_id"])
    shuffled = random.Random(4).sample(lines, len(lines))
    (folder / "by-customer.jsonl").write_bytes(b"\n".join(by_customer) + b"\n")
    (folder / "shuffled.jsonl").write_bytes(b"\n".join(shuffled) + b"\n")
    return {name: folder / f"{name}.jsonl" for name in ("by-time", "by-customer", "shuffled")}


def backtest(log: Path, out: Path, *options: str) -> tuple[bytes, bytes]:
    changes, snapshot = out / f"{log.stem}.changes.jsonl", out / f"{log.stem}.snapshot.jsonl"
    code = cli.main(["backtest", str(log), "--as-of", "watermark", "--changes-out", str(changes),
                     "--snapshot-out", str(snapshot), *options])
    assert code == 0
    return changes.read_bytes(), snapshot.read_bytes()


@pytest.mark.parametrize("order", ["by-customer", "shuffled"])
def test_backtest_output_does_not_depend_on_the_file_order(history, tmp_path, order):
    expected = backtest(history["by-time"], tmp_path)
    assert expected[0].count(b"\n") > 1000
    assert backtest(history[order], tmp_path) == expected
    assert backtest(history[order], tmp_path, "--sort-memory", "64K") == expected, "spilled runs change nothing"


def test_presorted_gives_the_same_output_on_a_time_sorted_log(history, tmp_path):
    assert backtest(history["by-time"], tmp_path, "--presorted") == backtest(history["by-time"], tmp_path)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_presorted_on_an_unsorted_log_is_one_line_naming_the_line_and_exit_2(history, tmp_path, command):
    log = history["by-customer"]
    lines = log.read_bytes().splitlines()
    ts = [parse_instant(orjson.loads(line)["ts"]) for line in lines]
    first_late = next(n for n in range(1, len(ts)) if ts[n] < ts[n - 1])  # 0-based
    done = run_cli(command, str(log), "--presorted", *COMMANDS[command](tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"tagstream {command}: {log}:{first_late + 1}: event time {format_ts(ts[first_late])} is earlier than "
        f"the previous event's {format_ts(ts[first_late - 1])}: the log is not in event-time order; "
        "drop --presorted to sort it"
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_sort_memory_is_one_line_and_exit_2(history, tmp_path, command):
    done = run_cli(command, str(history["by-time"]), "--sort-memory", "12Q", *COMMANDS[command](tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"tagstream {command}: --sort-memory: '12Q' is not a size like 256M or 2G"]


@pytest.mark.parametrize("text, size", [("256M", 256 << 20), ("2G", 2 << 30), ("64k", 64 << 10), (" 512M ", 512 << 20)])
def test_sort_memory_takes_binary_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "0M", "12Q", "1.5G", "512", "-1G"])
def test_sort_memory_refuses_anything_else(text):
    with pytest.raises(ValueError, match="is not a size like 256M or 2G"):
        parse_size(text)


def test_messages_name_the_line_within_its_own_file(tmp_path):
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    visit = b'{"type":"visit","event_id":"v%d","customer_id":"c1","ts":"2025-01-0%dT00:00:00Z"}'
    first.write_bytes(b"\n".join(visit % (n, n) for n in (1, 2, 3)) + b"\n")
    second.write_bytes(visit % (4, 4) + b"\n{not json\n")
    done = run_cli("backtest", str(first), str(second), "--changes-out", str(tmp_path / "out.jsonl"))
    assert done.returncode == 0
    assert f"{second}:2: not_json" in done.stderr, "line 2 of the second log, not line 5 of both"


def test_a_backtest_stopped_by_an_unsorted_presorted_log_leaves_no_output(history, tmp_path):
    out = tmp_path / "changes.jsonl"
    assert run_cli("backtest", str(history["by-customer"]), "--presorted", "--changes-out", str(out)).returncode == 2
    assert not out.exists()


def test_replay_checks_a_presorted_log_before_sending_anything(history, tmp_path):
    # the broker address is closed: had replay connected first, this would be a Kafka error
    done = run_cli("replay", str(history["by-customer"]), "--presorted", "--broker", "127.0.0.1:9")
    assert done.returncode == 2
    assert done.stderr.strip().endswith("drop --presorted to sort it; nothing was sent")


@pytest.mark.parametrize("skip, code, says", [
    ("-1", 2, "argument --skip: invalid count value: '-1'"),
    ("1000000", 2, "asked to skip 1,000,000 events, but the logs hold"),
])
def test_replay_refuses_a_skip_it_cannot_honour(history, skip, code, says):
    done = run_cli("replay", str(history["by-time"]), "--dry-run", "--skip", skip)
    assert done.returncode == code
    assert says in done.stderr


def snapshot_run(log: Path, out: Path, *options: str) -> tuple[bytes, bytes]:
    changes, snapshot = out / "changes.jsonl", out / "snapshot.jsonl"
    assert cli.main(["backtest", str(log), "--changes-out", str(changes), "--snapshot-out", str(snapshot), *options]) == 0
    return changes.read_bytes(), snapshot.read_bytes()


def test_until_is_the_log_cut_there_with_time_stopped_there_whatever_the_file_order(history, tmp_path, capsys):
    lines = history["by-time"].read_bytes().splitlines()
    times = sorted(parse_instant(orjson.loads(line)["ts"]) for line in lines)
    until = format_ts(times[len(times) // 2] // 86_400_000 * 86_400_000)  # a midnight mid-log
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(line + b"\n" for line in lines if parse_instant(orjson.loads(line)["ts"]) < parse_instant(until)))
    expected = snapshot_run(cut, tmp_path, "--as-of", until)
    left_out = len(lines) - cut.read_bytes().count(b"\n")
    capsys.readouterr()
    assert snapshot_run(history["by-customer"], tmp_path, "--until", until) == expected
    assert f"backtest: {left_out:,} events at or after --until {until} left out" in capsys.readouterr().err
    assert snapshot_run(history["by-time"], tmp_path, "--until", until, "--presorted") == expected
    assert f"backtest: {left_out:,} events at or after --until {until} left out" in capsys.readouterr().err
    assert snapshot_run(history["by-time"], tmp_path, "--until", until[:10]) == expected, "a date is its midnight, UTC"


def test_until_and_as_of_together_are_one_line_and_exit_2(history, tmp_path):
    done = run_cli("backtest", str(history["by-time"]), "--until", "2025-03-01", "--as-of", "end", *COMMANDS["backtest"](tmp_path))
    assert (done.returncode, done.stderr.splitlines()) == (2, ["tagstream backtest: --until stops time at its instant: leave out --as-of"])


def test_until_leaves_out_what_the_future_bound_would_reject_as_a_cut_log_would_not_hold_it(tmp_path, capsys):
    visit = '{"type":"visit","event_id":"v%d","customer_id":"c1","ts":"%s"}'
    log = tmp_path / "skewed.jsonl"
    log.write_text("\n".join([visit % (1, "2025-01-01T00:00:00Z"), visit % (2, "2999-01-01T00:00:00Z")]) + "\n")
    code = cli.main(["backtest", str(log), "--until", "2025-06-01", "--max-rejected", "0", "--changes-out", str(tmp_path / "c.jsonl")])
    err = capsys.readouterr().err
    assert code == 0 and "future_ts" not in err and "1 event at or after --until 2025-06-01T00:00:00.000Z left out" in err


def test_presorted_until_on_rotated_logs_given_newest_first_fails(history, tmp_path):
    lines = history["by-time"].read_bytes().splitlines(keepends=True)
    old, new = tmp_path / "events.jsonl.1", tmp_path / "events.jsonl"
    old.write_bytes(b"".join(lines[: len(lines) // 2]))
    new.write_bytes(b"".join(lines[len(lines) // 2:]))
    until = orjson.loads(lines[len(lines) // 4])["ts"]
    done = run_cli("backtest", str(new), str(old), "--presorted", "--until", until, "--changes-out", str(tmp_path / "c.jsonl"))
    assert done.returncode == 2 and "the log is not in event-time order" in done.stderr, done.stderr
    assert not (tmp_path / "c.jsonl").exists()
