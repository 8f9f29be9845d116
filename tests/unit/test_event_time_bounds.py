"""Which event times the decoder takes: any instant from 1970, nothing ahead of the wall clock by
more than the allowed skew, and no epoch seconds mistaken for milliseconds."""

from __future__ import annotations

import time

import orjson
import pytest

from agents import cli
from config.settings import ROOT
from schemas.events import Event, Rejection, decode_event, future_bound
from stream.timeutil import parse_instant

NOW = parse_instant("2026-12-02T12:00:00Z")
LATEST = future_bound(NOW, 5 * 60_000)
DEFAULT_PACK = ROOT / "config" / "rules" / "default.toml"


def decode(ts: object) -> Event | Rejection:
    return decode_event(orjson.dumps({"type": "visit", "event_id": "v1", "customer_id": "c1", "ts": ts}), latest_ms=LATEST)


@pytest.mark.parametrize(
    "ts, expected",
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1997-01-01T00:00:00Z", 852_076_800_000),  # a retail export from the 1990s, as it was
        ("1972-06-30T23:59:59.999+00:00", 78_796_799_999),  # before 1973: text is how to say it
        (100_000_000_000, 100_000_000_000),  # the smallest epoch milliseconds taken: 1973-03-03
        (1_740_830_402_000, 1_740_830_402_000),
        ("2026-12-02T12:05:00Z", LATEST),  # exactly the allowed skew ahead
    ],
)
def test_accepted_instants(ts, expected):
    event = decode(ts)
    assert isinstance(event, Event), event
    assert event.ts == expected


@pytest.mark.parametrize(
    "ts, reason, says",
    [
        (1_740_830_402, "bad_value", "looks like epoch seconds"),
        (0, "bad_value", "looks like epoch seconds"),
        (-1, "bad_value", "before 1970-01-01"),
        ("1969-12-31T23:59:59Z", "bad_value", "before 1970-01-01"),
        (1_740_830_402_000_000, "bad_value", "epoch microseconds"),  # as milliseconds: year 57134
        (10**17, "bad_value", "after 9999-12-31"),
        ("2026-12-02T12:05:00.001Z", "future_ts", "latest accepted: 2026-12-02T12:05:00.000Z"),
        ("2099-12-31T00:00:00Z", "future_ts", "ahead of the wall clock"),
    ],
)
def test_rejected_instants_say_why(ts, reason, says):
    rejection = decode(ts)
    assert isinstance(rejection, Rejection), rejection
    assert rejection.reason == reason
    assert says in rejection.message


def test_without_a_bound_the_future_is_accepted():
    # the bound is the caller's (wall clock + setting); the decoder itself reads no clock
    raw = orjson.dumps({"type": "visit", "event_id": "v1", "customer_id": "c1", "ts": "2099-01-01T00:00:00Z"})
    assert isinstance(decode_event(raw), Event)


def test_generate_writes_no_future_dated_history_unless_asked(tmp_path, capsys):
    out = tmp_path / "log.jsonl"
    long_ago = ["generate", "--customers", "3", "--days", "20", "--start", "2025-01-01T00:00:00Z", "--out", str(out)]
    into_the_future = ["generate", "--customers", "3", "--days", "3650", "--out", str(out)]
    assert cli.main(long_ago) == 0
    assert cli.main(into_the_future) == 2
    assert "reach past today" in capsys.readouterr().err
    assert cli.main([*into_the_future, "--allow-future"]) == 0


@pytest.mark.parametrize("command", ["backtest", "whatif", "replay"])
def test_offline_commands_reject_future_lines_unless_max_future_covers_them(tmp_path, capsys, command):
    now = int(time.time() * 1000)
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(doc) + b"\n" for doc in [
        {"type": "visit", "event_id": "v1", "customer_id": "c1", "ts": now - 86_400_000},
        {"type": "visit", "event_id": "v2", "customer_id": "c1", "ts": now + 3_600_000},
    ]))
    args = {"backtest": ["--changes-out", str(tmp_path / "out.jsonl")], "whatif": ["--rules-b", str(DEFAULT_PACK), "--json"],
            "replay": ["--dry-run"]}[command]
    assert cli.main([command, str(log), *args]) == 0
    reported = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"{log}:")]
    assert len(reported) == 1 and reported[0].startswith(f"{log}:2: ") and "future_ts" in reported[0]
    assert cli.main([command, str(log), *args, "--max-future", "2h"]) == 0
    assert "future_ts" not in capsys.readouterr().err


def test_a_ts_nested_too_deep_to_print_is_a_rejection_not_an_exception():
    raw = b'{"type":"visit","event_id":"v1","customer_id":"c1","ts":' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert decode_event(raw) == Rejection("bad_type", "'ts' must be an RFC 3339 string or epoch milliseconds, got list")
