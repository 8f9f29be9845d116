"""The rule condition language: what it accepts, what it rejects (and says so), how it evaluates."""

from __future__ import annotations

import math

import pytest

from stream.rules.expressions import ExpressionError, compile_condition

RECENCY = {"days_since_last_order", "days_since_first_order", "days_since_last_event"}
PLAIN = {"orders_total", "revenue_365d", "orders_90d", "orders_prev_90d", "rfm_r", "rfm_f", "rfm_m"}
KNOWN = RECENCY | PLAIN


def compile_(source: str):
    return compile_condition(source, KNOWN.__contains__, RECENCY)


def holds(source: str, **metrics: object) -> bool:
    values = dict.fromkeys(KNOWN, 0) | metrics
    return bool(compile_(source).evaluate(values))


# --- accepted syntax -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, metrics, expected",
    [
        ("orders_total >= 2", {"orders_total": 2}, True),
        ("orders_total >= 2", {"orders_total": 1}, False),
        ("orders_total == 0", {"orders_total": 0}, True),
        ("orders_total != 0", {"orders_total": 3}, True),
        ("revenue_365d > 999.99", {"revenue_365d": 1000.0}, True),
        ("orders_total > 0 and revenue_365d >= 1000", {"orders_total": 1, "revenue_365d": 999}, False),
        ("orders_total == 0 or revenue_365d >= 1000", {"orders_total": 1, "revenue_365d": 1000}, True),
        ("not orders_total > 0", {"orders_total": 0}, True),
        ("not (orders_total > 0 and orders_90d > 0)", {"orders_total": 1, "orders_90d": 0}, True),
        ("orders_90d / 3 > 3", {"orders_90d": 10}, True),
        ("orders_90d / 3 > 3", {"orders_90d": 9}, False),
        ("orders_90d < 0.5 * orders_prev_90d", {"orders_90d": 1, "orders_prev_90d": 3}, True),
        ("orders_90d - orders_prev_90d + 1 >= 2", {"orders_90d": 4, "orders_prev_90d": 3}, True),
        ("-orders_total < -1", {"orders_total": 2}, True),
        ("min(orders_90d, 5) == 5", {"orders_90d": 9}, True),
        ("max(orders_90d, orders_prev_90d) >= 4", {"orders_90d": 1, "orders_prev_90d": 4}, True),
        ("abs(orders_90d - orders_prev_90d) >= 2", {"orders_90d": 1, "orders_prev_90d": 3}, True),
        ("true", {}, True),
        ("false", {}, False),
        ("true and orders_total > 0", {"orders_total": 1}, True),
        ("rfm_r >= 4 and rfm_f + rfm_m >= 8", {"rfm_r": 5, "rfm_f": 4, "rfm_m": 4}, True),
        ("  orders_total >= 1  ", {"orders_total": 1}, True),
        ("days_since_last_order >= 90", {"days_since_last_order": 90}, True),
        ("days_since_last_order >= 90", {"days_since_last_order": 89}, False),
        ("days_since_last_order >= -1", {"days_since_last_order": 0}, True),
    ],
)
def test_accepted_conditions_evaluate(source, metrics, expected):
    assert holds(source, **metrics) is expected


def test_compiled_condition_reports_the_metrics_it_reads():
    compiled = compile_("orders_total > 0 and (days_since_last_order >= 90 or true) and min(orders_90d, 2) > 1")
    assert compiled.names == {"orders_total", "days_since_last_order", "orders_90d"}
    assert compiled.source == "orders_total > 0 and (days_since_last_order >= 90 or true) and min(orders_90d, 2) > 1"


def test_condition_cannot_reach_builtins():
    # the compiled lambda runs with no builtins: only the metrics mapping is visible
    compiled = compile_("orders_total > 0")
    assert compiled.evaluate.__globals__["__builtins__"] == {}


