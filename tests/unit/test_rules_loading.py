"""Loading rule packs: the default pack, and invalid packs that must fail with file, key path and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.rules.families import CaseFamily, GridFamily, TopFamily
from stream.rules.ruleset import DEFAULT_RULES, RuleError, load_rules
from tests.unit.tagspec import day, order, run, write_rules

# A minimal valid family, appended where a test is about other sections.
ONE_FAMILY = """
[families.buyer]
cases = [{ value = "yes", when = "orders_total > 0" }]
default = "no"
"""

RFM = """
[rfm]
recency_days = [14, 30, 90, 180]
frequency = [2, 4, 8, 16]
monetary = [100, 300, 800, 2000]
"""

GRID = '[' + ", ".join(['["a", "b", "c", "d", "e"]'] * 5) + ']'


# --- the default pack ----------------------------------------------------------------------------


def test_default_pack_declares_the_expected_families_in_order():
    rules = load_rules()
    assert rules.source == str(DEFAULT_RULES)
    assert [(f.name, type(f).__name__) for f in rules.families] == [
        ("lifecycle", "CaseFamily"),
        ("value_tier", "CaseFamily"),
        ("vip", "CaseFamily"),
        ("frequency_band", "CaseFamily"),
        ("engagement", "CaseFamily"),
        ("churn_risk", "CaseFamily"),
        ("trend", "CaseFamily"),
        ("rfm_segment", "GridFamily"),
        ("win_back", "CaseFamily"),
        ("power_buyer", "CaseFamily"),
        ("email_win_back", "CaseFamily"),
        ("age_band", "CaseFamily"),
        ("local_women_18_35", "CaseFamily"),
        ("account_type", "CaseFamily"),
        ("coupon_user", "CaseFamily"),
        ("order_hour", "TopFamily"),
        ("preferred_channel", "TopFamily"),
        ("top_category", "TopFamily"),
        ("delivery_preference", "ValueFamily"),
        ("traffic_source", "ValueFamily"),
        ("service_issue", "CaseFamily"),
    ]


def test_default_pack_settings():
    rules = load_rules()
    assert rules.allowed_lateness_ms == 5 * 60_000
    assert rules.dedup_ids == 64
    assert rules.reactivation_gap_days == 90
    assert rules.order_windows == (30, 90, 365)
    assert rules.activity_windows == (7, 30, 90)
    assert rules.order_retention_days == 365
    assert rules.activity_retention_days == 90
    lifecycle = rules.families[0]
    assert isinstance(lifecycle, CaseFamily)
    assert [c.value for c in lifecycle.cases] == ["prospect", "churned", "dormant", "reactivated", "new"]
    assert lifecycle.default == "active"
    assert lifecycle.reads == (
        "days_since_first_order", "days_since_last_order", "days_since_reactivation", "orders_total",
    )


def test_default_pack_deadlines_come_from_rule_thresholds_and_rfm_boundaries():
    plan = load_rules().plan
    assert plan.recency_steps == {
        "days_since_last_order": (14, 30, 90, 180),
        "days_since_first_order": (30,),
        "days_since_reactivation": (30,),
        "days_since_last_event": (60,),
    }
    assert {w.name for w in plan.deadline_windows} == {
        "orders_30d", "orders_90d", "orders_prev_90d", "orders_365d", "revenue_365d", "coupon_orders_365d",
        "clicks_30d", "visits_7d", "visits_30d", "opens_30d", "opens_90d",
    }


@pytest.mark.parametrize(
    "hour, band",
    [(22, "night_owl"), (23, "night_owl"), (0, "night_owl"), (4, "night_owl"), (5, "morning"), (11, "morning"),
     (12, "daytime"), (17, "daytime"), (18, "evening"), (21, "evening")],
)
def test_default_hour_bands_wrap_past_midnight(hour, band):
    assert load_rules().hour_band(hour) == band


# --- invalid packs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, key, problem",
    [
        (
            """
[families.lifecycle]
cases = [
  { value = "dormant", when = "dayz_since_last_order >= 90" },
]
default = "active"
""",
            "families.lifecycle.cases[0].when",
            "unknown metric 'dayz_since_last_order'",
        ),
        (
            """
[families.lifecycle]
cases = [
  { value = "new", when = "orders_total == 1" },
  { value = "big", when = "orders_total.real > 10" },
]
default = "active"
""",
            "families.lifecycle.cases[1].when",
            "'orders_total.real' is not allowed",
        ),
        (
            """
[families.lifecycle]
cases = [{ value = "x", when = "exec('1') == 1" }]
default = "active"
""",
            "families.lifecycle.cases[0].when",
            "only ['abs', 'max', 'min'] may be called",
        ),
        (
            """
