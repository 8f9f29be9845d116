"""Every command's exit status means the same (agents/commands/arguments.py): 2 for a wrong
invocation (options, rule pack, input files), 3 for more rejected lines than --max-rejected,
each with one line on stderr and never a traceback."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from agents.cli import main

ORDER = {"event_id": "e1", "type": "order", "customer_id": "c1", "ts": "2024-01-01T00:00:00Z", "amount": 5}


def log_with_garbage(tmp_path: Path, bad_lines: int) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(ORDER) + b"\n" + b"{not json\n" * bad_lines)
    return path


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith(("sorting:", "backtest:", "whatif:"))]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("option, value", [("--partitions", "-1"), ("--partitions", "0"), ("--max-rejected", "-2")])
@pytest.mark.parametrize("command", ["backtest", "whatif"])
def test_a_number_out_of_range_is_a_usage_error(tmp_path, capsys, command, option, value):
    log = log_with_garbage(tmp_path, 0)
    extra = ["--changes-out", str(tmp_path / "c.jsonl")] if command == "backtest" else ["--rules-b", str(tmp_path / "b.toml")]
    assert main([command, str(log), *extra, option, value]) == 2
    message = one_line(capsys)
    assert message.startswith(f"tagstream {command}: argument {option}: ") and value in message


@pytest.mark.parametrize("command", ["backtest", "whatif"])
def test_the_same_bad_rule_pack_is_the_same_exit_status_in_every_command(tmp_path, capsys, command):
    bad = tmp_path / "bad.toml"
    bad.write_text("[families.x]\ncases = [{ value = 'a', when = 'true' }]\ndefault = nan\n")
    log = log_with_garbage(tmp_path, 0)
    argv = ([command, str(log), "--rules", str(bad), "--changes-out", str(tmp_path / "c.jsonl")] if command == "backtest"
            else [command, str(log), "--rules-b", str(bad)])
    assert main(argv) == 2
    assert "bad.toml: families.x.default: must be a finite number" in one_line(capsys)


@pytest.mark.parametrize("command", ["backtest", "whatif"])
def test_max_rejected_turns_too_many_bad_lines_into_exit_3(tmp_path, capsys, command):
    log = log_with_garbage(tmp_path, 3)
    rules_b = Path(__file__).resolve().parents[2] / "config" / "rules" / "default.toml"
    base = ([command, str(log), "--changes-out", str(tmp_path / "c.jsonl")] if command == "backtest"
            else [command, str(log), "--rules-b", str(rules_b)])
    assert main(base) == 0, "without the option, bad lines are reported and counted only"
    assert main([*base, "--max-rejected", "3"]) == 0
    capsys.readouterr()
    assert main([*base, "--max-rejected", "2"]) == 3
    assert "3 rejected lines, more than --max-rejected 2" in capsys.readouterr().err


@pytest.mark.parametrize("start", ["nonsense", "2024-02-30", "2024-02-03T10:00:00"])
def test_generate_refuses_a_start_that_is_not_a_date_or_an_instant_with_its_zone(tmp_path, capsys, start):
    assert main(["generate", "--customers", "2", "--start", start, "--out", str(tmp_path / "log.jsonl")]) == 2
    assert "argument --start: must be a date (2025-01-01) or an RFC 3339 instant" in capsys.readouterr().err


def test_generate_takes_a_plain_date_as_utc_midnight(tmp_path, capsys):
    out = tmp_path / "log.jsonl"
    assert main(["generate", "--customers", "3", "--days", "30", "--start", "2024-02-03", "--out", str(out)]) == 0
    first = orjson.loads(out.read_bytes().splitlines()[0])["ts"]
    assert "2024-02-03T00:00:00Z" <= first < "2024-03-04"
