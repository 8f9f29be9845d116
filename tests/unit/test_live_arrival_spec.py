"""Live arrival (the worker's `--clock live`): an event is applied the moment it arrives.

Given events arriving in some order, these are the tag changes and when they come out. Deadlines
(time passing with no event) still wait for the partition's watermark; only an event older than
what its own customer has already been evaluated at is late. The last tests pin the equality with
the offline engine that the README promises for live mode."""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import ROOT
from stream.backtest import Arrival, Backtest
from stream.changes import TagChange
from stream.rules.ruleset import RuleSet, load_rules
from tests.unit.tagspec import MINUTE_MS, click, day, default_rules, email_open, lines, order, run, visit, write_rules

L = "lifecycle"
LIVE = Arrival.IMMEDIATE
# An event at most this much older than the wall clock (or the allowed lateness, if longer) is live,
LIVE_HORIZON_MS = 60_000
# and so is one from a producer whose clock runs ahead of the worker's by up to this.
LIVE_AHEAD_MS = 10_000


class Feed:
    """Events sent one at a time, each applied on arrival or buffered as the sender says (as the
    worker's live clock decides per event): what each send changed comes back."""

    def __init__(self, rules: RuleSet | None = None, partitions: int = 8, arrival: Arrival = LIVE) -> None:
        self.backtest = Backtest(rules or default_rules(), partitions=partitions, arrival=arrival)
        self.engine = self.backtest.engine
        self.arrival = arrival

    @property
    def totals(self):
        return self.backtest.totals

    def send(self, doc: dict, arrival: Arrival | None = None) -> list[TagChange]:
        """Apply `doc` as `arrival` says (default: the feed's own)."""
        self.engine.immediate = (arrival or self.arrival) is LIVE
        changes: list[TagChange] = []
        self.backtest.run(lines([doc]), lambda batch: changes.extend(TagChange.from_batch(batch)), _refuse)
        return changes

    def live_arrival(self, doc: dict, wall_clock_ms: int) -> Arrival:
        """The live clock's choice for this event read at `wall_clock_ms`."""
        return LIVE if self.engine.live_arrival(doc["customer_id"], doc["ts"], wall_clock_ms) else Arrival.BUFFERED

    def finish(self, as_of: int) -> list[TagChange]:
        changes: list[TagChange] = []
        self.backtest.finish(as_of, lambda batch: changes.extend(TagChange.from_batch(batch)))
        return changes


def _refuse(line, rejection) -> None:
    raise AssertionError(f"a spec event was rejected: {rejection}")


def test_an_event_s_own_changes_come_out_of_the_call_that_ingests_it():
    changes = Feed().send(order("c1", day(0, 10), 1200.0, id="o1"))
    assert {(c.family, c.old, c.new, c.at, c.cause_event_id) for c in changes} >= {
        (L, None, "new", day(0, 10), "o1"),
        ("value_tier", None, "high", day(0, 10), "o1"),
    }
    buffered = Feed(arrival=Arrival.BUFFERED)
    assert buffered.send(order("c1", day(0, 10), 1200.0, id="o1")) == [], "waits for the watermark"


def test_the_newest_events_are_applied_although_the_watermark_has_not_passed_them():
    events = [order("c1", day(0, 10), id="o1"), visit("c1", day(0, 10, 2), id="v1")]
    live, buffered = run(events, as_of="watermark", arrival=LIVE), run(events, as_of="watermark")
    assert live.of(L) == [(L, None, "new", day(0, 10), "o1")]
    assert live.snapshot("watermark")["c1"]["pending_events"] == 0
    assert buffered.of(L) == [] and buffered.snapshot("watermark")["c1"]["pending_events"] == 2


def test_deadlines_wait_for_the_watermark():
    # only one source has delivered anything: the watermark cannot move, so 30 days "pass" for
    # nobody, and the new -> active deadline of day 30 does not fire
    result = run([order("c1", day(0, 10), id="o1"), order("c2", day(45), id="o2")], as_of="watermark", arrival=LIVE)
    assert result.of(L, "c1") == [(L, None, "new", day(0, 10), "o1")]
    assert result.snapshot("watermark")["c1"]["as_of"] == "2024-01-01T10:00:00.000Z"


def test_an_event_proves_its_own_customer_s_time_so_that_customer_s_deadlines_up_to_it_fire_first():
    result = run([order("c1", day(0, 10), id="o1"), order("c1", day(40), id="o2")], as_of="watermark", arrival=LIVE)
    assert result.of(L, "c1") == [
        (L, None, "new", day(0, 10), "o1"),
        (L, "new", "active", day(30, 10), None),  # the deadline, stamped at its own instant
    ]
    assert result.tags("c1")[L] == "active"