[families.lifecycle]
cases = [{ value = "x", when = "days_since_last_order - 90 > 0" }]
default = "active"
""",
            "families.lifecycle.cases[0].when",
            "'days_since_last_order' changes with time and may only be compared directly with a number",
        ),
        (
            """
[families.lifecycle]
cases = [{ value = "x", when = "orders_total >" }]
default = "active"
""",
            "families.lifecycle.cases[0].when",
            "cannot parse",
        ),
        (
            """
[families.lifecycle]
cases = [{ value = "x", when = 5 }]
default = "active"
""",
            "families.lifecycle.cases[0].when",
            "must be a string expression",
        ),
        (
            """
[families.lifecycle]
cases = [{ value = "x" }]
default = "active"
""",
            "families.lifecycle.cases[0]",
            "must have `value` and `when`, and may have `stay`",
        ),
        (
            """
[families.lifecycle]
cases = [{ value = "x", when = "orders_total > 0", note = "typo" }]
default = "active"
""",
            "families.lifecycle.cases[0]",
            "must have `value` and `when`, and may have `stay`",
        ),
        (
            """
[families.lifecycle]
cases = [{ value = ["x"], when = "orders_total > 0" }]
default = "active"
""",
            "families.lifecycle.cases[0].value",
            "must be a string, boolean or number",
        ),
        ("[families.lifecycle]\ncases = []\ndefault = 'a'\n", "families.lifecycle.cases", "must be a non-empty list"),
        (
            "[families.lifecycle]\ncases = [{ value = 'a', when = 'true' }]\n",
            "families.lifecycle.default",
            "must be a string, boolean or number",
        ),
        ("[families.lifecycle]\nkind = 'bogus'\ndefault = 'a'\n", "families.lifecycle.kind", "unknown kind 'bogus'"),
        ("families = 3\n", "families", "must be a table"),
        ("[families.x]\nkind = 'top'\ncounter = 'colour'\ndefault = 'u'\n", "families.x.counter", "must be one of"),
        ("[families.x]\nkind = 'top'\ncounter = 'channel'\ndefault = 'u'\nmin_count = 0\n", "families.x.min_count",
         "must be a positive whole number, got 0"),
        (f"[families.seg]\nkind = 'rfm_grid'\ndefault = 'none'\ngrid = {GRID}\n", "families.seg",
         "an rfm_grid family needs an [rfm] section"),
        (RFM + "[families.seg]\nkind = 'rfm_grid'\ndefault = 'none'\ngrid = [['a']]\n", "families.seg.grid",
         "must be 5 rows"),
        ("[time]\nallowed_lateness = 'soon'\n" + ONE_FAMILY, "time.allowed_lateness",
         "'soon' is not a duration like 90s, 10m, 2h or 30d"),
        ("time = 5\n" + ONE_FAMILY, "time", "must be a table"),
        ("[state]\ndedup_ids = 0\n" + ONE_FAMILY, "state.dedup_ids", "must be a positive whole number, got 0"),
        ("[state]\nreactivation_gap_days = 'long'\n" + ONE_FAMILY, "state.reactivation_gap_days",
         "must be a positive whole number, got 'long'"),
        ("[windows]\norders = []\n" + ONE_FAMILY, "windows.orders", "must be a non-empty list of window lengths in days"),
        ("[windows]\nactivity = [7, -1]\n" + ONE_FAMILY, "windows.activity", "must be a positive whole number, got -1"),
        ("[rfm]\nrecency_days = [14, 30, 90, 180]\nfrequency = [2, 4, 16, 8]\nmonetary = [100, 300, 800, 2000]\n"
         + ONE_FAMILY, "rfm.frequency", "must be 4 ascending numbers"),
        ("[rfm]\nrecency_days = [14, 30, 90]\nfrequency = [2, 4, 8, 16]\nmonetary = [100, 300, 800, 2000]\n"
         + ONE_FAMILY, "rfm.recency_days", "must be 4 ascending numbers"),
        (RFM + "frequency_metric = 'orders_45d'\n" + ONE_FAMILY, "rfm.frequency_metric",
         "'orders_45d' is not a declared window metric"),
        (RFM + "monetary_metric = 'revenue_total'\n" + ONE_FAMILY, "rfm.monetary_metric",
         "'revenue_total' is not a declared window metric"),
        ("[hour_bands]\nlate = [25, 3]\n" + ONE_FAMILY, "hour_bands.late", "must be [first_hour, last_hour]"),
        ("[colours]\nred = 1\n" + ONE_FAMILY, "colours", "unknown section"),
        ("[about]\ncurrency = 'euro'\n" + ONE_FAMILY, "about.currency", "must be an ISO 4217 code such as EUR, got 'euro'"),
        ("[about]\nname = 'my pack'\n" + ONE_FAMILY, "about.name", "must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ("[about]\nowner = 'crm'\n" + ONE_FAMILY, "about.owner", "unknown key (expected name, currency)"),
        ("[time]\nallowed_latenes = '10m'\n" + ONE_FAMILY, "time.allowed_latenes", "unknown key (expected allowed_lateness)"),
        ("[state]\ndedup = 10\n" + ONE_FAMILY, "state.dedup", "unknown key (expected dedup_ids, reactivation_gap_days)"),
        ("[windows]\norder = [30]\n" + ONE_FAMILY, "windows.order", "unknown key (expected orders, activity)"),
        (RFM + "monetary_metrics = 'revenue_365d'\n" + ONE_FAMILY, "rfm.monetary_metrics", "unknown key"),
        ("[families.lifecycle]\ncases = [{ value = 'a', when = 'true' }]\ndefualt = 'b'\n", "families.lifecycle.defualt",
         "unknown key (expected kind, pack, default, cases, min_dwell)"),
        ("[families.x]\nkind = 'top'\ncounter = 'channel'\ndefault = 'u'\nmin = 2\n", "families.x.min",
         "unknown key (expected kind, pack, default, counter, min_count, min_dwell)"),
        ("[time]\nallowed_lateness = '1m'\n", "families", "a rule pack needs at least one family"),
        (
            "[families.x]\ncases = [{ value = 'a', when = 'rfm_r >= 4' }]\ndefault = 'b'\n",
            "families.x.cases[0].when",
            "unknown metric 'rfm_r'",  # RFM metrics exist only with an [rfm] section
        ),
        (
            "[families.x]\ncases = [{ value = 'a', when = 'orders_total < 99999999999999999999' }]\ndefault = 'b'\n",
            "families.x.cases[0].when",
            "the number 99999999999999999999 is out of range",  # the core's numbers are 64-bit
        ),
        ("[families.x]\ncases = [{ value = 'a', when = 'true' }]\ndefault = nan\n", "families.x.default",
         "must be a finite number, got nan"),
        ("[families.x]\ncases = [{ value = -inf, when = 'true' }]\ndefault = 'b'\n", "families.x.cases[0].value",
         "must be a finite number, got -inf"),
        ("[hour_bands]\nnight = [true, false]\n" + ONE_FAMILY, "hour_bands.night", "must be [first_hour, last_hour]"),
        ("[packs]\nauto = true\n[families.x]\npack = 'car'\ncases = [{ value = 'a', when = 'true' }]\ndefault = 'b'\n",
         "families.x.pack", "pack 'car' is not declared in [packs] (declared: auto)"),
        ("[families.x]\npack = 'car'\ncases = [{ value = 'a', when = 'true' }]\ndefault = 'b'\n",
         "families.x.pack", "pack 'car' is not declared in [packs] (declared: none)"),
        ("[packs]\nauto = 'yes'\n" + ONE_FAMILY, "packs.auto", "must be true or false, got 'yes'"),
        ("[families.x]\ncases = [{ value = 'a', when = '" + "not " * 2000 + "true' }]\ndefault = 'b'\n",
         "families.x.cases[0].when", "nested too deeply (at most 64 levels)"),
        ("[families.x]\ncases = [{ value = 'a', when = '" + " + ".join(["orders_total"] * 5000) + " > 1' }]\ndefault = 'b'\n",
         "families.x.cases[0].when", "nested too deeply (at most 64 levels)"),
    ],
)
def test_invalid_pack_names_file_key_path_and_problem(tmp_path, text, key, problem):
    path = write_rules(tmp_path, text, "broken_pack.toml")
    with pytest.raises(RuleError) as error:
        load_rules(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert "broken_pack.toml" in message
    assert problem in message


def test_undeclared_window_is_rejected_but_a_declared_one_is_accepted(tmp_path):
    family = "[families.x]\ncases = [{ value = 'a', when = 'orders_45d >= 1' }]\ndefault = 'b'\n"
    with pytest.raises(RuleError, match=r"families\.x\.cases\[0\]\.when: .*unknown metric 'orders_45d'"):
        load_rules(write_rules(tmp_path, family, "a.toml"))
    rules = load_rules(write_rules(tmp_path, "[windows]\norders = [45]\n" + family, "b.toml"))
    assert rules.order_windows == (45,)
    assert [w.name for w in rules.plan.deadline_windows] == ["orders_45d"]


@pytest.mark.parametrize("name", ["opens_45d", "clicks_prev_365d", "visits_1d", "bogus_30d", "orders_30"])
def test_window_names_follow_the_declared_series_and_lengths(tmp_path, name):
    family = f"[families.x]\ncases = [{{ value = 'a', when = '{name} >= 1' }}]\ndefault = 'b'\n"
    with pytest.raises(RuleError, match=f"unknown metric '{name}'"):
        load_rules(write_rules(tmp_path, family))


def test_reading_a_previous_window_keeps_buckets_for_twice_its_length(tmp_path):
    family = "[families.x]\ncases = [{ value = 'a', when = 'orders_prev_90d >= 1' }]\ndefault = 'b'\n"
    rules = load_rules(write_rules(tmp_path, "[windows]\norders = [30, 90]\nactivity = [7]\n" + family))
    assert rules.order_retention_days == 180
    assert rules.activity_retention_days == 7


def test_a_pack_is_named_by_about_or_its_file_and_told_apart_by_its_digest(tmp_path):
    plain = tmp_path / "spring-promo.toml"
    plain.write_text(ONE_FAMILY)
    named = tmp_path / "x.toml"
    named.write_text("[about]\nname = 'retail-2027'\ncurrency = 'USD'\n" + ONE_FAMILY)
    first, second = load_rules(plain), load_rules(named)
    assert (first.name, first.currency) == ("spring-promo", None)
    assert (second.name, second.currency) == ("retail-2027", "USD")
    assert first.digest != second.digest and len(first.digest) == 12
    plain.write_text(ONE_FAMILY + "\n# an edit\n")
    assert load_rules(plain).digest != first.digest
    assert (load_rules(None).name, load_rules(None).currency) == ("default", "EUR")
    spaced = tmp_path / "my rules (v2).toml"
    spaced.write_text(ONE_FAMILY)
    assert load_rules(spaced).name == "my rules (v2)"  # only an explicit [about] name is checked


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    path = write_rules(tmp_path, "[time]\nallowed_lateness = '5m'\n\n[families.x\ncases = []\n", "syntax.toml")
    with pytest.raises(RuleError) as error:
        load_rules(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert "line 4" in message


def test_missing_file(tmp_path):
    with pytest.raises(RuleError, match="nope.toml: rule file not found"):
        load_rules(tmp_path / "nope.toml")


def test_rule_error_is_a_value_error():
    assert issubclass(RuleError, ValueError)


# --- packs ---------------------------------------------------------------------------------------

ECOMMERCE = {"coupon_user", "order_hour", "preferred_channel", "top_category", "delivery_preference", "traffic_source",
             "service_issue"}


def test_disabling_a_pack_drops_its_families(tmp_path):
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    assert "ecommerce = true" in text
    rules = load_rules(write_rules(tmp_path, text.replace("ecommerce = true", "ecommerce = false")))
    names = {f.name for f in rules.families}
    assert names.isdisjoint(ECOMMERCE)
    assert names == {f.name for f in load_rules().families} - ECOMMERCE


def test_a_family_of_a_disabled_pack_is_not_evaluated(tmp_path):
    text = DEFAULT_RULES.read_text(encoding="utf-8").replace("ecommerce = true", "ecommerce = false")
    rules = load_rules(write_rules(tmp_path, text))
    changed = {c.family for c in run([order("c1", day(0, 10), channel="web", id="o1")], rules=rules).changes}
    assert changed.isdisjoint(ECOMMERCE)
    assert "lifecycle" in changed


def test_enabled_pack_keeps_its_families_and_packless_families_always_load(tmp_path):
    text = """
