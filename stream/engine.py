"""The partition engine: the one object both the Faust worker and `backtest` drive.

It owns a partition's watermark and an index of when each customer next needs attention (its
earliest buffered event or rule deadline), so advancing time touches only customers that are due,
never all of them. Customer state lives in a `StateStore` the caller provides: a dict offline, a
changelog-backed Faust table in the worker.

Each event is applied in one of two ways (`Arrival`, chosen per event by the caller):
- `BUFFERED` (backfills, `backtest`, the worker's event clock, and a live worker's backlog): the
  event waits in its customer's reorder buffer until the watermark passes it, so events read from
  several topics at different paces are still applied in event-time order: the output is exactly
  the offline one.
- `IMMEDIATE` (a live event, see `live_arrival`): applied the moment it arrives, its own changes
  out at once, since a marketing system acting on "new VIP" cannot wait for the lateness bound.

An event is late when it is older than the watermark (buffered) or than what its customer has
already been evaluated at (either way). Deadlines (time passing with no event) wait for the
watermark in both modes, which keeps a lagging or recovering worker from declaring customers
dormant; only a customer's own live event fires that customer's deadlines up to it, first, so the
customer's history stays the offline one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from schemas.events import Event
from stream.changes import TagChange
from stream.customer import advance, apply_late
from stream.rules.ruleset import RuleSet
from stream.state import CustomerState
from stream.watermark import Watermark


class StateStore(Protocol):
    def get(self, customer_id: str) -> CustomerState | None: ...
    def put(self, customer_id: str, state: CustomerState) -> None: ...
    def items(self) -> Iterator[tuple[str, CustomerState]]: ...


class MemoryStore(dict):
    """A state store of live objects in a dict, no serialization (benchmarks, tests)."""

    def put(self, customer_id: str, state: CustomerState) -> None:
        self[customer_id] = state


@dataclass
class Outcome:
    """What one call did, for the caller's counters and sinks."""

    changes: list[TagChange]
    duplicate: bool = False
    late: bool = False


class Arrival(Enum):
    """When an arriving event is applied (see the module docstring)."""

    BUFFERED = "buffered"
    IMMEDIATE = "immediate"


# A live event is at most this much older than the wall clock (or the allowed lateness, if longer),
# and its partition's other topics have been read to within this much of it. A backlog younger
# than that is a restart's or a rebalance's: the topics' reading paces differ by seconds in it.
LIVE_HORIZON_MS = 60_000
# Producer clocks running ahead of the worker's by up to this still count as live. An event
# further ahead (up to TAGSTREAM_MAX_FUTURE) waits for its time: applied at once, it would move its
# customer's clock into the future and make that customer's correctly stamped events late.
LIVE_AHEAD_MS = 10_000


