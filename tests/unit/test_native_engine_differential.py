"""The native core against the pure-Python engine: byte-identical change files and snapshots.

Given the same log and pack, `stream.backtest.Backtest` (Rust) and the Python `PartitionEngine`
driven as backtest drove it (tests/python_engine.py) must write the same change bytes in the same
order and the same snapshot records, over both `generate` profiles, the exotic packs of the
property tests, late and duplicate events, immediate (live) arrival, and restarts from stored
state mid-stream, including state written by the Python engine's JSON encoding (the upgrade path).
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import EVENT_TYPES
from stream.backtest import Backtest
from stream.codec import decode_wake, encode_state
from stream.engine import Arrival
from stream.logfile import LogLine
from stream.native import stored_wake
from stream.rules.ruleset import load_rules
from stream.synthetic import generate_events
from stream.timeutil import DAY_MS
from tests.python_engine import PythonBacktest
from tests.unit.test_engine_properties import PACKS, histories
from tests.unit.tagspec import lines


def native_run(rules, docs, as_of, arrival=Arrival.BUFFERED, split=None, from_python=None):
    backtest = Backtest(rules, arrival=arrival)
    out: list[bytes] = []
    collect = lambda batch: out.append(batch.json_lines())  # noqa: E731
    reject = lambda line, rejection: None  # noqa: E731
    cut = len(docs) if split is None else split
    backtest.run(lines(docs[:cut]), collect, reject)
    if split is not None:
        stored = from_python if from_python is not None else backtest.engine.export_states()
        backtest.engine.import_states(stored)
        backtest.run(lines(docs[cut:]), collect, reject)
    backtest.finish(as_of, collect)
    return b"".join(out), b"".join(record + b"\n" for record in backtest.snapshot_lines(as_of)), backtest.totals


def python_run(rules, docs, as_of, arrival=Arrival.BUFFERED, split=None):
    """The Python engine's change file and snapshot; with `split`, also its stored states (format
    1 JSON) at that point."""
    backtest = PythonBacktest(rules, arrival=arrival)
    out: list[bytes] = []
    collect = lambda change: out.append(change.to_json() + b"\n")  # noqa: E731
    reject = lambda line, rejection: None  # noqa: E731
    cut = len(docs) if split is None else split
    backtest.run(lines(docs[:cut]), collect, reject)
    stored = [(c, encode_state(s)) for engine in backtest.engines for c, s in engine.store.items()]
    backtest.run(lines(docs[cut:]), collect, reject)
    backtest.finish(as_of, collect)
    snapshot = b"".join(orjson.dumps(record) + b"\n" for record in backtest.snapshot(as_of))
    return b"".join(out), snapshot, backtest.totals, stored


def assert_same(rules, docs, as_of, arrival=Arrival.BUFFERED, split=None):
    changes, snapshot, totals, stored = python_run(rules, docs, as_of, arrival, split)
    native_changes, native_snapshot, native_totals = native_run(rules, docs, as_of, arrival, split)
    assert native_changes == changes
    assert native_snapshot == snapshot
    assert (native_totals.events, native_totals.duplicates, native_totals.late, native_totals.changes) == (
        totals.events, totals.duplicates, totals.late, totals.changes)
    if split is not None:  # a worker restarted over a changelog the Python engine wrote
        upgraded_changes, upgraded_snapshot, _ = native_run(rules, docs, as_of, arrival, split, from_python=stored)
        assert upgraded_changes == changes
        assert upgraded_snapshot == snapshot
        for customer, raw in stored:
            assert stored_wake(customer, raw) == decode_wake(customer, raw)
    return totals


START = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("profile, pack", [("ecommerce", None), ("auto", "config/rules/auto.toml")])
@pytest.mark.parametrize("as_of", ["end", "watermark", 400 * DAY_MS + 1_704_067_200_000])
def test_generated_logs_give_the_same_bytes(profile, pack, as_of):
    docs = generate_events(60, 300, seed=7, profile=profile, start=START)
    totals = assert_same(load_rules(pack), docs, as_of)
    assert totals.changes > 500


def test_a_generated_log_restarted_from_stored_state_mid_stream_gives_the_same_bytes():
    docs = generate_events(40, 200, seed=3, start=START)
    assert_same(load_rules(), docs, "end", split=len(docs) // 2)


def test_customer_sorted_input_late_events_give_the_same_bytes():
    # A log sorted by customer, fed in file order: most events of later customers are late.
    docs = sorted(generate_events(30, 200, seed=5, start=START), key=lambda doc: doc["customer_id"])
    totals = assert_same(load_rules(), docs, "end")
    assert totals.late > 100


@settings(max_examples=150, deadline=None, derandomize=True)
@given(pack=st.sampled_from(sorted(PACKS)), history=histories(), cut=st.floats(0, 1),
       arrival=st.sampled_from([Arrival.BUFFERED, Arrival.IMMEDIATE]), lateness_factor=st.sampled_from([0, 1, 30]))
def test_random_histories_give_the_same_bytes(pack, history, cut, arrival, lateness_factor):
    """Delays up to 30 times the lateness bound make late events; duplicates come from the
    history; `cut` restarts from stored state."""
    rules = PACKS[pack]
    _, sent, delays = history
    order = sorted(range(len(sent)), key=lambda i: (sent[i].ts + delays[i] * lateness_factor * rules.allowed_lateness_ms // 1_000_000, i))
    docs = [sent[i].doc() for i in order]
    as_of = max(e.ts for e in sent) + 120 * DAY_MS
    assert_same(rules, docs, as_of, arrival, split=round(cut * len(docs)))


def test_live_arrival_and_ticks_agree_with_the_python_engine():
    rules = load_rules()
    now = 1_704_067_200_000 + 100 * DAY_MS
    native, python = Backtest(rules, partitions=1), PythonBacktest(rules, partitions=1)
    docs = [{"type": "order", "event_id": "o1", "customer_id": "c1", "ts": now - DAY_MS * 95, "amount": 10}]
    native.run(lines(docs), lambda batch: None, lambda line, rejection: None)
    python.run(lines(docs), lambda change: None, lambda line, rejection: None)
    engine = python.engines[0]
    for ts in (now, now - 59_000, now - 61_000, now + 10_000, now + 10_001, now - 90 * DAY_MS):
        assert native.engine.live_arrival("c1", ts, now) == (engine.live_arrival(ts, now) is Arrival.IMMEDIATE)
    everything = frozenset(EVENT_TYPES)
    native_changes = native.engine.tick(now, 0b1111).json_lines()
    python_changes = b"".join(change.to_json() + b"\n" for change in engine.tick(now, everything))
    assert native_changes == python_changes and native_changes.count(b"\n") >= 1  # dormant: the tick fired it


@pytest.mark.parametrize("lanes", [2, 3, 8])
def test_partitions_spread_over_threads_give_the_one_thread_bytes(lanes):
    docs = generate_events(80, 200, seed=9, start=START)
    outputs = []
    for threads in (1, lanes):
        backtest = Backtest(load_rules(), partitions=8, lanes=threads)
        out: list[bytes] = []
        backtest.run(lines(docs), lambda batch: out.append(batch.json_lines()), lambda line, rejection: None)
        backtest.finish("end", lambda batch: out.append(batch.json_lines()))
        totals = backtest.totals
        outputs.append((b"".join(out), backtest.snapshot_lines("end"), totals.duplicates, totals.late, totals.changes))
    assert outputs[1] == outputs[0]
    assert outputs[0][4] > 1000


def test_a_state_of_another_pack_is_refused_in_one_line():
    backtest = Backtest(load_rules())
    backtest.run([LogLine("x", 1, b'{"type":"visit","event_id":"v","customer_id":"c","ts":1704067200000}')],
                 lambda batch: None, lambda line, rejection: None)
    ((customer, raw),) = backtest.engine.export_states()
    other = Backtest(PACKS["exotic"])
    with pytest.raises(ValueError, match="customer 'c'"):
        other.engine.import_states([(customer, raw)])


# --- packs the loader accepts at the edges of JSON and of i64 -------------------------------------

EDGE_DOCS = [
    {"type": "order", "event_id": "o1", "customer_id": "c1", "ts": 1_704_067_200_000, "amount": 100},
    {"type": "click", "event_id": "k1", "customer_id": "c1", "ts": 1_704_067_200_000 + DAY_MS},
    {"type": "order", "event_id": "o2", "customer_id": "c1", "ts": 1_704_067_200_000 + 3 * DAY_MS, "amount": 5},
    {"type": "visit", "event_id": "v1", "customer_id": "c2", "ts": 1_704_067_200_000 + 40 * DAY_MS},
]


def _edge_pack(families: str, extra: str = "") -> object:
    return _load_pack(f"[windows]\norders = [30]\nactivity = [7]\n{extra}\n{families}", "edge.toml")


def _load_pack(text: str, name: str):
    from tests.unit.test_engine_properties import _load
    return _load(text, name)


@pytest.mark.parametrize("families, extra", [
    # A NaN tag never equals itself: Python re-emits it at every evaluation (and it was a None in
    # the core, as orjson writes NaN as null in the plan).
    ('[families.f]\ncases = [{ value = "x", when = "orders_total > 5" }]\ndefault = nan', ""),
    ('[families.f]\ncases = [{ value = inf, when = "orders_total >= 2" }]\ndefault = -inf', ""),
    # `1e999` is an infinite constant: true in Python, a None (always false) in the core.
    ('[families.f]\ncases = [{ value = "y", when = "orders_total < 1e999" }]\ndefault = "n"', ""),
    # An infinite RFM boundary made the plan unreadable ("null is not a number").
    ('[families.f]\nkind = "rfm_grid"\ndefault = "none"\ngrid = [["a","b","c","d","e"],["f","g","h","i","j"],'
     '["k","l","m","n","o"],["p","q","r","s","t"],["u","v","w","x","y"]]',
     '[rfm]\nrecency_days = [1, 2, 3, 4]\nfrequency_metric = "orders_30d"\nfrequency = [1, 2, 3, inf]\n'
     'monetary_metric = "revenue_30d"\nmonetary = [-inf, 2, 3, 4]'),
])
def test_non_finite_floats_in_a_pack_mean_what_they_mean_in_python(families, extra):
    assert_same(_edge_pack(families, extra), EDGE_DOCS, 1_704_067_200_000 + 100 * DAY_MS)


def test_ints_and_floats_compare_exactly_as_in_python():
    # 2**53 + 1 > 2.0**53 in Python; as two doubles they are equal.
    pack = _edge_pack('[families.f]\ncases = [{ value = "y", when = "orders_total + 9007199254740992 > 9007199254740992.0" }]\n'
                      'default = "n"')
    assert_same(pack, EDGE_DOCS, "end")


@pytest.mark.timeout(60, method="thread")  # the native loop never returns to the interpreter
@pytest.mark.parametrize("families, windows", [
    ('cases = [{ value = "y", when = "days_since_last_order >= 1e15" }]', "orders = [30]"),
    # A step past i64 itself: the plan export failed ("Integer exceeds 64-bit range").
    ('cases = [{ value = "y", when = "days_since_last_order >= 1e300 or days_since_last_order < 1" }]', "orders = [30]"),
    ('cases = [{ value = "y", when = "orders_200000000000d >= 2 or orders_prev_200000000000d > 0" }]',
     "orders = [200000000000]"),
])
def test_deadlines_beyond_i64_never_come_instead_of_wrapping_round(families, windows):
    """A threshold or window the loader accepts whose deadline in ms is past i64 wrapped to a
    deadline in the past: the customer was evaluated there again and again, forever."""
    pack = _load_pack(f'[windows]\n{windows}\nactivity = [7]\n[families.f]\n{families}\ndefault = "n"', "far.toml")
    assert_same(pack, EDGE_DOCS, 1_704_067_200_000 + 100 * DAY_MS)


def test_an_hour_band_named_with_the_empty_string_counts_nothing():
    # TOML accepts `"" = [0, 11]`; Python's `if band:` skips the empty name (no later band is
    # tried), so a `top` family over hour bands sees only the other bands.
    pack = _load_pack('[hour_bands]\n"" = [0, 11]\npm = [12, 23]\n'
                      '[families.t]\nkind = "top"\ncounter = "hour_band"\ndefault = "-"', "bands.toml")
    docs = [{"type": "order", "event_id": f"o{i}", "customer_id": "c1", "ts": 1_704_067_200_000 + hour * 3_600_000,
             "amount": 1} for i, hour in enumerate((0, 1, 13))]
    assert_same(pack, docs, "end")