# --- rejected syntax -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, problem",
    [
        # attribute access and subscripts
        ("orders_total.real > 1", "'orders_total.real' is not allowed"),
        ("orders_total.__class__ == 1", "is not allowed"),
        ("orders_total[0] > 1", "'orders_total[0]' is not allowed"),
        # unknown metrics (typos, undeclared windows, Python names)
        ("dayz_since_last_order >= 90", "unknown metric 'dayz_since_last_order'"),
        ("orders_45d > 1", "unknown metric 'orders_45d'"),
        ("True and __builtins__", "unknown metric '__builtins__'"),
        # calls other than min / max / abs
        ("sum(orders_total) > 1", "only ['abs', 'max', 'min'] may be called"),
        ("__import__('os') == 1", "only ['abs', 'max', 'min'] may be called"),
        ("orders_total.bit_length() > 1", "only ['abs', 'max', 'min'] may be called"),
        ("max(orders_total, orders_90d, key=abs) > 1", "only ['abs', 'max', 'min'] may be called"),
        ("(lambda: 1)() == 1", "only ['abs', 'max', 'min'] may be called"),
        # time-dependent (recency) metrics anywhere but directly against a number
        ("days_since_last_order + 1 > 90", "'days_since_last_order' changes with time and may only be compared directly with a number"),
        ("days_since_last_order * 2 >= 180", "'days_since_last_order' changes with time"),
        ("days_since_last_order / orders_total > 30", "'days_since_last_order' changes with time"),
        ("days_since_last_order > orders_total", "'days_since_last_order' changes with time"),
        ("days_since_last_order > days_since_first_order", "'days_since_last_order' changes with time"),
        ("min(days_since_last_order, 100) >= 90", "'days_since_last_order' changes with time"),
        ("-days_since_last_order < -90", "'days_since_last_order' changes with time"),
        ("days_since_last_order", "'days_since_last_order' changes with time"),
        ("not days_since_last_order", "'days_since_last_order' changes with time"),
        ("days_since_last_order >= True", "'days_since_last_order' changes with time"),
        # operators outside the language
        ("orders_total ** 2 > 4", "'orders_total ** 2' is not allowed"),
        ("orders_total % 2 == 0", "'orders_total % 2' is not allowed"),
        ("orders_total // 2 == 0", "is not allowed"),
        ("orders_total in [1, 2]", "operator In is not allowed"),
        ("orders_total is 1", "operator Is is not allowed"),
        ("orders_total not in (1,)", "operator NotIn is not allowed"),
        ("1 if orders_total else 0", "is not allowed"),
        ("~orders_total == 1", "is not allowed"),
        ("None", "'None' is not allowed"),
        ("[orders_total]", "is not allowed"),
        ("(x := 1) > 0", "is not allowed"),
        # not an expression at all
        ("orders_total >", "cannot parse 'orders_total >'"),
        ("orders_total = 1", "cannot parse"),
        ("import os", "cannot parse"),
        ("", "cannot parse"),
    ],
)
def test_rejected_conditions_name_the_problem(source, problem):
    with pytest.raises(ExpressionError) as error:
        compile_(source)
    assert problem in str(error.value)


@pytest.mark.parametrize(
    "source",
    ["abs(orders_total, 1) > 0", "min(orders_total) > 0", "max() > 0", "abs() > 0"],
)
def test_calls_with_the_wrong_number_of_arguments_are_rejected_at_load_time(source):
    # min(5) and abs(1, 2) would only raise TypeError when a customer is first evaluated
    with pytest.raises(ExpressionError, match="argument"):
        compile_(source)


@pytest.mark.parametrize(
    "source",
    ["orders_total > 'a'", "'a' <= orders_total", "orders_total + 'a' > 1", "abs('a') > 1", "-'a' < 0"],
)
def test_strings_outside_equality_are_rejected_at_load_time(source):
    # every metric is a number: ordering or arithmetic on a string would raise TypeError at run time
    with pytest.raises(ExpressionError, match="string"):
        compile_(source)


def test_string_equality_is_allowed_and_simply_false_for_numbers():
    assert holds("orders_total == 'x'", orders_total=1) is False
    assert holds("orders_total != 'x'", orders_total=1) is True


def test_rejection_message_quotes_the_whole_condition():
    with pytest.raises(ExpressionError) as error:
        compile_("orders_total > 0 and orders_45d > 1")
    assert str(error.value) == "in 'orders_total > 0 and orders_45d > 1': unknown metric 'orders_45d'"


# --- None-safety ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "days_since_last_order >= 90",
        "days_since_last_order > 90",
        "days_since_last_order < 90",
        "days_since_last_order <= 90",
        "days_since_last_order == 90",
        "days_since_last_order != 90",
        "90 <= days_since_last_order",
        "0 <= days_since_last_order < 1000",
        "rfm_r >= 1",
        "rfm_r < 6",
        "rfm_r != 3",
        "rfm_r + 1 >= 2",
        "rfm_r * 0 == 0",
        "rfm_r / 1 <= 5",
        "-rfm_r < 0",
        "min(rfm_r, 5) >= 1",
        "max(rfm_r, 1) >= 1",
        "abs(rfm_r - 3) <= 2",
        "rfm_r == rfm_f",
    ],
)
def test_every_comparison_with_a_missing_metric_is_false(source):
    # a customer who never ordered has no recency and no RFM scores; no comparison may hold or raise
    assert holds(source, days_since_last_order=None, rfm_r=None, rfm_f=None) is False


