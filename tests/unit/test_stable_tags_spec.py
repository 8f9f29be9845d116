"""Tags that do not flap: a case's `stay` condition (hysteresis) and a family's `min_dwell`.

Given these events and this pack -> exactly these (family, from, to, at, cause) changes.
"""

from __future__ import annotations

import re

import pytest

from stream.rules.ruleset import RuleError
from tests.unit.tagspec import day, email_open, order, pack, run, visit

VIP = """
[windows]
orders = [30]
[families.vip]
cases = [{ value = true, when = "revenue_30d >= 1000", stay = "revenue_30d >= 800" }]
default = false
"""


def test_a_value_entered_at_one_threshold_is_kept_until_a_lower_one(tmp_path):
    result = run(
        [
            order("c1", day(0), 250, id="o1"),
            order("c1", day(10), 850, id="o2"),  # 1,100: enters
            order("c1", day(45), 900, id="o3"),  # 900 after o2 left: below the entry threshold
        ],
        as_of=day(80),
        rules=pack(tmp_path, VIP),
    )
    assert result.of("vip") == [
        ("vip", None, False, day(0), "o1"),
        ("vip", False, True, day(10), "o2"),
        # day 30: o1 leaves the window, 850 >= 800 keeps it; day 40: o2 leaves, nothing is left
        ("vip", True, False, day(40), None),
    ]


def test_without_stay_the_same_history_leaves_as_soon_as_it_drops_below_the_entry(tmp_path):
    result = run(
        [order("c1", day(0), 250, id="o1"), order("c1", day(10), 850, id="o2")],
        as_of=day(80),
        rules=pack(tmp_path, VIP.replace(', stay = "revenue_30d >= 800"', "")),
    )
    assert result.of("vip")[2:] == [("vip", True, False, day(30), None)]


ENGAGEMENT = """
[windows]
activity = [7]
[families.engagement]
cases = [{ value = "active", when = "visits_7d >= 1" }]
default = "silent"
min_dwell = "14d"
"""


def test_a_value_is_kept_for_the_minimum_dwell_then_re_decided_at_its_end(tmp_path):
    result = run(
        [visit("c1", day(0), id="v1"), visit("c1", day(18), id="v2")], as_of=day(60), rules=pack(tmp_path, ENGAGEMENT)
    )
    assert result.of("engagement") == [
        ("engagement", None, "active", day(0), "v1"),
        ("engagement", "active", "silent", day(7), None),  # a customer's first value is not held
        # v2 would make it active at day 18, but silent is held to day 21: the change waits for it
        ("engagement", "silent", "active", day(21), None),
        ("engagement", "active", "silent", day(35), None),  # silent from day 25, held to 21 + 14
    ]


def test_a_change_that_no_longer_holds_when_the_dwell_ends_never_happens(tmp_path):
    result = run(
        [visit("c1", day(0), id="v1"), visit("c1", day(12), id="v2")], as_of=day(40), rules=pack(tmp_path, ENGAGEMENT)
    )
    assert result.of("engagement") == [
        ("engagement", None, "active", day(0), "v1"),
        ("engagement", "active", "silent", day(7), None),
        # v2 (day 12) is held back to day 21, by when it has left the 7-day window
    ]


def test_a_dwell_shorter_than_the_window_changes_nothing(tmp_path):
    rules = pack(tmp_path, ENGAGEMENT.replace('"14d"', '"1d"'))
    result = run([visit("c1", day(0), id="v1"), visit("c1", day(0, 12), id="v2")], as_of=day(20), rules=rules)
    assert result.of("engagement") == [
        ("engagement", None, "active", day(0), "v1"),
        ("engagement", "active", "silent", day(7), None),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('min_dwell = "soon"', "families.engagement.min_dwell: 'soon' is not a duration"),
        ('min_dwell = "4000d"', "families.engagement.min_dwell: must be between 0s and 3650d"),
    ],
)
def test_a_bad_dwell_is_refused_naming_its_key(tmp_path, text, problem):
    with pytest.raises(RuleError, match=re.escape(problem)):
        pack(tmp_path, ENGAGEMENT.replace('min_dwell = "14d"', text))


def test_a_stay_condition_is_checked_like_a_when(tmp_path):
    with pytest.raises(RuleError, match=re.escape("families.vip.cases[0].stay: in 'revenue_31d >= 800': unknown metric")):
        pack(tmp_path, VIP.replace("revenue_30d >= 800", "revenue_31d >= 800"))


def test_the_default_packs_engagement_leaves_active_when_the_months_activity_is_gone():
    # thresholds alone: interested at day 0, silent at 30, interested at 40, active at 42,
    # interested at 47 (day 40 leaves the 7-day window), silent at 72 (test_value_and_rfm_spec.py)
    result = run([email_open("c1", day(0, 9), id="e1"), visit("c1", day(40, 9), id="v1"), visit("c1", day(42, 9), id="v2")],
                 as_of=day(100))
    assert result.of("engagement") == [
        ("engagement", None, "interested", day(0, 9), "e1"),  # the open keeps it interested for 90 days
        ("engagement", "interested", "active", day(42, 9), "v2"),
        ("engagement", "active", "interested", day(70), None),  # stays active while 2 visits are in 30 days
        ("engagement", "interested", "silent", day(90), None),
    ]