def test_an_event_older_than_what_its_customer_has_seen_is_late_and_stamped_at_the_customer_s_time():
    events = [order("c1", day(10, 10), 100.0, id="o2"), order("c1", day(5, 10), 950.0, id="o1")]
    result = run(events, as_of="watermark", arrival=LIVE)
    assert result.totals.late == 1
    assert result.of("value_tier") == [
        ("value_tier", None, "low", day(10, 10), "o2"),  # stands: a late event never un-emits
        ("value_tier", "low", "high", day(10, 10), "o1"),
    ]
    assert result.snapshot("watermark")["c1"]["revenue_total"] == 1050.0


def test_an_event_behind_its_partition_s_watermark_but_new_to_its_customer_is_not_late():
    # c2's visits move the watermark to day 3; c1 has seen nothing yet, so its day-1 order is applied
    # at its own time, as offline, not at the watermark
    events = [email_open("c2", day(3), id="e2"), visit("c2", day(3), id="v2"), order("c2", day(3), id="o2"),
              order("c1", day(1, 10), id="o1")]
    result = run(events, as_of="watermark", arrival=LIVE, partitions=1)
    assert result.totals.late == 0
    assert result.of(L, "c1") == [(L, None, "new", day(1, 10), "o1")]


def test_a_duplicate_is_ignored_in_live_mode_too():
    first = order("c1", day(0, 10), 600.0, id="o1")
    result = run([first, dict(first)], as_of="watermark", arrival=LIVE)
    assert result.totals.duplicates == 1
    assert result.snapshot("watermark")["c1"]["revenue_total"] == 600.0


# --- live events and a backlog ---------------------------------------------------------------------

NOW = day(100)
DEFAULT_PACK = ROOT / "config" / "rules" / "default.toml"


def caught_up_feed(tmp_path, lateness: str) -> Feed:
    """A live partition with no backlog (every topic read up to NOW), under the default pack with
    the given lateness bound."""
    text = DEFAULT_PACK.read_text().replace('allowed_lateness = "5m"', f'allowed_lateness = "{lateness}"')
    feed = Feed(load_rules(write_rules(tmp_path, text)), partitions=1, arrival=Arrival.BUFFERED)
    feed.send(order("someone", NOW, id="o-now"))
    feed.backtest.finish("watermark", lambda batch: None)  # every topic caught up: the watermark follows
    return feed


@pytest.mark.parametrize(
    "event_ts, lateness, arrival",
    [
        (NOW, "0s", LIVE),
        (NOW + LIVE_AHEAD_MS, "0s", LIVE),  # a producer clock a little ahead of the worker's
        (NOW + LIVE_AHEAD_MS + 1, "0s", Arrival.BUFFERED),  # further ahead: waits for its time
        (NOW - LIVE_HORIZON_MS, "0s", LIVE),
        (NOW - LIVE_HORIZON_MS - 1, "0s", Arrival.BUFFERED),  # from a backlog: in event-time order
        (NOW - 5 * MINUTE_MS, "5m", LIVE),  # a longer lateness bound widens the horizon
        (NOW - 5 * MINUTE_MS - 1, "5m", Arrival.BUFFERED),
        (day(3), "5m", Arrival.BUFFERED),
    ],
)
def test_only_events_near_the_wall_clock_are_live(tmp_path, event_ts, lateness, arrival):
    assert caught_up_feed(tmp_path, lateness).live_arrival(click("c1", event_ts), NOW) is arrival


def test_a_live_event_waits_while_its_partition_still_has_a_backlog_so_no_false_dormancy():
    # After an outage the clicks topic is read up to now, while the orders topic still holds the
    # customer's order of an hour before the dormancy deadline: the click must not fire it.
    live = Feed(partitions=1)
    live.send(order("c1", day(0, 10), id="o0"))
    wall = day(90, 11)
    click_now, order_backlog = click("c1", wall, id="k1"), order("c1", day(90, 9), id="o1")
    assert live.live_arrival(click_now, wall) is Arrival.BUFFERED, "the orders topic has not been read past day 0"
    changes = live.send(click_now, Arrival.BUFFERED)
    changes += live.send(order_backlog, live.live_arrival(order_backlog, wall))
    changes += live.finish(wall)
    assert live.totals.late == 0
    assert ("active", "dormant") not in {(c.old, c.new) for c in changes if c.family == L}
    offline = run([order("c1", day(0, 10), id="o0"), order("c1", day(90, 9), id="o1"), click("c1", wall, id="k1")], as_of=wall, partitions=1)
    assert [c.to_json() for c in changes if c.cause_event_id != "o0"] == [c.to_json() for c in offline.changes if c.cause_event_id != "o0"]


def test_a_live_event_releases_its_customer_s_buffered_backlog_first():
    feed = Feed(arrival=Arrival.BUFFERED)
    assert feed.send(order("c1", day(0, 10), id="o1")) == [], "backlog: waits for the watermark"
    changes = feed.send(order("c1", day(40), id="o2"), LIVE)
    assert [(c.old, c.new, c.at, c.cause_event_id) for c in changes if c.family == L] == [
        (None, "new", day(0, 10), "o1"),
        ("new", "active", day(30, 10), None),
    ]


