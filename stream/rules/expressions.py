"""Rule conditions: a tiny, safe expression language compiled once into Python closures.

A business writes `days_since_last_order >= 90 and revenue_365d > 1000`; we parse it with Python's
own grammar, allow only arithmetic, comparisons, `and`/`or`/`not`, numbers, strings and the metric
names the engine knows, and turn it into a function of a metrics mapping. Anything else (attribute
access, arbitrary calls, unknown names) is rejected at load time with the offending text.

Comparisons are None-safe (a customer who never ordered has no `days_since_last_order`, and every
comparison with it is false) and division by zero yields None rather than an exception; arithmetic,
unary minus and min/max/abs pass None through. Strings may only be compared with `==`/`!=`.

A property metric's `where` is a predicate over one event's properties (`compile_condition(...,
predicate=True)`): names are the event's fields (`page`, `source`), whose values may be strings,
numbers or missing, and `startswith(page, "/test-drive")` / `contains(page, "suv")` test text.
Orderings and arithmetic hold only between numbers, so a text where a number was expected is
false (or None), never an error, as in the compiled core.

`tag.<family>` reads another family's current value (`tag.value_tier == "high"`, `tag.vip and
tag.churn_risk`): a tag is a string, bool or number, so it may only be compared with `==`/`!=` or
used as true/false, never in arithmetic or an ordering where a string would have no meaning.
`trait.<name>` reads a customer attribute (`trait.region == "home"`, `trait.email_consent`); a
text or true/false trait is compared like a tag, a number trait like any metric.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

Metrics = Mapping[str, object]
Condition = Callable[[Metrics], object]

_COMPARE = {ast.Lt: "_lt", ast.LtE: "_le", ast.Gt: "_gt", ast.GtE: "_ge", ast.Eq: "_eq", ast.NotEq: "_ne"}
_MIRROR = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_FUNCTIONS = {"min", "max", "abs"}
_TEXT_FUNCTIONS = {"startswith", "contains"}  # predicates over event properties only
TAG_PREFIX = "tag"  # `tag.<family>` reads that family's current value
TRAIT_PREFIX = "trait"  # `trait.<name>` reads a customer attribute a profile event set
_ARITY = {"min": (2, None), "max": (2, None), "abs": (1, 1), "startswith": (2, 2), "contains": (2, 2)}  # (fewest, most)


class ExpressionError(ValueError):
    """The condition text is not a valid rule expression; the message says what and where."""


@dataclass
class CompiledCondition:
    """A condition plus what it reads, so the engine can compute only those metrics and knows
    which recency thresholds turn into deadlines."""

    source: str
    evaluate: Condition
    names: frozenset[str]
    # time-dependent metric -> whole-day values at which this condition can flip
    steps: dict[str, set[int]] = field(default_factory=dict)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float))  # bool included: True counts as 1, as in the core


def _none_safe(op: Callable[[object, object], bool]) -> Callable[[object, object], bool]:
    def compare(a: object, b: object) -> bool:
        return a is not None and b is not None and op(a, b)

    return compare


def _ordered(op: Callable[[float, float], bool]) -> Callable[[object, object], bool]:
    def compare(a: object, b: object) -> bool:
        return _is_number(a) and _is_number(b) and op(a, b)  # type: ignore[arg-type]  # both numbers

    return compare


def _div(a: float | None, b: float | None) -> float | None:
    if not (_is_number(a) and _is_number(b)) or b == 0:
        return None
    return a / b  # type: ignore[operator]  # both numbers


def _none_safe_call(function: Callable[..., float]) -> Callable[..., float | None]:
    def call(*args: float | None) -> float | None:
        return function(*args) if all(_is_number(a) for a in args) else None

    return call


def _arith(op: Callable[[float, float], float]) -> Callable[[float | None, float | None], float | None]:
    def apply(a: float | None, b: float | None) -> float | None:
        return op(a, b) if _is_number(a) and _is_number(b) else None  # type: ignore[arg-type]  # both numbers

    return apply


def _text_test(op: Callable[[str, str], bool]) -> Callable[[object, object], bool]:
    def test(text: object, part: object) -> bool:
        return isinstance(text, str) and isinstance(part, str) and op(text, part)

    return test


_RUNTIME = {
    "_lt": _ordered(lambda a, b: a < b),
    "_le": _ordered(lambda a, b: a <= b),
    "_gt": _ordered(lambda a, b: a > b),
    "_ge": _ordered(lambda a, b: a >= b),
    "_eq": _none_safe(lambda a, b: a == b),
    "_ne": _none_safe(lambda a, b: a != b),
    "startswith": _text_test(str.startswith),
    "contains": _text_test(lambda text, part: part in text),
    "_div": _div,
    "_add": _arith(lambda a, b: a + b),
    "_sub": _arith(lambda a, b: a - b),
    "_mul": _arith(lambda a, b: a * b),
    "_neg": _none_safe_call(lambda a: -a),
    "min": _none_safe_call(min),
    "max": _none_safe_call(max),
    "abs": _none_safe_call(abs),
}
_BINOP = {ast.Add: "_add", ast.Sub: "_sub", ast.Mult: "_mul", ast.Div: "_div"}


def compile_condition(
    source: str,
    known: Callable[[str], bool],
    time_dependent: Collection[str] = (),
    text: Collection[str] = (),
    predicate: bool = False,
) -> CompiledCondition:
    """Compile `source`; `known(name)` says whether a metric exists. Time-dependent metrics (the
    `days_since_*` family) may only be compared directly with a number: that is what lets the
    engine compute the exact instant a rule flips without scanning customers every day. `text`
    metrics (and tags) are strings: only ==, != or truth. `predicate`: a property metric's
    `where`, whose names are event properties of any type."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"cannot parse {source!r}: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"{_shortened(source)}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    if _depth(tree.body) > MAX_DEPTH:
        raise ExpressionError(f"{_shortened(source)}: nested too deeply (at most {MAX_DEPTH} levels)")
    checker = _Checker(source, known, set(time_dependent), set(text), predicate)
    body = checker.rewrite(tree.body, boolean=True)
    function = ast.Expression(
        ast.Lambda(
            args=ast.arguments(posonlyargs=[], args=[ast.arg("m")], kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=body,
        )
    )
    ast.fix_missing_locations(function)
    code = compile(function, f"<rule {source!r}>", "eval")
    evaluate = eval(code, {"__builtins__": {}, **_RUNTIME})  # noqa: S307 - AST checked above
    return CompiledCondition(source, evaluate, frozenset(checker.names), checker.steps)


# Deeper conditions are refused at load time: checking, compiling and evaluating them recurses
# once per level here and in the compiled core, and no business rule needs more than a few.
MAX_DEPTH = 64


def _depth(root: ast.AST) -> int:
    """Levels of the tree, counted without recursion (the tree may be deep enough to overflow)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _shortened(source: str, keep: int = 60) -> str:
    return repr(source if len(source) <= keep else source[:keep] + "...")


class _Checker:
    """Walks the parsed condition, rejecting anything outside the language, and rewrites it into
    calls to the None-safe runtime helpers."""

    def __init__(
        self, source: str, known: Callable[[str], bool], time_dependent: set[str], text: set[str], predicate: bool
    ) -> None:
        self.source = source
        self.known = known
        self.time_dependent = time_dependent
        self.text = text
        self.predicate = predicate
        self.functions = _FUNCTIONS | _TEXT_FUNCTIONS if predicate else _FUNCTIONS
        self.names: set[str] = set()
        self.steps: dict[str, set[int]] = {}

    def fail(self, what: str) -> ExpressionError:
        return ExpressionError(f"in {self.source!r}: {what}")

    def rewrite(self, node: ast.expr, compared: bool = False, string_ok: bool = False, boolean: bool = False) -> ast.expr:
        """`boolean`: only the truth of this node's value matters (the whole condition, an operand
        of `not`, or of `and`/`or` in such a place)."""
        if isinstance(node, ast.BoolOp):
            return ast.BoolOp(node.op, [self.rewrite(value, boolean=boolean) for value in node.values])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ast.UnaryOp(node.op, self.rewrite(node.operand, boolean=True))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return _call("_neg", [self.rewrite(node.operand)])
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, _ARITHMETIC):
            return _call(_BINOP[type(node.op)], [self.rewrite(node.left), self.rewrite(node.right)])
        if isinstance(node, ast.Call):
            return self.function_call(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not string_ok:
            raise self.fail(f"string {node.value!r} may only be compared with == or != (metrics are numbers)")
        if isinstance(node, ast.Name) and node.id in self.text and not (string_ok or boolean):
            raise self.fail(f"{node.id} is text: compare it with == or != or use it as true/false")
        if isinstance(node, ast.Constant) and type(node.value) is int and not -(2**63) <= node.value < 2**63:
            raise self.fail(f"the number {node.value} is out of range (whole numbers are 64-bit: up to 9223372036854775807)")
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node
        if isinstance(node, ast.Name):
            return self.metric(node.id, compared)
        if isinstance(node, ast.Attribute):
            return self.attribute(node, string_ok or boolean)
        raise self.fail(f"{ast.unparse(node)!r} is not allowed (use metrics, numbers, comparisons, and/or/not, + - * /)")

    def metric(self, name: str, compared: bool) -> ast.expr:
        if name in ("true", "false"):
            return ast.Constant(name == "true")
        if not self.known(name):
            raise self.fail(f"unknown metric {name!r}")
        if name in self.time_dependent and not compared:
            raise self.fail(f"{name!r} changes with time and may only be compared directly with a number")
        self.names.add(name)
        return ast.Subscript(ast.Name("m", ast.Load()), ast.Constant(name), ast.Load())

    def attribute(self, node: ast.Attribute, allowed: bool) -> ast.expr:
        """`tag.<family>` or `trait.<name>`; `allowed`: compared with ==/!= or used as true/false."""
        prefix = node.value.id if isinstance(node.value, ast.Name) else None
        if prefix not in (TAG_PREFIX, TRAIT_PREFIX):
            raise self.fail(f"{ast.unparse(node)!r} is not allowed (another family's value is read as tag.<family>, "
                            "a customer attribute as trait.<name>)")
        name = f"{prefix}.{node.attr}"
        if not self.known(name):
            if prefix == TRAIT_PREFIX:
                raise self.fail(f"{name}: no trait {node.attr!r} declared in [traits] (a date trait is read "
                                "through age_years)")
            raise self.fail(f"{name}: no family {node.attr!r} in this rule pack (or its pack is switched off)")
        if prefix == TAG_PREFIX and not allowed:
            raise self.fail(f"{name} is a tag value: compare it with == or != or use it as true/false")
        if name in self.text and not allowed:
            raise self.fail(f"{name} is text or true/false: compare it with == or != or use it as true/false")
        self.names.add(name)
        return ast.Subscript(ast.Name("m", ast.Load()), ast.Constant(name), ast.Load())

    def comparison(self, node: ast.Compare) -> ast.expr:
        operands = [node.left, *node.comparators]
        pairs = []
        for op, left, right in zip(node.ops, operands, operands[1:]):
            if type(op) not in _COMPARE:
                raise self.fail(f"operator {type(op).__name__} is not allowed")
            self.note_steps(left, type(op), right)
            self.note_steps(right, _MIRROR[type(op)], left)
            equality = type(op) in (ast.Eq, ast.NotEq)
            sides = (self.side(left, right, equality), self.side(right, left, equality))
            pairs.append(_call(_COMPARE[type(op)], list(sides)) if self.predicate else _none_safe_compare(op, *sides))
        return pairs[0] if len(pairs) == 1 else ast.BoolOp(ast.And(), pairs)

    def side(self, node: ast.expr, other: ast.expr, equality: bool) -> ast.expr:
        direct = isinstance(node, ast.Name) and _number(other) is not None
        return self.rewrite(node, compared=direct, string_ok=equality or self.predicate)

    def note_steps(self, node: ast.expr, op: type[ast.cmpop], other: ast.expr) -> None:
        """For `metric op number` with a whole-day metric, the day counts where the truth flips:
        `x >= c` and `x < c` flip when x reaches ceil(c); `x > c` and `x <= c` at floor(c) + 1."""
        value = _number(other)
        if not (isinstance(node, ast.Name) and node.id in self.time_dependent and value is not None):
            return
        steps = self.steps.setdefault(node.id, set())
        if op in (ast.GtE, ast.Lt, ast.Eq, ast.NotEq):
            steps.add(math.ceil(value))
        if op in (ast.Gt, ast.LtE, ast.Eq, ast.NotEq):
            steps.add(math.floor(value) + 1)

    def function_call(self, node: ast.Call) -> ast.expr:
        if not isinstance(node.func, ast.Name) or node.func.id not in self.functions or node.keywords:
            raise self.fail(f"only {sorted(self.functions)} may be called")
        fewest, most = _ARITY[node.func.id]
        if len(node.args) < fewest or (most is not None and len(node.args) > most):
            wanted = f"exactly {fewest}" if fewest == most else f"at least {fewest}"
            raise self.fail(f"{node.func.id}() takes {wanted} argument{'s' if fewest > 1 else ''}, got {len(node.args)}")
        text = node.func.id in _TEXT_FUNCTIONS
        return _call(node.func.id, [self.rewrite(arg, string_ok=text) for arg in node.args])


def _number(node: ast.expr) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value) if math.isfinite(node.value) else None
    return None


def _none_safe_compare(op: ast.cmpop, left: ast.expr, right: ast.expr) -> ast.expr:
    """`left op right`, false when either side is None. Metric lookups and constants are inlined
    (`m[x] is not None and m[x] >= 90`): re-reading them is free of side effects and saves the
    two calls per comparison the runtime helper costs on the engine's hottest path."""
    if not all(isinstance(side, (ast.Constant, ast.Subscript)) for side in (left, right)):
        return _call(_COMPARE[type(op)], [left, right])
    checks: list[ast.expr] = [
        ast.Compare(side, [ast.IsNot()], [ast.Constant(None)]) for side in (left, right) if isinstance(side, ast.Subscript)
    ]
    return ast.BoolOp(ast.And(), [*checks, ast.Compare(left, [op], [right])]) if checks else ast.Compare(left, [op], [right])


def _call(name: str, args: list[ast.expr]) -> ast.expr:
    return ast.Call(ast.Name(name, ast.Load()), args, [])
