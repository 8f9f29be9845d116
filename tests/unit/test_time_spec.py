"""Event time: as-of, deadlines, watermarks, lateness, duplicates and arrival order, through `Backtest`."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.backtest import Backtest
from stream.timeutil import format_ts
from tests.unit.tagspec import MINUTE_MS, click, day, default_rules, email_open, lines, order, pack, visit
from tests.unit.tagspec import run_thresholds as run  # the clock, not the brakes

L = "lifecycle"


def every_source(customer: str, ts: int, tag: str) -> list[dict]:
    """One event of each type at `ts`: with every source seen, a partition's watermark can move."""
    return [
        email_open(customer, ts, id=f"e-{tag}"),
        click(customer, ts, id=f"k-{tag}"),
        visit(customer, ts, id=f"v-{tag}"),
        order(customer, ts, 10.0, id=f"o-{tag}"),
    ]


# --- as-of ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of, lifecycle",
    [
        (day(30, 10) - 1, "new"),  # one millisecond before first order + 30 days
        (day(30, 10), "active"),  # the deadline fires at as_of itself
        (day(90, 10) - 1, "active"),
        (day(90, 10), "dormant"),
        (day(180, 10), "churned"),
    ],
)
def test_as_of_runs_time_up_to_and_including_that_instant(as_of, lifecycle):
    result = run([order("c1", day(0, 10), id="o1")], as_of=as_of)
    assert result.tags("c1")[L] == lifecycle
    assert all(change.at <= as_of for change in result.changes)


def test_a_deadline_one_millisecond_after_the_end_of_the_log_stays_scheduled():
    # regression: finishing at the newest event with a deadline at newest + 1 ms used to loop forever
    result = run([order("c1", day(0, 10), id="o1"), visit("c1", day(30, 10) - 1, id="v1")], as_of="end")
    assert result.tags("c1")[L] == "new"
    backtest = result.backtest
    assert backtest.engine.scheduled() == 1
    backtest.finish(day(30, 10) - 1, lambda batch: None)
    assert result.tags("c1")[L] == "new", "the deadline is at day 30 10:00, not before"
    backtest.finish(day(30, 10), lambda batch: None)
    assert result.tags("c1")[L] == "active"


def test_as_of_end_runs_time_to_the_newest_event_in_the_log():
    result = run([order("c1", day(0, 10), id="o1"), visit("c2", day(45, 10), id="v1")], as_of="end")
    assert result.of(L, "c1") == [(L, None, "new", day(0, 10), "o1"), (L, "new", "active", day(30, 10), None)]
    assert result.snapshot("end")["c1"]["as_of"] == "2024-02-15T10:00:00.000Z"


def test_snapshot_metrics_are_evaluated_at_the_as_of_instant():
    result = run([order("c1", day(0, 10), 120.5, id="o1"), order("c1", day(5, 10), 80.0, id="o2")], as_of=day(40))
    record = result.snapshot(day(40))["c1"]
    assert record["days_since_last_order"] == 34
    assert record["windows"] == {
        "orders_30d": 0, "orders_90d": 2, "orders_365d": 2, "coupon_orders_365d": 0,
        "revenue_30d": 0.0, "revenue_90d": 200.5, "revenue_365d": 200.5,
        "opens_7d": 0, "opens_30d": 0, "opens_90d": 0,
        "clicks_7d": 0, "clicks_30d": 0, "clicks_90d": 0,
        "visits_7d": 0, "visits_30d": 0, "visits_90d": 0,
    }
    assert record["first_order_at"] == "2024-01-01T10:00:00.000Z"
    assert record["last_order_at"] == "2024-01-06T10:00:00.000Z"
    assert (record["orders_total"], record["revenue_total"], record["events_total"]) == (2, 200.5, 2)


@pytest.mark.parametrize(
    "order_time", [day(0), day(0, 12), day(1) - 1], ids=["00:00:00.000", "12:00", "23:59:59.999"]
)
def test_windows_roll_at_utc_midnight_whatever_the_time_of_day(order_time):
    result = run([order("c1", order_time, id="o1")], as_of=day(31))
    assert result.of("engagement") == [
        ("engagement", None, "active", order_time, "o1"),
        ("engagement", "active", "silent", day(30), None),  # day 0 is outside days 1..30
    ]


def test_timestamps_may_be_rfc3339_strings_with_any_offset():
    result = run([order("c1", "2024-01-01T12:00:00+02:00", id="o1")], as_of=day(1))
    assert result.of(L) == [(L, None, "new", day(0, 10), "o1")]