def test_a_backlog_event_older_than_what_its_customer_has_seen_is_late_although_the_watermark_is_behind():
    feed = Feed()
    feed.send(order("c1", day(10), id="o2"))
    changes = feed.send(order("c1", day(5), 950.0, id="o1"), Arrival.BUFFERED)
    assert feed.totals.late == 1
    assert {c.at for c in changes} == {day(10)}, "stamped at the customer's time, never before a published change"


def test_once_every_topic_is_caught_up_a_backlog_near_the_wall_clock_is_applied_without_waiting_the_lateness_bound():
    # A restart: the events of the last seconds were read as a backlog (buffered). The first tick
    # that finds every topic caught up releases them as live events; deadlines still wait.
    feed = Feed(partitions=1, arrival=Arrival.BUFFERED)
    feed.send(order("c1", day(0, 10), id="o0"), LIVE)
    feed.send(order("c2", day(0, 10), id="p0"), LIVE)
    wall = day(30, 10, 2)  # both customers' new -> active deadline (day 30, 10:00) is 2 minutes old
    feed.send(click("c1", day(30, 10, 1.5), id="k1"))  # the backlog, buffered
    feed.send(click("c1", wall + LIVE_AHEAD_MS + 1, id="k2"))  # a producer clock too far ahead
    changes = TagChange.from_batch(feed.engine.tick(wall, 0b11_1111))
    assert [(c.customer_id, c.old, c.new, c.at) for c in changes if c.family == L] == [
        ("c1", "new", "active", day(30, 10)),  # c1's own deadline first, fired by its own event
    ], "c2's deadline waits for the watermark (10:02 - 5 min)"
    c1 = next(r for r in feed.backtest.snapshot("watermark") if r["customer_id"] == "c1")
    assert c1["pending_events"] == 1, "k2 waits for its time"


# --- the equality with the offline engine ----------------------------------------------------------

LATENESS = 5 * MINUTE_MS  # the default pack's allowed_lateness


def _arrivals(events: list[dict], rng: random.Random) -> list[dict]:
    """An arrival order the README's live equality covers: each customer's events in time order,
    customers interleaved freely within one lateness bound (nothing arrives behind its partition's
    watermark)."""
    by_slot = sorted(events, key=lambda e: (e["ts"] // LATENESS, rng.random()))
    per_customer: dict[str, list[dict]] = {}
    for e in sorted(events, key=lambda e: (e["ts"], e["event_id"])):
        per_customer.setdefault(e["customer_id"], []).append(e)
    cursors = {customer: iter(queue) for customer, queue in per_customer.items()}
    return [next(cursors[e["customer_id"]]) for e in by_slot]


def _history(rng: random.Random, customers: int, events_each: int) -> list[dict]:
    makers = (order, visit, email_open)
    docs = []
    for c in range(customers):
        t = day(0, 10) + rng.randrange(0, 2 * LATENESS)  # customers close together: arrivals interleave
        for n in range(events_each):
            t += rng.choice((0, 1, 60_000, 90_000, LATENESS, LATENESS, 3 * 3_600_000, 20 * 86_400_000, 95 * 86_400_000))
            make = rng.choice(makers)
            docs.append(make(f"c{c}", t, id=f"c{c}-{n}") if make is not order else order(f"c{c}", t, rng.choice((20.0, 400.0)), id=f"c{c}-{n}"))
    return docs


def _per_customer(result) -> dict[str, list[bytes]]:
    grouped: dict[str, list[bytes]] = {}
    for change in result.changes:
        grouped.setdefault(change.customer_id, []).append(change.to_json())
    return grouped


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 6), st.integers(1, 12))
def test_live_gives_the_offline_changes_when_each_customer_s_events_arrive_in_time_order(seed, customers, each):
    rng = random.Random(seed)
    events = _history(rng, customers, each)
    as_of = max(e["ts"] for e in events) + 200 * 86_400_000
    offline = run(sorted(events, key=lambda e: (e["ts"], e["event_id"])), as_of=as_of, partitions=2)
    live = run(_arrivals(events, rng), as_of=as_of, partitions=2, arrival=LIVE)
    assert live.totals.late == 0
    assert _per_customer(live) == _per_customer(offline)
    assert live.snapshot(as_of) == offline.snapshot(as_of)


@pytest.mark.parametrize("seed", range(3))
def test_a_sorted_log_gives_the_same_changes_live_and_buffered(seed):
    events = sorted(_history(random.Random(seed), 20, 15), key=lambda e: (e["ts"], e["event_id"]))
    as_of = events[-1]["ts"]
    assert _per_customer(run(events, as_of=as_of, arrival=LIVE)) == _per_customer(run(events, as_of=as_of))
