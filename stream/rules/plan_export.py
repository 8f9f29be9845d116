"""A validated `RuleSet` as the JSON plan the native core runs (`native/src/engine/plan.rs`).

Python stays the one place that reads and validates rule packs (every error message is made in
`ruleset.py`); this only restates the result as data. Metrics get numeric ids so the core never
compares names on its hot path, and each `cases` condition goes over as a tree whose operators
mean what the compiled Python lambda means (`stream/rules/expressions.py`).
"""

from __future__ import annotations

import ast
import math

import orjson

from schemas.events import EVENT_TYPES
from stream.metrics import AGE, AGGREGATES, BIRTH_DATE, RECENCY_ANCHORS, RFM, PropertyMetric, Window
from stream.rules.families import CaseFamily, Family, GridFamily, TopFamily, ValueFamily
from stream.rules.expressions import TAG_PREFIX, TRAIT_PREFIX
from stream.rules.ruleset import COUNTERS, RuleSet, tag_reads

_I64_MAX = 2**63 - 1
_BOOL = {ast.And: "and", ast.Or: "or"}
_ARITHMETIC = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}
_COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}


def plan_json(rules: RuleSet) -> bytes:
    """The plan of `rules`: a pure function of the pack."""
    plan = rules.plan
    ids = _metric_ids(rules)
    rfm = plan.rfm
    return orjson.dumps({
        "lateness_ms": rules.allowed_lateness_ms,
        "dedup_ids": rules.dedup_ids,
        "reactivation_gap_days": rules.reactivation_gap_days,
        "order_retention_days": rules.order_retention_days,
        "activity_retention_days": rules.activity_retention_days,
        "hour_bands": [list(band) for band in rules.hour_bands],
        "metrics": sorted(ids, key=ids.__getitem__),
        "windows": [_window(w, ids) for w in plan.windows],
        "deadline_windows": [_window(w, ids) for w in plan.deadline_windows],
        "recency": [[ids[name], _anchor(name)] for name in plan.recency],
        "lifetime": [[ids[name], name] for name in plan.lifetime],
        "rfm": None if rfm is None else {
            "recency_days": [_number(t) for t in rfm.recency_days],
            "frequency_metric": ids[rfm.frequency_metric],
            "frequency": [_number(t) for t in rfm.frequency],
            "monetary_metric": ids[rfm.monetary_metric],
            "monetary": [_number(t) for t in rfm.monetary],
            "scores": [ids[name] for name in RFM],
            "days_since_last_order": ids["days_since_last_order"],
        },
        # A step past i64 (`days_since_last_order >= 1e300`) is a deadline that never comes; the
        # core saturates any step * DAY_MS beyond i64 anyway, so i64::MAX days means the same.
        "recency_steps": [[ids[name], _anchor(name), [min(step, _I64_MAX) for step in steps]]
                          for name, steps in plan.recency_steps.items()],
        "families": [_family(family, ids, rules) for family in rules.families],
        # `tag.<family>` metrics: filled from the customer's current tags, in dependency order
        "tag_metrics": [[ids[name], index] for index, family in enumerate(rules.families)
                        if (name := f"{TAG_PREFIX}.{family.name}") in ids],
        "properties": (properties := _properties(rules)),
        "property_metrics": [_property_metric(m, ids, properties, rules) for m in rules.property_metrics],
        "by_trigger": [[rules.families.index(f) for f in rules.by_trigger[kind]] for kind in EVENT_TYPES],
        "traits": [{"name": t.name, "type": t.type, "values": list(t.values)} for t in rules.traits],
        "trait_metrics": [[ids[name], name.removeprefix(f"{TRAIT_PREFIX}.")] for name in sorted(ids)
                          if name.startswith(f"{TRAIT_PREFIX}.")],
        "age": [ids[AGE], BIRTH_DATE] if AGE in ids else None,
        "custom_events": [{"name": e.name, "fields": [list(f) for f in e.fields]} for e in rules.custom_events],
    })


def _metric_ids(rules: RuleSet) -> dict[str, int]:
    plan = rules.plan
    names = {w.name for w in plan.windows} | {w.name for w in plan.deadline_windows}
    names |= set(plan.recency) | set(plan.lifetime) | set(plan.recency_steps)
    names |= {name for family in rules.families for name in family.reads}
    names |= {metric.name for metric in rules.property_metrics}
    if plan.rfm is not None:
        names |= {*RFM, "days_since_last_order", plan.rfm.frequency_metric, plan.rfm.monetary_metric}
    return {name: index for index, name in enumerate(sorted(names))}