def test_at_equal_instants_a_deadline_fires_before_the_event():
    # first order + 30 days exactly: the deadline (new ends, R drops to 3) is evaluated without o2,
    # then o2 is applied at the same instant
    result = run(
        [order("c1", day(0, 10), 150.0, id="o1"), order("c1", day(30, 10), 100.0, id="o2")],
        as_of=day(30, 10),
    )
    assert [(c.family, c.old, c.new, c.cause_event_id) for c in result.changes if c.at == day(30, 10)] == [
        (L, "new", "active", None),
        ("rfm_segment", "potential_loyalist", "about_to_sleep", None),  # R=3 F=1 M=2
        ("value_tier", "low", "medium", "o2"),
        ("engagement", "silent", "active", "o2"),  # silent since day 30 00:00
        ("trend", "stable", "growing", "o2"),
        ("rfm_segment", "about_to_sleep", "potential_loyalist", "o2"),  # R=5 F=2 M=2
    ]


# --- watermark -----------------------------------------------------------------------------------


def test_watermark_stops_each_partition_at_its_watermark_with_recent_events_still_buffered():
    events = every_source("c1", day(0, 10), "a") + every_source("c1", day(0, 10, 10), "b")
    events.append(order("c1", day(0, 10, 12), id="last"))
    at_watermark = run(events, as_of="watermark")
    # newest event 10:12, lateness 5 min -> watermark 10:07: only the 10:00 events are applied
    assert day(0, 10, 7) in at_watermark.backtest.engine.watermarks()
    assert {c.at for c in at_watermark.changes} == {day(0, 10)}
    record = at_watermark.snapshot("watermark")["c1"]
    assert record["pending_events"] == 5
    assert record["events_total"] == 4
    # a watermark snapshot shows each customer as of its own last update, as the live profile does
    assert record["as_of"] == "2024-01-01T10:00:00.000Z"
    assert record["updated_at"] == "2024-01-01T10:00:00.000Z"

    at_end = run(events, as_of="end")
    assert at_end.snapshot("end")["c1"]["pending_events"] == 0
    assert at_end.snapshot("end")["c1"]["events_total"] == 9
    assert at_end.changes[: len(at_watermark.changes)] == at_watermark.changes


def test_a_source_never_seen_holds_the_watermark_back_so_nothing_is_late():
    # only orders on this partition: the visit source has delivered nothing, so time cannot pass
    result = run([order("c1", day(10, 10), id="o2"), order("c1", day(0, 10), id="o1")], as_of=day(11))
    assert result.totals.late == 0
    assert result.of(L) == [(L, None, "new", day(0, 10), "o1")]


def test_a_late_event_is_counted_and_its_changes_are_stamped_at_the_watermark():
    events = every_source("c1", day(0, 10), "a") + every_source("c1", day(0, 12), "b")
    # watermark is now 11:55; this order happened at 10:30, 85 minutes before it
    events.append(order("c1", day(0, 10, 30), 990.0, id="late"))
    result = run(events, as_of="watermark")
    assert result.totals.late == 1
    assert result.snapshot("watermark")["c1"]["late_events"] == 1
    W = day(0, 11, 55)
    assert result.of("value_tier") == [
        # at equal instants events apply in event_id order: e-a, k-a, o-a, v-a
        ("value_tier", None, "low", day(0, 10), "e-a"),  # stands: late events never un-emit
        ("value_tier", "low", "high", W, "late"),
    ]
    assert all(c.at == W for c in result.changes if c.cause_event_id == "late")

    finished = run(events, as_of="end")
    assert finished.changes[: len(result.changes)] == result.changes
    assert finished.snapshot("end")["c1"]["revenue_total"] == 1010.0


def test_an_event_within_the_lateness_bound_is_not_late():
    events = every_source("c1", day(0, 12), "b")
    events.append(order("c1", day(0, 11, 55), 1000.0, id="just-in-time"))  # == watermark: not before it
    result = run(events, as_of="end")
    assert result.totals.late == 0
    assert ("value_tier", None, "high", day(0, 11, 55), "just-in-time") in result.of("value_tier")


def test_changes_are_emitted_in_event_time_order_per_customer():
    result = run([order("c1", day(d, 10), id=f"o{d}") for d in (0, 100, 250)], as_of=day(600))
    stamps = [c.at for c in result.changes]
    assert stamps == sorted(stamps)


# --- duplicates ----------------------------------------------------------------------------------


def test_duplicate_event_ids_are_ignored_and_counted():
    first = order("c1", day(0, 10), 600.0, id="o1")
    result = run([first, dict(first), visit("c1", day(0, 11), id="v1"), dict(first)], as_of=day(1))
    assert result.totals.duplicates == 2
    assert result.totals.events == 4
    assert result.snapshot(day(1))["c1"]["revenue_total"] == 600.0  # counted once: medium, not high
    assert result.of("value_tier") == [("value_tier", None, "medium", day(0, 10), "o1")]


def test_a_duplicate_arriving_after_its_original_was_applied_is_still_ignored():
    events = every_source("c1", day(0, 10), "a") + every_source("c1", day(3), "b")
    events.append(order("c1", day(0, 10), 10.0, id="o-a"))  # re-sent three days later
    result = run(events, as_of="end")
    assert result.totals.duplicates == 1
    assert result.totals.late == 0
    assert result.snapshot("end")["c1"]["orders_total"] == 2


