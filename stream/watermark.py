"""A partition's event-time watermark, merged over its input topics.

Each input topic of a partition (orders, email-opens, clicks, visits) is its own source, read at
its own pace: replaying history, the consumer may be a month ahead on orders and an hour into
visits. Taking the maximum over all of them would make every visit "late". So the watermark is the
minimum over the sources that still have records to deliver (the slowest one decides), minus the
allowed lateness; a source that has delivered everything it has stops holding time back. When all
are caught up, the newest event time seen decides. A wall-clock tick (live mode) may push it
further. The watermark never moves backwards.

Meaning: no event with a timestamp below the watermark is expected any more.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

NEVER = -(2**62)


@dataclass
class Watermark:
    sources: tuple[str, ...]
    lateness_ms: int
    newest: dict[str, int] = field(default_factory=dict)  # source -> max event time seen
    value: int = NEVER

    def observe(self, source: str, ts: int) -> None:
        if ts > self.newest.get(source, NEVER):
            self.newest[source] = ts

    def advance(self, caught_up: Collection[str]) -> int:
        """Recompute from the sources; `caught_up` names sources with nothing left to deliver."""
        lagging = [self.newest.get(s, NEVER) for s in self.sources if s not in caught_up]
        if lagging:
            horizon = min(lagging)
        elif self.newest:
            horizon = max(self.newest.values())
        else:
            return self.value
        if horizon != NEVER and horizon - self.lateness_ms > self.value:
            self.value = horizon - self.lateness_ms
        return self.value

    def tick(self, wall_clock_ms: int, caught_up: Collection[str]) -> int:
        """Live mode: real time has reached `wall_clock_ms`, so on a partition with no backlog
        every event up to the lateness bound before it has arrived. While any source still has
        records to deliver (recovery, catching up after downtime) the data decides, never the
        wall clock: that is what keeps a restart from declaring customers dormant."""
        self.advance(caught_up)
        if all(s in caught_up for s in self.sources):
            self.value = max(self.value, wall_clock_ms - self.lateness_ms)
        return self.value

    def to_dict(self) -> dict[str, object]:
        return {"newest": self.newest, "value": self.value}

    def restore(self, saved: dict) -> None:
        self.newest = {str(k): int(v) for k, v in saved.get("newest", {}).items()}
        self.value = int(saved.get("value", NEVER))