def _properties(rules: RuleSet) -> list[str]:
    """The event properties some property metric reads, sorted: the core keeps only these."""
    names = {m.property for m in rules.property_metrics if m.property} | {
        name for m in rules.property_metrics if m.where for name in m.where.names
    }
    return sorted(names)


def _property_metric(metric: PropertyMetric, ids: dict[str, int], properties: list[str], rules: RuleSet) -> dict[str, object]:
    by_property = {name: index for index, name in enumerate(properties)}
    return {
        "metric": ids[metric.name],
        "event_type": EVENT_TYPES.index(metric.event_type),
        "aggregate": AGGREGATES.index(metric.aggregate),
        "property": None if metric.property is None else by_property[metric.property],
        "days": metric.days,
        "where": None if metric.where is None else condition_tree(metric.where.source, by_property),
        # a rule reads it and it has a window: a day leaving the window is a deadline
        "deadlines": metric.days is not None and any(metric.name in f.reads for f in rules.families),
    }


def _window(window: Window, ids: dict[str, int]) -> list[object]:
    return [ids[window.name], window.series, window.field, window.days, window.previous, window.cents]


def _anchor(name: str) -> list[object]:
    which, event_type = RECENCY_ANCHORS[name]
    return [which, None if event_type is None else EVENT_TYPES.index(event_type)]


def _family(family: Family, ids: dict[str, int], rules: RuleSet) -> dict[str, object]:
    common = {
        "name": family.name,
        "default": _number(family.default),
        "reads": [ids[name] for name in family.reads],
        "min_dwell_ms": family.min_dwell_ms,
        "depends_on": [[f.name for f in rules.families].index(name) for name in tag_reads(family)],
    }
    if isinstance(family, CaseFamily):
        cases = [
            [
                _number(case.value),
                case.condition.source,
                condition_tree(case.condition.source, ids),
                None if case.stay is None else [case.stay.source, condition_tree(case.stay.source, ids)],
            ]
            for case in family.cases
        ]
        return {**common, "kind": "cases", "cases": cases}
    if isinstance(family, TopFamily):
        return {**common, "kind": "top", "counter": COUNTERS.index(family.counter), "min_count": family.min_count}
    if isinstance(family, GridFamily):
        return {**common, "kind": "rfm_grid", "grid": [list(row) for row in family.grid]}
    if isinstance(family, ValueFamily):
        return {**common, "kind": "value", "metric": ids[family.metric]}
    raise TypeError(f"unknown family kind {type(family).__name__}")


def condition_tree(source: str, ids: dict[str, int]) -> list[object]:
    """The tree of a condition `compile_condition` has already accepted."""
    return _node(ast.parse(source.strip(), mode="eval").body, ids)


def _node(node: ast.expr, ids: dict[str, int]) -> list[object]:
    if isinstance(node, ast.BoolOp):
        return [_BOOL[type(node.op)], [_node(value, ids) for value in node.values]]
    if isinstance(node, ast.UnaryOp):
        return ["not" if isinstance(node.op, ast.Not) else "neg", _node(node.operand, ids)]
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        pairs: list[list[object]] = [[_COMPARE[type(op)], _node(a, ids), _node(b, ids)]
                                     for op, a, b in zip(node.ops, operands, operands[1:])]
        return pairs[0] if len(pairs) == 1 else ["and", pairs]
    if isinstance(node, ast.BinOp):
        return [_ARITHMETIC[type(node.op)], _node(node.left, ids), _node(node.right, ids)]
    if isinstance(node, ast.Call):
        name = node.func.id  # type: ignore[attr-defined]  # validated: min, max, abs, startswith or contains
        args = [_node(arg, ids) for arg in node.args]
        if name in ("startswith", "contains"):
            return [name, args[0], args[1]]
        return ["abs", args[0]] if name == "abs" else [name, args]
    if isinstance(node, ast.Constant):
        return ["const", _number(node.value)]
    if isinstance(node, ast.Name):
        return ["const", node.id == "true"] if node.id in ("true", "false") else ["metric", ids[node.id]]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):  # validated: tag.<f>, trait.<t>
        return ["metric", ids[f"{node.value.id}.{node.attr}"]]
    raise ValueError(f"not a validated condition node: {ast.dump(node)}")


def _number(value: object) -> object:
    """A value as JSON can carry it: orjson writes NaN and the infinities as null, which would
    make a `nan` tag value, an `inf` RFM boundary or a `1e999` constant (all accepted by the
    loader) a None; those go over as {"float": "nan" | "inf" | "-inf"} instead (plan.rs)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    return value
