"""Logs in event-time order whatever their file order: the external merge sort of stream.timeorder.

Whatever the lines, the memory budget or the number of spilled runs, the sorter yields exactly the
valid lines sorted by (ts, line number), reports every bad line once, and leaves no file behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import Rejection, decode_event
from stream.logfile import LogLine
from stream.timeorder import Cutoff, OutOfOrder, presorted, time_ordered
from stream.timeutil import format_ts, parse_instant

T0 = parse_instant("2025-01-01T00:00:00Z")


def event_line(number: int, ts: int, path: str = "a.jsonl") -> LogLine:
    doc = {"type": "visit", "event_id": f"v{number}", "customer_id": f"c{number % 7}", "ts": ts}
    return LogLine(path, number, orjson.dumps(doc))


def bad_line(number: int, path: str = "a.jsonl") -> LogLine:
    return LogLine(path, number, b'{"type": "visit", "ts": "not a time"}')


# A line is valid with a ts drawn from a few instants (so ties are common) or bad.
line_kinds = st.one_of(st.integers(min_value=0, max_value=30).map(lambda k: T0 + k * 1000), st.none())


def build(kinds: list[int | None]) -> list[LogLine]:
    paths = ("a.jsonl", "b.jsonl.gz")
    return [
        bad_line(n, paths[n % 2]) if ts is None else event_line(n, ts, paths[n % 2])
        for n, ts in enumerate(kinds, 1)
    ]


def collect(lines: list[LogLine], **options) -> tuple[list[LogLine], list[LogLine], int]:
    rejected: list[LogLine] = []
    with time_ordered(lines, lambda line, rejection: rejected.append(line), **options) as ordered:
        return list(ordered), rejected, ordered.spilled_runs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(line_kinds, max_size=120), budget=st.integers(min_value=1, max_value=2000))
def test_the_sorter_yields_the_valid_lines_by_ts_then_line_and_reports_each_bad_line_once(tmp_path, kinds, budget):
    lines = build(kinds)
    temp = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example: tmp_path is shared by all of them
    valid = [line for line in lines if not isinstance(decode_event(line.raw), Rejection)]

    yielded, rejected, _ = collect(lines, memory_bytes=budget, temp_dir=temp)

    assert yielded == sorted(valid, key=lambda line: (decode_event(line.raw).ts, line.number))
    assert rejected == [line for line in lines if line not in valid]
    assert list(temp.iterdir()) == [], "no run file or directory outlives the sort"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(line_kinds, max_size=120), budget=st.integers(min_value=1, max_value=2000),
       until=st.integers(min_value=0, max_value=31).map(lambda k: T0 + k * 1000))
def test_a_cutoff_leaves_out_exactly_the_events_at_or_after_it(tmp_path, kinds, budget, until):
    lines = build(kinds)
    temp = Path(tempfile.mkdtemp(dir=tmp_path))
    times = {line.number: decode_event(line.raw).ts for line in lines if not isinstance(decode_event(line.raw), Rejection)}
    cutoff = Cutoff(until)

    yielded, _, _ = collect(lines, memory_bytes=budget, temp_dir=temp, cutoff=cutoff)

    assert yielded == sorted((line for line in lines if times.get(line.number, until) < until), key=lambda line: (times[line.number], line.number))
    assert cutoff.left_out == sum(ts >= until for ts in times.values())


def test_a_presorted_log_past_the_cutoff_is_still_read_to_check_its_order():
    lines = [event_line(1, T0), event_line(2, T0 + 5), event_line(3, T0 + 10), event_line(4, T0 + 11)]
    cutoff = Cutoff(T0 + 10)
    assert list(presorted(lines, lambda line, rejection: None, cutoff=cutoff)) == lines[:2]
    assert cutoff.left_out == 2
    rotated = [event_line(1, T0 + 20), event_line(2, T0 + 21), event_line(3, T0), event_line(4, T0 + 1)]  # newest file first
    with pytest.raises(OutOfOrder):
        list(presorted(rotated, lambda line, rejection: None, cutoff=Cutoff(T0 + 10)))


def test_a_tiny_budget_spills_one_run_per_line_and_a_large_one_never_touches_disk(tmp_path):
    lines = [event_line(n, T0 - n * 1000) for n in range(1, 51)]
    _, _, spilled = collect(lines, memory_bytes=1, temp_dir=tmp_path)
    assert spilled == 50
    _, _, spilled = collect(lines, temp_dir=tmp_path)
    assert spilled == 0
    assert list(tmp_path.iterdir()) == []


def test_run_files_are_removed_when_the_consumer_fails_midway(tmp_path):
    lines = [event_line(n, T0 - n * 1000) for n in range(1, 101)]
    with pytest.raises(KeyboardInterrupt):
        with time_ordered(lines, lambda line, rejection: None, memory_bytes=2000, temp_dir=tmp_path) as ordered:
            assert ordered.spilled_runs > 1 and any(tmp_path.iterdir())
            for _ in ordered:
                raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_more_runs_than_can_stay_open_are_merged_on_the_way(tmp_path, monkeypatch):
    monkeypatch.setattr("stream.timeorder.MERGE_FAN_IN", 4)
    lines = [event_line(n, T0 + (n * 7919) % 101 * 1000) for n in range(1, 41)]
    yielded, _, spilled = collect(lines, memory_bytes=1, temp_dir=tmp_path)
    assert yielded == sorted(lines, key=lambda line: (decode_event(line.raw).ts, line.number))
    # 40 one-line runs as a merge tree of fan-in 4: 40 = 2*16 + 2*4 + 0*1 -> 2 + 2 + 0 runs left
    assert spilled == 4


def test_the_sort_pass_reports_lines_read_and_counts_what_it_will_yield():
    lines = [event_line(n, T0) for n in range(1, 10_000)] + [bad_line(10_000)]
    seen: list[int] = []
    with time_ordered(lines, lambda line, rejection: None, on_progress=seen.append) as ordered:
        assert (ordered.lines_read, ordered.count) == (10_000, 9_999)
    assert seen == [4096, 8192]


def test_the_decoder_is_injectable():
    lines = [event_line(1, T0), event_line(2, T0 - 1)]
    def refuse_late(raws: list[bytes]) -> list:
        return [decode_event(raw).ts if decode_event(raw).ts >= T0 else Rejection("too_old", "before T0") for raw in raws]

    rejected: list[str] = []
    with time_ordered(lines, lambda line, rejection: rejected.append(rejection.reason), decode=refuse_late) as ordered:
        assert [line.number for line in ordered] == [1]
    assert rejected == ["too_old"]


def test_presorted_lines_stream_through_with_ties_and_bad_lines_reported():
    lines = [event_line(1, T0), bad_line(2), event_line(3, T0), event_line(4, T0 + 5)]
    rejected: list[int] = []
    assert list(presorted(lines, lambda line, rejection: rejected.append(line.number))) == [lines[0], lines[2], lines[3]]
    assert rejected == [2]


def test_presorted_fails_on_the_first_line_earlier_than_the_previous_valid_one():
    lines = [event_line(1, T0 + 60_000), bad_line(2), event_line(3, T0, "logs/orders.jsonl"), event_line(4, T0 - 1)]
    passed: list[LogLine] = []
    with pytest.raises(OutOfOrder) as failure:
        for line in presorted(lines, lambda line, rejection: None):
            passed.append(line)
    assert passed == [lines[0]]
    assert str(failure.value) == (
        f"logs/orders.jsonl:3: event time {format_ts(T0)} is earlier than the previous event's "
        f"{format_ts(T0 + 60_000)}: the log is not in event-time order; drop --presorted to sort it"
    )
    assert failure.value.line == lines[2]


def test_the_default_temporary_directory_is_tempfiles(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    lines = [event_line(n, T0 - n) for n in range(1, 4)]
    with time_ordered(lines, lambda line, rejection: None, memory_bytes=1) as ordered:
        assert [path.name.startswith("tagstream-sort-") for path in Path(tmp_path).iterdir()] == [True]
        assert [line.number for line in ordered] == [3, 2, 1]
    assert list(tmp_path.iterdir()) == []