def test_not_is_plain_negation_of_a_false_comparison():
    assert holds("not days_since_last_order >= 90", days_since_last_order=None) is True


@pytest.mark.parametrize(
    "source",
    [
        "orders_90d / orders_prev_90d > 1",
        "orders_90d / orders_prev_90d <= 1",
        "orders_90d / orders_prev_90d == 0",
        "orders_90d / orders_prev_90d != 0",
        "orders_90d / 0 >= 0",
        "orders_90d / orders_prev_90d * 2 + 1 >= 0",
        "abs(orders_90d / orders_prev_90d) >= 0",
        "min(orders_90d / orders_prev_90d, 1) <= 1",
        "-(orders_90d / orders_prev_90d) <= 0",
    ],
)
def test_division_by_zero_gives_none_so_the_comparison_is_false(source):
    assert holds(source, orders_90d=3, orders_prev_90d=0) is False


def test_division_is_true_division():
    assert holds("orders_90d / orders_prev_90d == 1.5", orders_90d=3, orders_prev_90d=2) is True


# --- chained comparisons -------------------------------------------------------------------------


@pytest.mark.parametrize("orders, expected", [(0, False), (1, True), (2, True), (3, False)])
def test_chained_comparison_means_each_pair_holds(orders, expected):
    assert holds("1 <= orders_total < 3", orders_total=orders) is expected


@pytest.mark.parametrize(
    "orders, revenue, expected", [(1, 5, True), (0, 5, False), (6, 5, False), (5, 5, True), (5, 4, False)]
)
def test_chained_comparison_with_a_metric_in_every_position(orders, revenue, expected):
    assert holds("0 < orders_total <= revenue_365d < 10", orders_total=orders, revenue_365d=revenue) is expected


# --- steps of time-dependent metrics -------------------------------------------------------------


@pytest.mark.parametrize(
    "source, steps",
    [
        ("days_since_last_order >= 90", {90}),
        ("days_since_last_order > 90", {91}),
        ("days_since_last_order < 90", {90}),
        ("days_since_last_order <= 90", {91}),
        ("90 <= days_since_last_order", {90}),
        ("90 < days_since_last_order", {91}),
        ("90 > days_since_last_order", {90}),
        ("90 >= days_since_last_order", {91}),
        ("days_since_last_order >= 89.5", {90}),
        ("days_since_last_order > 89.5", {90}),
        ("days_since_last_order < 89.5", {90}),
        ("days_since_last_order <= 89.5", {90}),
        ("days_since_last_order == 7", {7, 8}),
        ("days_since_last_order != 7", {7, 8}),
        ("30 <= days_since_last_order < 90", {30, 90}),
        ("days_since_last_order >= 90 or days_since_last_order >= 180", {90, 180}),
        ("days_since_last_order >= -1", {-1}),
    ],
)
def test_steps_are_the_whole_days_at_which_the_condition_can_flip(source, steps):
    assert compile_(source).steps == {"days_since_last_order": steps}


def test_steps_are_collected_per_metric_and_only_for_time_dependent_ones():
    compiled = compile_("days_since_last_order >= 90 and days_since_first_order < 30 and orders_total > 5")
    assert compiled.steps == {"days_since_last_order": {90}, "days_since_first_order": {30}}
    assert compile_("orders_total > 5 and revenue_365d >= 100").steps == {}


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
@pytest.mark.parametrize("constant", [0, 1, 29.5, 30, 90, 179.999])
@pytest.mark.parametrize("mirrored", [False, True])
def test_condition_only_flips_at_a_declared_step(op, constant, mirrored):
    """Brute force over whole days: wherever truth(x) differs from truth(x - 1), x is a step."""
    mirror = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
    source = f"{constant} {mirror[op]} days_since_last_order" if mirrored else f"days_since_last_order {op} {constant}"
    compiled = compile_(source)
    steps = compiled.steps["days_since_last_order"]
    truth = [bool(compiled.evaluate({"days_since_last_order": x})) for x in range(0, 200)]
    flips = {x for x in range(1, 200) if truth[x] != truth[x - 1]}
    assert flips <= steps
    assert all(s == math.ceil(constant) or s == math.floor(constant) + 1 for s in steps)
