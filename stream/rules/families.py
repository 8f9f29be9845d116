"""The three kinds of tag family a rule pack can declare.

- `cases`: ordered conditions, first match wins, else the default (lifecycle, value tier, flags).
- `top`: the most frequent key of a counter (preferred channel, top category, order hour band).
- `rfm_grid`: the named segment at (R, FM) in a 5x5 grid (the classic RFM segment map).
- `value`: a property metric's value itself (the top model viewed), or the default.

Each decides a value from the metrics computed for one customer at one instant and names the rule
that produced it, so every tag change can explain itself. Two optional brakes keep a tag from
flapping: a case's `stay` condition also holds it while the family already has that value
(hysteresis: enter at one threshold, leave at another), and a family's `min_dwell_ms` keeps a value
it changed to at least that long before it may change again (applied by the engine, which knows
when it changed; a customer's first value is not held).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stream.rules.expressions import CompiledCondition

TagValue = str | bool | int | float


@dataclass(frozen=True)
class Case:
    value: TagValue
    condition: CompiledCondition
    # Also holds while the family's current value is this case's value: leaving needs `when` and
    # `stay` both false, so a value near its threshold does not flip back and forth.
    stay: CompiledCondition | None = None


def is_same_value(a: object, b: object) -> bool:
    """Equal as tag values: `True` is not the value `1` (the engine compares them typed, too)."""
    return a is not None and type(a) is type(b) and a == b


@dataclass(frozen=True)
class CaseFamily:
    name: str
    cases: tuple[Case, ...]
    default: TagValue
    reads: tuple[str, ...]  # metrics reported with a change: every metric any case looks at
    min_dwell_ms: int = 0

    def decide(
        self, metrics: Mapping[str, object], counters: Mapping[str, Mapping[str, int]], current: object = None
    ) -> tuple[TagValue, str]:
        for case in self.cases:
            if case.condition.evaluate(metrics):
                return case.value, case.condition.source
            if case.stay is not None and is_same_value(current, case.value) and case.stay.evaluate(metrics):
                return case.value, case.stay.source
        return self.default, "default"


@dataclass(frozen=True)
class TopFamily:
    name: str
    counter: str
    default: TagValue
    min_count: int
    reads: tuple[str, ...] = ()
    min_dwell_ms: int = 0

    def decide(
        self, metrics: Mapping[str, object], counters: Mapping[str, Mapping[str, int]], current: object = None
    ) -> tuple[TagValue, str]:
        counts = counters.get(self.counter)
        if not counts:
            return self.default, "default"
        # Ties go to the alphabetically first key so the result never depends on insertion order.
        key, hits = "", 0
        for candidate, seen in counts.items():
            if seen > hits or (seen == hits and candidate < key):
                key, hits = candidate, seen
        if hits < self.min_count:
            return self.default, "default"
        return key, f"most frequent {self.counter}"


@dataclass(frozen=True)
class GridFamily:
    name: str
    grid: tuple[tuple[str, ...], ...]  # rows R=5..1, columns FM=1..5
    default: TagValue
    reads: tuple[str, ...] = ("rfm_r", "rfm_f", "rfm_m", "rfm_fm")
    min_dwell_ms: int = 0

    def decide(
        self, metrics: Mapping[str, object], counters: Mapping[str, Mapping[str, int]], current: object = None
    ) -> tuple[TagValue, str]:
        r, fm = metrics.get("rfm_r"), metrics.get("rfm_fm")
        if not isinstance(r, int) or not isinstance(fm, int):
            return self.default, "default"
        return self.grid[5 - r][fm - 1], f"rfm grid R={r} FM={fm}"


@dataclass(frozen=True)
class ValueFamily:
    """The value of a property metric itself (the model a customer looked at most), else the
    default."""

    name: str
    metric: str
    default: TagValue
    reads: tuple[str, ...]
    min_dwell_ms: int = 0

    def decide(
        self, metrics: Mapping[str, object], counters: Mapping[str, Mapping[str, int]], current: object = None
    ) -> tuple[TagValue, str]:
        value = metrics.get(self.metric)
        if value is None:
            return self.default, "default"
        return value, f"value of {self.metric}"  # type: ignore[return-value]  # metrics are tag-like scalars


Family = CaseFamily | TopFamily | GridFamily | ValueFamily
