"""Helpers that let spec tests read as "given these events and this rule file -> these changes".

Events are plain dicts in the canonical input shape, turned into `LogLine`s with orjson and fed
through `Backtest`, exactly as `tagstream backtest` reads a JSONL log.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from stream.backtest import Arrival, Backtest
from stream.changes import TagChange
from stream.logfile import LogLine
from stream.native import Engine
from stream.rules.plan_export import plan_json
from stream.rules.ruleset import DEFAULT_RULES, RuleSet, load_rules
from stream.timeutil import DAY_MS, parse_instant

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
# A Monday, UTC midnight: day arithmetic in the specs counts from here.
T0 = parse_instant("2024-01-01T00:00:00Z")

_DEFAULT: RuleSet | None = None
_THRESHOLDS: RuleSet | None = None


def default_rules() -> RuleSet:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_rules()
    return _DEFAULT


def default_thresholds() -> RuleSet:
    """The default pack without its brakes (every `stay` and `min_dwell` taken out): the
    thresholds and the clock alone, which most specs pin down. The brakes have their own specs
    (test_stable_tags_spec.py), the default pack's included."""
    global _THRESHOLDS
    if _THRESHOLDS is None:
        text = DEFAULT_RULES.read_text(encoding="utf-8")
        text = re.sub(r', stay = "[^"]*"', "", text)
        text = re.sub(r'(?m)^min_dwell = "[^"]*"\n', "", text)
        assert ", stay =" not in text and "min_dwell =" not in text
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "default-thresholds.toml"
            path.write_text(text, encoding="utf-8")
            _THRESHOLDS = load_rules(path)
    return _THRESHOLDS


# The worker's input topics by their default names -> the event type each carries.
INPUT_TOPICS = {"orders": "order", "email-opens": "email_open", "clicks": "click", "visits": "visit",
                "profiles": "profile", "custom-events": "custom"}


def day(n: float, hours: float = 0, minutes: float = 0) -> int:
    """The instant `n` days (+ hours, minutes) after T0, in epoch ms."""
    return T0 + round(n * DAY_MS + hours * HOUR_MS + minutes * MINUTE_MS)


_ids = itertools.count(1)


def _eid(prefix: str, event_id: str | None) -> str:
    return event_id if event_id is not None else f"{prefix}-{next(_ids)}"


def order(customer: str, ts: int | str, amount: float = 50.0, *, id: str | None = None, coupon: str | None = None,
          channel: str | None = None, categories: tuple[str, ...] = ()) -> dict:
    doc: dict = {"type": "order", "event_id": _eid("o", id), "customer_id": customer, "ts": ts, "amount": amount}
    if coupon:
        doc["coupon"] = coupon
    if channel:
        doc["channel"] = channel
    if categories:
        doc["items"] = [{"sku": f"sku-{i}", "category": c} for i, c in enumerate(categories)]
    return doc


def _activity(kind: str, prefix: str):
    def make(customer: str, ts: int | str, *, id: str | None = None) -> dict:
        return {"type": kind, "event_id": _eid(prefix, id), "customer_id": customer, "ts": ts}

    make.__name__ = kind
    return make


email_open = _activity("email_open", "e")
click = _activity("click", "k")
visit = _activity("visit", "v")


def profile(customer: str, ts: int | str, *, id: str | None = None, **traits: object) -> dict:
    """A profile event setting (or, with None, unsetting) these traits."""
    return {"type": "profile", "event_id": _eid("p", id), "customer_id": customer, "ts": ts, "traits": traits}


def custom(customer: str, ts: int | str, name: str, *, id: str | None = None, **properties: object) -> dict:
    """A custom event (an analytics "track" call) with its name and properties."""
    return {"type": "custom", "event_id": _eid("x", id), "customer_id": customer, "ts": ts, "name": name,
            "properties": properties}


def lines(docs: list[dict]) -> list[LogLine]:
    return [LogLine("spec.jsonl", number, orjson.dumps(doc)) for number, doc in enumerate(docs, 1)]


@dataclass
class Run:
    backtest: Backtest
    changes: list[TagChange]
    rejects: list = field(default_factory=list)

    @property
    def totals(self):
        return self.backtest.totals

    def of(self, family: str, customer: str | None = None) -> list[tuple]:
        """The family's changes as (family, from, to, at, cause) tuples, in emission order."""
        return [
            (c.family, c.old, c.new, c.at, c.cause_event_id)
            for c in self.changes
            if c.family == family and (customer is None or c.customer_id == customer)
        ]

    def tags(self, customer: str) -> dict:
        return self.backtest.tags(customer)

    def snapshot(self, as_of: int | str) -> dict[str, dict]:
        return {record["customer_id"]: record for record in self.backtest.snapshot(as_of)}


def run(docs: list[dict], as_of: int | str = "end", rules: RuleSet | None = None, partitions: int = 8,
        arrival: Arrival = Arrival.BUFFERED) -> Run:
    """Feed the docs in the given (arrival) order through a Backtest and finish at `as_of`."""
    backtest = Backtest(rules or default_rules(), partitions=partitions, arrival=arrival)
    result = Run(backtest, [])
    collect = lambda batch: result.changes.extend(TagChange.from_batch(batch))  # noqa: E731
    backtest.run(lines(docs), collect, lambda line, rejection: result.rejects.append(rejection))
    backtest.finish(as_of, collect)
    return result


def run_thresholds(docs: list[dict], **options) -> Run:
    """`run` with the default pack's thresholds only (`default_thresholds`) unless told otherwise."""
    return run(docs, **{"rules": default_thresholds(), **options})


def write_rules(tmp_path: Path, text: str, name: str = "pack.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def pack(tmp_path: Path, families: str, *, header: str = "", name: str = "pack.toml") -> RuleSet:
    """A small rule pack: optional header sections plus the given `[families.*]` text."""
    return load_rules(write_rules(tmp_path, header + "\n" + families, name))


def stored_states(docs: list[dict], rules: RuleSet | None = None) -> dict[str, bytes]:
    """Each customer's state bytes as the worker stores them, after these events applied on
    arrival (what its table holds)."""
    engine = Engine(plan_json(rules or default_rules()), 1, immediate=True)
    engine.ingest_lines([orjson.dumps(doc) for doc in docs])
    states, _ = engine.take_writes()
    return {customer_id: raw for _, customer_id, raw in states}
