"""`whatif`: two rule packs over the same history, compared family by family.

The baseline is the default pack; the candidate moves one threshold (value_tier high from 1000 to
1500 in 365-day revenue), so exactly the customers between 1000 and 1500 must change tier.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from agents.cli import main
from stream.backtest import Backtest
from stream.changes import TagChange
from stream.logfile import LogLine
from stream.rules.ruleset import DEFAULT_RULES, load_rules
from stream.synthetic import generate_events
from stream.timeutil import DAY_MS, parse_instant
from stream.whatif import NONE_LABEL, TransitionRow, ValueRow, WhatIfReport, compare, label, sample_ids
from tests.unit.tagspec import default_thresholds

ROOT = Path(__file__).resolve().parents[2]
T0 = parse_instant("2024-01-01T00:00:00Z")
HIGH = '{ value = "high", when = "revenue_365d >= 1000" }'


def at(days: float) -> int:
    return T0 + round(days * DAY_MS)


def order(customer: str, days: float, amount: float, event_id: str) -> dict:
    return {"type": "order", "event_id": event_id, "customer_id": customer, "ts": at(days), "amount": amount}


# c1 and c5 sit between the two thresholds; c5 crosses 1000 only with its second order.
HISTORY = [
    order("c1", 0.5, 1200.0, "o1"),
    order("c2", 0.6, 2000.0, "o2"),
    order("c3", 0.7, 300.0, "o3"),
    order("c4", 0.8, 50.0, "o4"),
    order("c5", 1.5, 600.0, "o5"),
    order("c5", 3.5, 700.0, "o6"),
]


def log_lines(docs: list[dict]) -> list[LogLine]:
    return [LogLine("history.jsonl", n, orjson.dumps(doc)) for n, doc in enumerate(docs, 1)]


def write_log(tmp_path: Path, docs: list[dict], extra: list[bytes] = ()) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(orjson.dumps(doc) + b"\n" for doc in docs) + b"".join(line + b"\n" for line in extra))
    return path


def default_copy(tmp_path: Path, name: str, *edits: tuple[str, str], append: str = "") -> Path:
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text + append, encoding="utf-8")
    return path


@pytest.fixture
def packs(tmp_path: Path) -> tuple[Path, Path]:
    a = default_copy(tmp_path, "a.toml")
    b = default_copy(tmp_path, "b.toml", (HIGH, HIGH.replace("1000", "1500")))
    return a, b


def family(report: WhatIfReport, name: str):
    return next(f for f in report.families if f.family == name)


# --- the comparison ------------------------------------------------------------------------------


def test_raising_the_high_threshold_moves_exactly_the_customers_between_the_thresholds(packs):
    a, b = packs
    report = compare(load_rules(a), load_rules(b), log_lines(HISTORY), at(10))
    tier = family(report, "value_tier")
    assert tier.only_in is None
    assert tier.distribution == [
        ValueRow("high", 3, 1, -2),
        ValueRow("low", 1, 1, 0),
        ValueRow("medium", 1, 3, 2),
    ]
    assert tier.transitions == [
        TransitionRow("medium", "high", 1, 0, -1),  # c5's second order crosses 1000 but not 1500
        TransitionRow(NONE_LABEL, "high", 2, 1, -1),
        TransitionRow(NONE_LABEL, "low", 1, 1, 0),
        TransitionRow(NONE_LABEL, "medium", 2, 3, 1),
    ]
    assert tier.differing == 2
    assert tier.differing_sample == ["c1", "c5"]


def test_families_the_edit_does_not_touch_show_no_difference(packs):
    a, b = packs
    report = compare(load_rules(a), load_rules(b), log_lines(HISTORY), at(10))
    untouched = [f for f in report.families if f.family != "value_tier"]
    assert [f.family for f in untouched] == [f.name for f in load_rules(a).families if f.name != "value_tier"]
    assert all(f.differing == 0 and f.differing_sample == [] for f in untouched)
    assert all(row.delta == 0 for f in untouched for row in f.distribution + f.transitions)
    assert family(report, "lifecycle").distribution == [ValueRow("new", 5, 5, 0)]


def test_identical_packs_give_zero_differing_customers():
    rules = load_rules()
    report = compare(rules, rules, log_lines(HISTORY))
    assert {f.family: f.differing for f in report.families} == {f.name: 0 for f in rules.families}
    assert report.a.changes == report.b.changes > 0


def test_totals_count_lines_events_customers_and_each_side_changes(packs):
    a, b = packs
    report = compare(load_rules(a), load_rules(b), log_lines(HISTORY), at(10))
    assert (report.lines, report.events, report.rejected, report.customers) == (6, 6, 0, 5)
    assert report.as_of == "2024-01-11T00:00:00.000Z"
    assert report.a.rules == str(a) and report.b.rules == str(b)
    assert report.a.changes - report.b.changes == 1  # c5's medium → high exists only in A


def test_both_sides_agree_with_a_plain_backtest(packs):
    a, _ = packs
    changes: list = []
    backtest = Backtest(load_rules(a))
    collect = lambda batch: changes.extend(TagChange.from_batch(batch))  # noqa: E731
    backtest.run(log_lines(HISTORY), collect, lambda line, rejection: None)
    backtest.finish("end", collect)
    report = compare(load_rules(a), load_rules(a), log_lines(HISTORY), "end")
    expected = Counter((c.family, label(c.old), label(c.new)) for c in changes)
    got = Counter({(f.family, t.from_value, t.to_value): t.a for f in report.families for t in f.transitions})
    assert +got == expected
    assert report.a.changes == len(changes)


def test_a_bad_line_is_rejected_once_and_both_sides_still_see_every_good_event(packs):
    a, b = packs
    lines = log_lines(HISTORY) + [LogLine("history.jsonl", 7, b"{not json")]
    rejected: list = []
    report = compare(load_rules(a), load_rules(b), lines, on_reject=lambda line, r: rejected.append((line.number, r.reason)))
    assert rejected == [(7, "not_json")]
    assert (report.lines, report.events, report.rejected) == (7, 6, 1)


def test_families_in_one_pack_only_are_reported_as_such(tmp_path: Path):
    a = default_copy(tmp_path, "a.toml")
    b = default_copy(
        tmp_path, "b.toml", ("ecommerce = true", "ecommerce = false"),
        append='\n[families.big_spender]\ncases = [{ value = true, when = "revenue_total >= 1500" }]\ndefault = false\n',
    )
    report = compare(load_rules(a), load_rules(b), log_lines(HISTORY))
    only = {f.family: f.only_in for f in report.families if f.only_in}
    assert only == {"coupon_user": "a", "order_hour": "a", "preferred_channel": "a", "top_category": "a",
                    "delivery_preference": "a", "traffic_source": "a", "service_issue": "a", "big_spender": "b"}
    assert report.families[-1].family == "big_spender"  # A's families first, then B's own
    spender = family(report, "big_spender")
    assert spender.distribution == [ValueRow("false", 0, 4, 4), ValueRow("true", 0, 1, 1)]  # only c2
    assert spender.transitions == [TransitionRow(NONE_LABEL, "false", 0, 4, 4), TransitionRow(NONE_LABEL, "true", 0, 1, 1)]
    assert spender.differing is None and spender.differing_sample == []


def test_json_is_deterministic_and_plain(packs):
    a, b = packs
    first = compare(load_rules(a), load_rules(b), log_lines(HISTORY)).to_json()
    second = compare(load_rules(a), load_rules(b), log_lines(HISTORY)).to_json()
    assert first == second
    document = orjson.loads(first)
    tier = next(f for f in document["families"] if f["family"] == "value_tier")
    assert tier["distribution"][0] == {"value": "high", "a": 3, "b": 1, "delta": -2}
    assert tier["differing_sample"] == ["c1", "c5"]


def test_the_sample_is_bounded_sorted_and_stable():
    ids = [f"c{n:04d}" for n in range(500)]
    sample = sample_ids(ids, 10)
    assert len(sample) == 10 and sample == sorted(sample) == sample_ids(reversed(ids), 10)
    assert sample != ids[:10]  # spread over the id range, not the first ten
    assert sample_ids(ids[:3], 10) == ids[:3] and sample_ids(ids, 0) == []


def test_labels_are_the_json_form_of_non_strings():
    assert [label(v) for v in (None, True, False, 3, 2.5, "high")] == [NONE_LABEL, "true", "false", "3", "2.5", "high"]


# --- the command ---------------------------------------------------------------------------------


def test_cli_prints_a_readable_report(tmp_path: Path, packs, capsys):
    a, b = packs
    log = write_log(tmp_path, HISTORY, [b"{not json"])
    assert main(["whatif", str(log), "--rules", str(a), "--rules-b", str(b), "--as-of", "2024-01-11T00:00:00Z"]) == 0
    out, err = capsys.readouterr()
    assert f"{log}:7: not_json:" in err
    assert "whatif: 7" in err  # the progress summary
    assert "as of 2024-01-11T00:00:00.000Z: 7 lines, 6 events, 1 rejected, 5 customers" in out
    block = out.split("value_tier: 2 customers differ\n")[1].split("\n\n")[0].splitlines()
    assert [line.split() for line in block] == [
        ["changes", "per", "customer", "per", "year:", "A", "24.33,", "B", "0.00"],  # 1 medium → high, 5 customers, 3 days
        ["value", "A", "B", "delta"],
        ["high", "3", "1", "-2"],
        ["low", "1", "1", "0"],
        ["medium", "1", "3", "+2"],
        ["top", "transitions:"],
        ["from", "→", "to", "A", "B", "delta"],
        [NONE_LABEL, "→", "medium", "2", "3", "+1"],  # biggest shift first, then the busiest path
        [NONE_LABEL, "→", "high", "2", "1", "-1"],
        ["medium", "→", "high", "1", "0", "-1"],
        [NONE_LABEL, "→", "low", "1", "1", "0"],
        ["differing", "(sample):", "c1,", "c5"],
    ]
    assert "lifecycle: unchanged\n  new 5\n" in out


def test_cli_json_is_one_document_and_byte_identical_across_runs(tmp_path: Path, packs, capsys):
    a, b = packs
    log = write_log(tmp_path, HISTORY)
    argv = ["whatif", str(log), "--rules", str(a), "--rules-b", str(b), "--json", "--sample", "1"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first
    tier = next(f for f in orjson.loads(first)["families"] if f["family"] == "value_tier")
    assert tier["differing"] == 2 and len(tier["differing_sample"]) == 1


def test_cli_rules_default_to_the_default_pack(tmp_path: Path, packs, capsys):
    _, b = packs
    assert main(["whatif", str(write_log(tmp_path, HISTORY)), "--rules-b", str(b), "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["a"]["rules"] == str(DEFAULT_RULES)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda argv, tmp: argv + ["--rules-b", str(tmp / "missing.toml")], "missing.toml: rule file not found"),
        (lambda argv, tmp: argv + ["--rules-b", str(default_copy(tmp, "bad.toml", ("revenue_365d >= 200", "revenue_356d >= 200")))],
         "bad.toml: families.value_tier.cases[1].when: "),
        (lambda argv, tmp: [argv[0], str(tmp / "nope.jsonl")] + argv[2:] + ["--rules-b", str(DEFAULT_RULES)], "log file not found"),
        (lambda argv, tmp: argv + ["--rules-b", str(DEFAULT_RULES), "--as-of", "yesterday"], "--as-of: "),
    ],
    ids=["missing-rules", "invalid-rules", "missing-log", "bad-as-of"],
)
def test_cli_input_errors_are_one_line_and_exit_2(tmp_path: Path, capsys, change, message):
    argv = change(["whatif", str(write_log(tmp_path, HISTORY))], tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("tagstream whatif: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# --- the dealership pack -------------------------------------------------------------------------


def test_the_auto_pack_loads_and_spreads_a_generated_dealership_log_over_lifecycle_values():
    rules = load_rules(ROOT / "config" / "rules" / "auto.toml")
    assert {"lifecycle", "value_tier", "service_loyal", "in_market", "rfm_segment", "top_category"} <= {f.name for f in rules.families}
    backtest = Backtest(rules)
    backtest.run(log_lines(generate_events(120, 730, 1, "auto")), lambda change: None, lambda line, rejection: None)
    backtest.finish("end", lambda change: None)
    records = list(backtest.snapshot("end"))
    lifecycle = Counter(record["tags"]["lifecycle"] for record in records)
    assert {"prospect", "active", "new", "dormant"} <= set(lifecycle)
    assert max(lifecycle.values()) < 0.6 * len(records)
    assert {record["tags"]["top_category"] for record in records} == {"service", "vehicle", "unknown"}


def test_the_default_packs_brakes_cut_the_changes_a_marketing_system_receives():
    report = compare(default_thresholds(), load_rules(), log_lines(generate_events(150, 365, 2)))
    rates = {f.family: f.changes_per_customer_year for f in report.families}
    assert rates["engagement"][1] < 0.6 * rates["engagement"][0]
    assert rates["lifecycle"][0] == rates["lifecycle"][1]  # no brake there
