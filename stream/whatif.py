"""What if the rules were different? Two rule packs over the same history, compared.

Moving a threshold is a one-line edit of a TOML file, but its effect on customers is not obvious:
how many move tier, which transitions appear or vanish, who exactly ends up tagged differently.
`WhatIf` answers that offline: every log line is decoded once and the same `Event` goes to two
`Backtest`s (A, the current pack; B, the candidate), so both sides see identical input, identical
rejections and identical partitioning. The result is a `WhatIfReport` of plain dataclasses whose
JSON form is byte-identical for identical input (rows are sorted, never in dict-insertion order).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial

import orjson

from schemas.events import Rejection
from stream.backtest import BATCH_LINES, AsOf, Backtest, Totals
from stream.native import ChangeBatch
from stream.logfile import LogLine, blocks_of
from stream.rules.ruleset import RuleSet
from stream.timeutil import DAY_MS, format_ts

NONE_LABEL = "∅"  # no value yet: the `from` of a first assignment, or a customer still unevaluated
SIDES = ("a", "b")


def label(value: object) -> str:
    """Tag values are str, bool or numbers; reports key them by one text form (JSON's for non-strings)
    so `true` and `"true"` look like what the change events carry and keys stay JSON object keys."""
    if value is None:
        return NONE_LABEL
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class ValueRow:
    value: str
    a: int
    b: int
    delta: int  # b - a


@dataclass(frozen=True)
class TransitionRow:
    from_value: str
    to_value: str
    a: int
    b: int
    delta: int  # b - a


@dataclass(frozen=True)
class FamilyComparison:
    family: str
    only_in: str | None  # "a" or "b" when the family exists in one pack only; None when in both
    distribution: list[ValueRow]  # final values, sorted by value
    transitions: list[TransitionRow]  # every change, sorted by (from, to)
    differing: int | None  # customers whose final value differs; None for one-sided families
    differing_sample: list[str] = field(default_factory=list)
    # [A, B]: changes of value (first assignments not counted) per customer per year of history,
    # what a marketing system receives; where B's `stay` or `min_dwell` work shows first
    changes_per_customer_year: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class SideTotals:
    rules: str
    changes: int
    duplicates: int
    late: int


@dataclass(frozen=True)
class WhatIfReport:
    as_of: str  # "end", "watermark" or the RFC 3339 instant asked for
    lines: int
    events: int
    rejected: int
    customers: int
    a: SideTotals
    b: SideTotals
    families: list[FamilyComparison]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def to_json(self) -> bytes:
        """Indented, key-sorted JSON: the same comparison always gives the same bytes."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


class WhatIf:
    """Drives two backtests in lockstep and counts each side's transitions as they happen, so no
    change stream has to be kept in memory."""

    def __init__(self, rules_a: RuleSet, rules_b: RuleSet, partitions: int = 8) -> None:
        self.sides = {side: Backtest(rules, partitions, json=False, transitions=True)
                      for side, rules in (("a", rules_a), ("b", rules_b))}
        self.transitions: dict[str, Counter[tuple[str, str, str]]] = {side: Counter() for side in SIDES}
        self.changes = {side: 0 for side in SIDES}
        self.read = Totals()  # lines read and rejected, once for both sides

    def run(self, lines: Iterable[LogLine], on_reject: Callable[[LogLine, Rejection], None]) -> None:
        """Feed both sides the same blocks; a bad line is reported and counted once, not once per side."""
        self.run_blocks(blocks_of(lines, BATCH_LINES), on_reject)

    def run_blocks(self, blocks: Iterable[list[LogLine]], on_reject: Callable[[LogLine, Rejection], None]) -> None:
        def reject(line: LogLine, rejection: Rejection) -> None:
            self.read.rejected += 1
            on_reject(line, rejection)

        for block in blocks:
            self.read.lines += len(block)
            self.sides["a"].run_blocks([block], lambda changes: self._count("a", changes), reject)
            self.sides["b"].run_blocks([block], lambda changes: self._count("b", changes), lambda line, rejection: None)

    @property
    def lines(self) -> int:
        return self.read.lines

    @property
    def rejected(self) -> int:
        return self.read.rejected

    def finish(self, as_of: AsOf) -> None:
        """End of input on both sides, with the same `as_of` (see stream.backtest)."""
        for side, backtest in self.sides.items():
            backtest.finish(as_of, partial(self._count, side))

    def _count(self, side: str, changes: ChangeBatch) -> None:
        counter = self.transitions[side]
        self.changes[side] += len(changes)
        for family, old, new in changes.transitions():
            counter[(family, label(old), label(new))] += 1

    def report(self, as_of: AsOf, sample: int = 10) -> WhatIfReport:
        """Compare final values and transitions family by family (A's order, then B-only ones)."""
        finals = {side: backtest.final_tags() for side, backtest in self.sides.items()}
        customers = sorted(finals["a"].keys() | finals["b"].keys())
        names = {side: [f.name for f in backtest.rules.families] for side, backtest in self.sides.items()}
        families = names["a"] + [name for name in names["b"] if name not in names["a"]]
        a = self.sides["a"]
        return WhatIfReport(
            as_of=as_of if isinstance(as_of, str) else format_ts(as_of),
            lines=self.lines,
            events=a.totals.events,
            rejected=self.rejected,
            customers=len(customers),
            a=self._side_totals("a"),
            b=self._side_totals("b"),
            families=[
                self._family(name, customers, finals, _only_in(name, names), sample) for name in families
            ],
        )

    def _years(self) -> float:
        """The history's span (oldest to newest event), at least a day."""
        totals = self.sides["a"].totals
        span = totals.newest - totals.oldest if totals.events else 0
        return max(span, DAY_MS) / (365 * DAY_MS)

    def _side_totals(self, side: str) -> SideTotals:
        backtest = self.sides[side]
        totals = backtest.totals
        return SideTotals(backtest.rules.source, self.changes[side], totals.duplicates, totals.late)

    def _family(
        self, name: str, customers: list[str], finals: dict[str, dict[str, dict[str, object]]], only_in: str | None, sample: int
    ) -> FamilyComparison:
        values = {side: [label(finals[side].get(c, {}).get(name)) for c in customers] for side in SIDES}
        counts = {side: Counter(values[side]) if only_in in (None, side) else Counter() for side in SIDES}
        moves = {side: Counter({k[1:]: n for k, n in self.transitions[side].items() if k[0] == name}) for side in SIDES}
        differing = None if only_in else [c for c, x, y in zip(customers, values["a"], values["b"]) if x != y]
        per_year = max(len(customers), 1) * self._years()
        rates = [round(sum(n for (old, _), n in moves[side].items() if old != NONE_LABEL) / per_year, 2) for side in SIDES]
        return FamilyComparison(
            family=name,
            only_in=only_in,
            distribution=[ValueRow(v, *_pair(counts, v)) for v in sorted(counts["a"].keys() | counts["b"].keys())],
            transitions=[TransitionRow(f, t, *_pair(moves, (f, t))) for f, t in sorted(moves["a"].keys() | moves["b"].keys())],
            differing=None if differing is None else len(differing),
            differing_sample=[] if differing is None else sample_ids(differing, sample),
            changes_per_customer_year=rates,
        )


def _pair(counts: dict[str, Counter], key: object) -> tuple[int, int, int]:
    """(A, B, B - A) for one row: the delta is what a reviewer reads first."""
    a, b = counts["a"][key], counts["b"][key]
    return a, b, b - a


def _only_in(name: str, names: dict[str, list[str]]) -> str | None:
    in_a, in_b = name in names["a"], name in names["b"]
    return None if in_a and in_b else ("a" if in_a else "b")


def sample_ids(customer_ids: Iterable[str], n: int) -> list[str]:
    """Up to `n` ids chosen by a stable hash, then sorted: the same every run, yet spread over the
    whole id range instead of always the alphabetically first (often the oldest) customers."""
    chosen = sorted(customer_ids, key=lambda c: (hashlib.blake2b(c.encode(), digest_size=8).digest(), c))[: max(n, 0)]
    return sorted(chosen)


def compare(
    rules_a: RuleSet,
    rules_b: RuleSet,
    lines: Iterable[LogLine],
    as_of: AsOf = "end",
    *,
    partitions: int = 8,
    sample: int = 10,
    on_reject: Callable[[LogLine, Rejection], None] = lambda line, rejection: None,
) -> WhatIfReport:
    """One call for scripts and tests: run, finish, report."""
    whatif = WhatIf(rules_a, rules_b, partitions)
    whatif.run(lines, on_reject)
    whatif.finish(as_of)
    return whatif.report(as_of, sample)
