"""The three kinds of tag family a rule pack can declare.

- `cases`: ordered conditions, first match wins, else the default (lifecycle, value tier, flags).
- `top`: the most frequent key of a counter (preferred channel, top category, order hour band).
- `rfm_grid`: the named segment at (R, FM) in a 5x5 grid (the classic RFM segment map).

Each decides a value from the metrics computed for one customer at one instant and names the rule
that produced it, so every tag change can explain itself.
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


@dataclass(frozen=True)
class CaseFamily:
    name: str
    cases: tuple[Case, ...]
    default: TagValue
    reads: tuple[str, ...]  # metrics reported with a change: every metric any case looks at

    def __post_init__(self) -> None:
        # (test, outcome) pairs flattened once: `decide` runs for most events and deadlines.
        checks = tuple((case.condition.evaluate, (case.value, case.condition.source)) for case in self.cases)
        object.__setattr__(self, "_checks", checks)

    def decide(self, metrics: Mapping[str, object], counters: Mapping[str, Mapping[str, int]]) -> tuple[TagValue, str]:
        for test, outcome in self._checks:  # type: ignore[attr-defined]
            if test(metrics):
                return outcome
        return self.default, "default"


@dataclass(frozen=True)
class TopFamily:
    name: str
    counter: str
    default: TagValue
    min_count: int
    reads: tuple[str, ...] = ()

    def decide(self, metrics: Mapping[str, object], counters: Mapping[str, Mapping[str, int]]) -> tuple[TagValue, str]:
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

    def decide(self, metrics: Mapping[str, object], counters: Mapping[str, Mapping[str, int]]) -> tuple[TagValue, str]:
        r, fm = metrics.get("rfm_r"), metrics.get("rfm_fm")
        if not isinstance(r, int) or not isinstance(fm, int):
            return self.default, "default"
        return self.grid[5 - r][fm - 1], f"rfm grid R={r} FM={fm}"


Family = CaseFamily | TopFamily | GridFamily