[packs]
extra = true
[families.a]
pack = "extra"
kind = "top"
counter = "channel"
default = "unknown"
[families.b]
cases = [{ value = 1, when = "orders_total >= 1" }]
default = 0
"""
    rules = load_rules(write_rules(tmp_path, text))
    assert [(f.name, type(f)) for f in rules.families] == [("a", TopFamily), ("b", CaseFamily)]


def test_rfm_grid_family(tmp_path):
    rules = load_rules(write_rules(tmp_path, RFM + f"[families.seg]\nkind = 'rfm_grid'\ndefault = 'none'\ngrid = {GRID}\n"))
    (seg,) = rules.families
    assert isinstance(seg, GridFamily)
    assert rules.plan.recency_steps == {"days_since_last_order": (14, 30, 90, 180)}


def test_rfm_scale_metrics_are_computed_even_when_no_rule_reads_rfm(tmp_path):
    """Snapshots report RFM scores whenever an [rfm] section exists, so its inputs must be computed."""
    header = RFM + "frequency_metric = 'coupon_orders_365d'\nmonetary_metric = 'revenue_90d'\n"
    rules = load_rules(write_rules(tmp_path, header + ONE_FAMILY))
    result = run([order("c1", day(0, 10), 150, coupon="SAVE", id="o1")], rules=rules)
    assert result.of("buyer") == [("buyer", None, "yes", day(0, 10), "o1")]
    assert result.snapshot("end")["c1"]["rfm"] == {"r": 5, "f": 1, "m": 2}


def test_default_path_is_used_for_none_and_empty(tmp_path):
    assert load_rules(None).source == str(DEFAULT_RULES)
    assert load_rules("").source == str(DEFAULT_RULES)
    assert Path(load_rules(str(DEFAULT_RULES)).source) == DEFAULT_RULES