def test_event_ids_are_per_customer():
    result = run([order("c1", day(0, 10), id="x"), order("c2", day(0, 10), id="x")], as_of=day(1))
    assert result.totals.duplicates == 0
    assert {c.customer_id for c in result.changes} == {"c1", "c2"}


def test_duplicate_detection_remembers_the_last_dedup_ids_applied_event_ids(tmp_path):
    rules = pack(
        tmp_path,
        "[families.buyer]\ncases = [{ value = 'yes', when = 'orders_total > 0' }]\ndefault = 'no'\n",
        header="[state]\ndedup_ids = 2\n",
    )
    events = every_source("c1", day(0, 10), "a") + every_source("c1", day(1, 10), "b")
    # the day-0 events were applied in id order e-a, k-a, o-a, v-a: only o-a and v-a are remembered
    events += [email_open("c1", day(0, 10), id="v-a"), email_open("c1", day(0, 10), id="e-a")]
    events += [email_open("c1", day(1, 10), id="e-b")]  # still buffered: always recognised
    result = run(events, rules=rules, as_of="end")
    assert result.totals.duplicates == 2
    assert result.totals.late == 1  # e-a was forgotten, and is older than the watermark
    assert result.snapshot("end")["c1"]["events_total"] == 9


# --- arrival order -------------------------------------------------------------------------------


def _history() -> list[dict]:
    """Two customers, every source active, several events within minutes of each other."""
    events = []
    for customer in ("c1", "c2"):
        for n, d in enumerate((0, 3, 40, 41, 150, 152, 400)):
            base = day(d, 9 + n % 5)
            events += [
                email_open(customer, base, id=f"{customer}-e{n}"),
                click(customer, base + 1 * MINUTE_MS, id=f"{customer}-k{n}"),
                visit(customer, base + 2 * MINUTE_MS, id=f"{customer}-v{n}"),
                order(customer, base + 3 * MINUTE_MS, 90.0 + n, id=f"{customer}-o{n}", channel="web"),
                order(customer, base + 3 * MINUTE_MS, 45.0, id=f"{customer}-p{n}", coupon="X"),
                visit(customer, base + 4 * MINUTE_MS + 59_999, id=f"{customer}-w{n}"),
            ]
    return sorted(events, key=lambda e: (e["ts"], e["event_id"]))


def _perturbed(events: list[dict], seed: int, lateness_ms: int) -> list[dict]:
    """Arrival order = event time plus a random delay below the allowed lateness."""
    rng = random.Random(seed)
    return sorted(events, key=lambda e: e["ts"] + rng.randrange(lateness_ms))


def _by_customer(result) -> dict[str, list[bytes]]:
    grouped: dict[str, list[bytes]] = {}
    for change in result.changes:
        grouped.setdefault(change.customer_id, []).append(change.to_json())
    return grouped


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("as_of", ["end", "watermark", day(600)])
def test_out_of_order_arrival_within_the_lateness_bound_gives_the_same_changes_as_sorted_input(seed, as_of):
    events = _history()
    arrival = _perturbed(events, seed, 5 * MINUTE_MS)
    assert arrival != events
    in_order, shuffled = run(events, as_of=as_of), run(arrival, as_of=as_of)
    assert shuffled.totals.late == 0
    assert _by_customer(shuffled) == _by_customer(in_order)
    assert shuffled.snapshot(as_of) == in_order.snapshot(as_of)


@given(st.integers(min_value=-(10**12), max_value=4 * 10**12))
def test_instants_are_written_as_rfc3339_utc_with_milliseconds(ts):
    moment = datetime.fromtimestamp(ts // 1000, tz=timezone.utc)
    assert format_ts(ts) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}Z"


# --- a restart whose saved watermark predates its saved state ---------------------------------------


def test_events_read_again_after_a_restart_still_move_the_watermark():
    # Only the customers' states survive (the watermark is lost, as when a worker dies between
    # writing a batch's states and its watermark); then every record is read again.
    docs = every_source("c1", day(0, 10), "a") + every_source("c1", day(0, 11), "b") + [order("c2", day(0, 12), id="c2")]
    first = Backtest(default_rules())
    first.run(lines(docs), lambda changes: None, lambda line, rejection: None)
    restarted = Backtest(default_rules())
    restarted.engine.import_states(first.engine.export_states())
    restarted.run(lines(docs), lambda changes: None, lambda line, rejection: None)
    assert restarted.totals.duplicates == len(docs), "every record read again is a copy"
    first.finish("watermark", lambda changes: None)
    restarted.finish("watermark", lambda changes: None)
    assert list(restarted.snapshot("watermark")) == list(first.snapshot("watermark"))
    assert restarted.engine.watermarks() == first.engine.watermarks()
