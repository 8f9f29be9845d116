"""The Rust tag change writer (`stream._native.change_events`) against `TagChange.to_json`.

`stream/changes.py` is the specification: for every change the engine can make, the Rust side
returns the very bytes the Python one does (the id included), so consumers de-duplicating on the id
or comparing payloads cannot tell which wrote an event. The documented differences (docs/native.md:
years before 1000, list and dict metric values) are pinned by table tests and kept out of the
generated changes.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.commands.demo import SAMPLE
from stream import _native
from stream.backtest import Backtest
from stream.changes import TagChange
from stream.logfile import LogLine, LogReader
from stream.timeorder import time_ordered
from tests.unit.tagspec import default_rules

SAMPLE_LOG = SAMPLE  # the shipped demo log
YEAR_1000_MS = -30_610_224_000_000  # 1000-01-01T00:00:00Z
YEAR_1970_MS = 0
LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

ChangeTuple = tuple[str, str, object, object, int, str, "str | None", list[tuple[str, object]]]


def as_tuple(change: TagChange) -> ChangeTuple:
    """The argument form `change_events` takes: the fields in order, metrics as pairs."""
    return (change.customer_id, change.family, change.old, change.new, change.at, change.rule,
            change.cause_event_id, list(change.metrics.items()))


def assert_same_bytes(changes: list[TagChange]) -> None:
    assert _native.change_events([as_tuple(change) for change in changes]) == [change.to_json() for change in changes]


# Text as identifiers may hold it: any Unicode scalar value (no lone surrogates, which neither
# side can encode), and a dense mix of what JSON must escape.
tricky_text = st.text(alphabet=st.sampled_from('"\\/\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f \u00e9\u2028\u2029\ufffe\U0001f600a'))
any_text = st.one_of(st.text(st.characters(codec="utf-8")), tricky_text)
floats = st.one_of(
    st.floats(),  # NaN and the infinities included: both write null
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.sampled_from([0.0, -0.0, 1e-5, 1e-6, 1.5e-7, 1e15, 1e16, 1e22, 297.88, 0.1 + 0.2, 5e-324, 1.7976931348623157e308]),
    st.integers(-10**9, 10**9).map(lambda cents: cents / 100),  # revenue sums
    st.integers(0, 10**6).map(lambda scaled: scaled / 1000),  # RFM scores
)
integers = st.one_of(st.integers(-(2**63), 2**64 - 1), st.integers(-1000, 1000))
values = st.one_of(st.none(), st.booleans(), integers, floats, any_text)
tag_values = st.one_of(st.booleans(), integers, floats, any_text)


@st.composite
def tag_changes(draw: st.DrawFn) -> TagChange:
    return TagChange(
        customer_id=draw(any_text),
        family=draw(any_text),
        old=draw(st.one_of(st.none(), tag_values)),
        new=draw(tag_values),
        at=draw(st.one_of(st.integers(YEAR_1970_MS, LAST_MS), st.integers(YEAR_1000_MS, LAST_MS),
                          st.sampled_from([YEAR_1000_MS, YEAR_1970_MS, -1, 951_782_400_000, LAST_MS]))),
        rule=draw(any_text),
        cause_event_id=draw(st.one_of(st.none(), any_text)),
        metrics=draw(st.dictionaries(any_text, values, max_size=8)),
    )


@settings(max_examples=2000, deadline=None)
@given(st.lists(tag_changes(), max_size=5))
def test_any_tag_change_gives_the_bytes_python_writes(changes: list[TagChange]) -> None:
    assert_same_bytes(changes)


def test_every_change_of_the_sample_backtest_gives_the_bytes_python_writes() -> None:
    backtest = Backtest(default_rules())
    changes: list[TagChange] = []

    def reject(line: LogLine, rejection: object) -> None:
        pass

    written: list[bytes] = []

    def collect(batch: object) -> None:
        changes.extend(TagChange.from_batch(batch))
        written.append(batch.json_lines())

    with time_ordered(LogReader([SAMPLE_LOG]), reject) as ordered:
        backtest.run(ordered, collect, reject)
    backtest.finish("end", collect)

    assert len(changes) > 1000
    assert len({type(change.new) for change in changes}) > 1
    assert_same_bytes(changes)
    assert b"".join(written) == b"".join(change.to_json() + b"\n" for change in changes), "the engine's own bytes"


def test_an_empty_batch_gives_no_events() -> None:
    assert _native.change_events([]) == []


def test_metric_pairs_are_written_as_a_key_sorted_object_the_last_of_a_repeated_name_winning() -> None:
    change = TagChange("c", "f", None, True, 0, "r", None, {"b": 3, "a": 2, "\u00e9": None, "Z": 1.5})
    pairs = [("b", 1), ("a", 2), ("\u00e9", None), ("b", 3), ("Z", 1.5)]
    assert _native.change_events([(*as_tuple(change)[:7], pairs)]) == [change.to_json()]


@pytest.mark.parametrize(
    ("at", "python_date", "rust_date"),
    [(-62_135_596_800_000, "1-01-01", "0001-01-01"), (-30_610_224_000_001, "999-12-31", "0999-12-31")],
)
def test_years_before_1000_are_zero_padded_unlike_python_on_glibc(at: int, python_date: str, rust_date: str) -> None:
    change = TagChange("c", "f", None, True, at, "r", None, {})
    python = change.to_json()
    assert f'"time":"{python_date}T'.encode() in python  # strftime("%Y") does not pad on glibc
    [rust] = _native.change_events([as_tuple(change)])
    assert rust == python.replace(f'"{python_date}T'.encode(), f'"{rust_date}T'.encode())


@pytest.mark.parametrize("at", [LAST_MS + 1, -62_135_596_800_001])
def test_an_instant_outside_the_years_1_to_9999_is_refused_as_python_refuses_it(at: int) -> None:
    change = TagChange("c", "f", None, True, at, "r", None, {})
    with pytest.raises(ValueError):
        change.to_json()
    with pytest.raises(ValueError, match="outside the years 1-9999"):
        _native.change_events([as_tuple(change)])


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, b"bytes", object()])
def test_a_value_orjson_cannot_write_is_refused(value: object) -> None:
    change = TagChange("c", "f", None, True, 0, "r", None, {"m": value})
    with pytest.raises(Exception):  # orjson.JSONEncodeError (a TypeError)
        change.to_json()
    with pytest.raises((TypeError, OverflowError)):
        _native.change_events([as_tuple(change)])


@pytest.mark.parametrize("value", [[1], {"a": 1}, (1,)])
def test_a_container_metric_is_refused_though_python_writes_it(value: object) -> None:
    change = TagChange("c", "f", None, True, 0, "r", None, {"m": value})
    assert change.to_json()  # the rule plans make no such metric: scalars only, by design
    with pytest.raises(TypeError, match="None, bool, int, float or str"):
        _native.change_events([as_tuple(change)])


def test_a_lone_surrogate_is_refused_by_both() -> None:
    change = TagChange("c\ud800", "f", None, True, 0, "r", None, {})
    with pytest.raises(TypeError):
        change.to_json()
    with pytest.raises(UnicodeEncodeError):
        _native.change_events([as_tuple(change)])