class PartitionEngine:
    def __init__(self, rules: RuleSet, store: StateStore, sources: tuple[str, ...]) -> None:
        self.rules = rules
        self.store = store
        self.watermark = Watermark(sources, rules.allowed_lateness_ms)
        self._wakes: list[tuple[int, str]] = []  # heap of (wake time, customer); stale entries skipped
        self._wake_of: dict[str, int] = {}
        self.customers = 0  # customers of this partition, for the "customers tracked" gauge

    def rebuild_index(self, wakes: Iterator[tuple[str, int | None]]) -> None:
        """After a restart or rebalance: index every customer of this partition once, from
        (customer, `CustomerState.wake_time`) pairs."""
        self._wakes.clear()
        self._wake_of.clear()
        self.customers = 0
        for customer_id, wake in wakes:
            self.customers += 1
            self._schedule_at(customer_id, wake)

    @property
    def scheduled(self) -> int:
        return len(self._wake_of)

    def ingest(
        self, event: Event, source: str, caught_up: frozenset[str] = frozenset(), arrival: Arrival = Arrival.BUFFERED
    ) -> Outcome:
        """Accept one decoded event from `source`, then run everything the watermark now allows."""
        state = self.store.get(event.customer_id)
        if state is None:
            state = CustomerState()
            self.customers += 1
        if state.has_seen(event.event_id):
            # A copy still shows how far its topic has been read: after a crash the saved
            # watermark can predate the saved state, and the re-read events are all copies.
            self.watermark.observe(source, event.ts)
            return Outcome(self.advance_to(self.watermark.advance(caught_up)), duplicate=True)
        late = self._is_late(event, state, arrival)
        if late:
            changes = apply_late(self.rules, event.customer_id, state, event, self.watermark.value)
        else:
            changes = self._accept(event, state, arrival)
        self.store.put(event.customer_id, state)
        self._schedule(event.customer_id, state)
        self.watermark.observe(source, event.ts)
        changes += self.advance_to(self.watermark.advance(caught_up))
        return Outcome(changes, late=late)

    def live_arrival(self, event_ts: int, wall_clock_ms: int) -> Arrival:
        """The live clock's choice for one event: IMMEDIATE if the event is live (near the wall
        clock) and its partition has no backlog (every topic with records still to deliver has been
        read to within the horizon of it); BUFFERED otherwise. A backlog (an outage, a restart,
        history replayed into a live worker) has its topics read at different paces: applied on
        arrival, a customer's click read ahead of its orders would fire that customer's dormancy
        deadline before the order that prevents it, so the backlog is applied in event-time order
        as the watermark passes it, like any backfill."""
        lateness = self.rules.allowed_lateness_ms
        horizon = max(lateness, LIVE_HORIZON_MS)
        live = wall_clock_ms - horizon <= event_ts <= wall_clock_ms + LIVE_AHEAD_MS
        read_up_to = self.watermark.value + lateness  # what the slowest topic with records left has reached
        return Arrival.IMMEDIATE if live and read_up_to >= event_ts - horizon else Arrival.BUFFERED

    def _is_late(self, event: Event, state: CustomerState, arrival: Arrival) -> bool:
        """Older than what its customer has already been evaluated at (a later live event, or a
        deadline already fired), or, buffered, than the partition's watermark."""
        if state.clock is not None and event.ts < state.clock:
            return True
        return arrival is Arrival.BUFFERED and event.ts < self.watermark.value

    def _accept(self, event: Event, state: CustomerState, arrival: Arrival) -> list[TagChange]:
        _insert_sorted(state.pending, event)
        if arrival is Arrival.BUFFERED:
            return []
        # The event itself proves that its customer's time has reached it: the customer's own
        # deadlines up to it fire first (a deadline first on the same instant), exactly as offline.
        return advance(self.rules, event.customer_id, state, event.ts, inclusive=True)

    def refresh(self, caught_up: frozenset[str]) -> list[TagChange]:
        """Sources may have caught up without a new event (end of a replay)."""
        return self.advance_to(self.watermark.advance(caught_up))

    def tick(self, wall_clock_ms: int, caught_up: frozenset[str]) -> list[TagChange]:
        return self.advance_to(self.watermark.tick(wall_clock_ms, caught_up))

    def finish(self, as_of: int) -> list[TagChange]:
        """End of a finite log: apply everything up to and including `as_of`."""
        self.watermark.value = max(self.watermark.value, as_of)
        return self.advance_to(as_of, inclusive=True)

    def advance_to(self, watermark: int, inclusive: bool = False) -> list[TagChange]:
        """Fire due deadlines and release buffered events, customer by customer."""
        changes: list[TagChange] = []
        wakes = self._wakes
        limit = watermark + 1 if inclusive else watermark
        done: list[tuple[str, CustomerState]] = []
        while wakes and wakes[0][0] <= limit:
            wake, customer_id = heapq.heappop(wakes)
            if self._wake_of.get(customer_id) != wake:
                continue  # superseded by a later schedule
            del self._wake_of[customer_id]
            state = self.store.get(customer_id)
            if state is None:
                continue
            changes += advance(self.rules, customer_id, state, watermark, inclusive)
            self.store.put(customer_id, state)
            done.append((customer_id, state))
        # `advance` drained everything due, so reschedule only now: with `inclusive`, a deadline at
        # watermark + 1 has the same wake as an event at the watermark but is not due, and
        # rescheduling it inside the loop would pop it again forever.
        for customer_id, state in done:
            self._schedule(customer_id, state)
        return changes

    def _schedule(self, customer_id: str, state: CustomerState) -> None:
        self._schedule_at(customer_id, state.wake_time())

    def _schedule_at(self, customer_id: str, wake: int | None) -> None:
        if wake is None:
            self._wake_of.pop(customer_id, None)
        elif self._wake_of.get(customer_id) != wake:
            self._wake_of[customer_id] = wake
            heapq.heappush(self._wakes, (wake, customer_id))


def _insert_sorted(pending: list[Event], event: Event) -> None:
    """Buffered events are kept in (ts, event_id) order: the order they will be applied in."""
    index = len(pending)
    while index and (pending[index - 1].ts, pending[index - 1].event_id) > (event.ts, event.event_id):
        index -= 1
    pending.insert(index, event)
