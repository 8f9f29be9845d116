"""Customer attributes and custom events, through `Backtest`.

Given these events and this pack -> exactly these (family, from, to, at, cause) changes. A pack
declares traits (`[traits.<name>]`, typed, a text trait with its list of values); `profile`
events set and unset them (null unsets); rules read `trait.<name>` and `age_years`, counted from
the `birth_date` trait at the instant of evaluation, so a birthday is a deadline. `custom`
events (a name and properties) feed property metrics only: neither kind is activity.
"""

from __future__ import annotations

import pytest

from stream.rules.ruleset import RuleError
from tests.unit.tagspec import custom, day, order, pack, profile, run

TRAITS = """
[traits.region]
type = "text"
values = ["home", "out_of_town"]
[traits.gender]
type = "text"
values = ["female", "male", "undisclosed"]
[traits.birth_date]
type = "date"
[traits.email_consent]
type = "bool"
[traits.employees]
type = "number"
"""

AUDIENCES = TRAITS + """
[families.local_women_18_35]
cases = [{ value = true, when = "trait.gender == 'female' and age_years >= 18 and age_years <= 35 and trait.region == 'home'" }]
default = false
[families.large_account]
cases = [{ value = true, when = "trait.employees >= 250" }]
default = false
[families.mailable_buyer]
cases = [{ value = true, when = "orders_total >= 1 and trait.email_consent" }]
default = false
"""


def born(years_before_day0: int, days_after: int = 0) -> str:
    """A birth date `years_before_day0` years before day 0 of the specs (2024-01-01), moved by days."""
    from datetime import date, timedelta

    return (date(2024 - years_before_day0, 1, 1) + timedelta(days=days_after)).isoformat()


def test_an_audience_of_attributes_enters_when_a_profile_says_so_and_leaves_on_a_birthday(tmp_path):
    # 35 on day 0 (born 1989-01-01); 36 on 2025-01-01 = day 366 (2024 is a leap year)
    result = run(
        [
            profile("c1", day(0), id="p1", gender="female", region="home", birth_date=born(35)),
            order("c1", day(10), id="o1"),
        ],
        as_of=day(400),
        rules=pack(tmp_path, AUDIENCES),
    )
    assert result.of("local_women_18_35") == [
        ("local_women_18_35", None, True, day(0), "p1"),
        ("local_women_18_35", True, False, day(366), None),  # the 36th birthday, 00:00 UTC
    ]


def test_null_unsets_a_trait_and_consent_withdrawn_takes_a_customer_out(tmp_path):
    result = run(
        [
            profile("c1", day(0), id="p1", email_consent=True),
            order("c1", day(1), id="o1"),
            profile("c1", day(5), id="p2", email_consent=False),
            profile("c1", day(6), id="p3", email_consent=True),
            profile("c1", day(7), id="p4", email_consent=None),  # unset: no consent known
        ],
        as_of=day(8),
        rules=pack(tmp_path, AUDIENCES),
    )
    assert result.of("mailable_buyer") == [
        ("mailable_buyer", None, False, day(0), "p1"),
        ("mailable_buyer", False, True, day(1), "o1"),
        ("mailable_buyer", True, False, day(5), "p2"),
        ("mailable_buyer", False, True, day(6), "p3"),
        ("mailable_buyer", True, False, day(7), "p4"),
    ]


def test_a_number_trait_is_compared_like_any_metric_and_undeclared_traits_are_ignored(tmp_path):
    result = run(
        [
            profile("c1", day(0), id="p1", employees=120, favourite_colour="green"),
            profile("c1", day(3), id="p2", employees=400.5),
        ],
        as_of=day(4),
        rules=pack(tmp_path, AUDIENCES),
    )
    assert result.of("large_account") == [
        ("large_account", None, False, day(0), "p1"),
        ("large_account", False, True, day(3), "p2"),
    ]
    record = result.snapshot(day(4))["c1"]
    assert record["traits"] == {"region": None, "gender": None, "birth_date": None, "email_consent": None,
                                "employees": 400.5, "age_years": None}


def test_the_record_shows_every_declared_trait_and_the_age_at_its_instant(tmp_path):
    result = run([profile("c1", day(0), id="p1", region="out_of_town", birth_date="2000-02-29")],
                 rules=pack(tmp_path, AUDIENCES))
    # 2025-02-28 is day 424: not yet 25; 2025-03-01 (day 425): 25 (a leap-day birthday in a common year)
    assert result.snapshot(day(424))["c1"]["traits"]["age_years"] == 24
    assert result.snapshot(day(425))["c1"]["traits"]["age_years"] == 25
    assert result.snapshot(day(425))["c1"]["traits"]["region"] == "out_of_town"


def test_profile_and_custom_events_are_not_activity(tmp_path):
    rules = pack(tmp_path, TRAITS + """
[families.active]
cases = [{ value = true, when = "events_total >= 1 and days_since_last_event < 30" }]
default = false
[metrics.tickets_90d]
event = "custom"
where = "name == 'support_ticket'"
days = 90
[families.support]
cases = [{ value = "repeated", when = "tickets_90d >= 2" }, { value = "one", when = "tickets_90d >= 1" }]
default = "none"
""")
    result = run(
        [
            profile("c1", day(0), id="p1", region="home"),
            custom("c1", day(1), "support_ticket", id="x1", topic="refund"),
            custom("c1", day(2), "newsletter_signup", id="x2"),  # another name: not counted
            custom("c1", day(3), "support_ticket", id="x3", topic="delivery"),
        ],
        as_of=day(100),
        rules=rules,
    )
    assert result.of("active") == [("active", None, False, day(0), "p1")]
    assert result.of("support") == [
        ("support", None, "none", day(0), "p1"),
        ("support", "none", "one", day(1), "x1"),
        ("support", "one", "repeated", day(3), "x3"),
        ("support", "repeated", "one", day(91), None),  # x1 leaves the 90-day window
        ("support", "one", "none", day(93), None),
    ]
    assert result.snapshot(day(100))["c1"]["events_total"] == 0


TICKETS = """
[events.support_ticket]
fields = { topic = "text", severity = "number?", urgent = "bool?" }
[metrics.tickets_90d]
event = "support_ticket"
where = "severity >= 3"
days = 90
[families.escalated]
cases = [{ value = true, when = "tickets_90d >= 1" }]
default = false
"""


def test_a_declared_custom_event_is_a_new_event_type_metrics_name_directly(tmp_path):
    result = run(
        [
            custom("c1", day(0), "support_ticket", id="x1", topic="refund", severity=1),
            custom("c1", day(1), "feedback", id="x2", severity=5),  # another name: not a support ticket
            custom("c1", day(2), "support_ticket", id="x3", topic="delivery", severity=4, urgent=True),
        ],
        as_of=day(100),
        rules=pack(tmp_path, TICKETS),
    )
    assert result.of("escalated") == [
        ("escalated", None, False, day(0), "x1"),
        ("escalated", False, True, day(2), "x3"),
        ("escalated", True, False, day(92), None),
    ]


@pytest.mark.parametrize(
    ("properties", "reason", "message"),
    [
        ({"severity": 2}, "missing_field", "custom event 'support_ticket' needs field 'topic'"),
        ({"topic": 7}, "bad_type", "field 'topic' of custom event 'support_ticket' must be a string, got int"),
        ({"topic": "refund", "urgent": "yes"}, "bad_type",
         "field 'urgent' of custom event 'support_ticket' must be true or false, got str"),
    ],
)
def test_a_declared_custom_event_without_its_fields_is_a_dead_letter(tmp_path, properties, reason, message):
    result = run([custom("c1", day(0), "support_ticket", id="x1", **properties),
                  custom("c1", day(1), "support_ticket", id="x2", topic="refund")],  # top-level fields count too
                 rules=pack(tmp_path, TICKETS))
    assert [(r.reason, r.message) for r in result.rejects] == [(reason, message)]
    assert result.totals.events == 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[events.order]\n", "events.order: a custom event's name is lower_snake_case"),
        ("[events.t]\nfields = { topic = 'colour' }\n", "events.t.fields.topic: must be one of text, number, bool"),
        ("[events.t]\nfields = { ts = 'number' }\n", "events.t.fields.ts: must be one of text, number, bool"),
        ("[metrics.m]\nevent = 'ticket'\n", "metrics.m.event: must be one of order, email_open, click, visit, custom, got 'ticket'"),
    ],
)
def test_a_bad_custom_event_declaration_is_refused_naming_its_key(tmp_path, text, error):
    with pytest.raises(RuleError, match=error.replace("[", r"\[").replace("]", r"\]")):
        pack(tmp_path, text + "[families.x]\ncases = [{ value = 1, when = 'orders_total > 0' }]\ndefault = 0\n")


@pytest.mark.parametrize(
    ("traits", "reason", "message"),
    [
        ({"region": "moon"}, "bad_value", "trait 'region' must be one of 'home', 'out_of_town', got 'moon'"),
        ({"region": 7}, "bad_type", "trait 'region' must be a string or null, got int"),
        ({"email_consent": "yes"}, "bad_type", "trait 'email_consent' must be true or false or null, got str"),
        ({"employees": "many"}, "bad_type", "trait 'employees' must be a number or null, got str"),
        ({"employees": 1e13}, "bad_value", "trait 'employees' must be within ±1e12"),
        ({"birth_date": "1990-02-30"}, "bad_value", "trait 'birth_date' must be a date YYYY-MM-DD, got '1990-02-30'"),
    ],
)
def test_a_profile_the_pack_refuses_is_a_dead_letter_naming_the_trait(tmp_path, traits, reason, message):
    result = run([profile("c1", day(0), id="p1", **traits), profile("c1", day(1), id="p2", region="home")],
                 rules=pack(tmp_path, AUDIENCES))
    assert [(r.reason, r.message[:len(message)]) for r in result.rejects] == [(reason, message)]
    assert result.totals.events == 1  # the valid one is applied


@pytest.mark.parametrize(
    ("doc", "reason", "message"),
    [
        ({"type": "profile"}, "missing_field", "a profile event needs a 'traits' object"),
        ({"type": "profile", "traits": ["region"]}, "bad_type", "'traits' must be an object, got list"),
        ({"type": "custom"}, "missing_field", "missing field 'name'"),
        ({"type": "custom", "name": "x" * 65}, "bad_value", "'name' must be 1..64 printable characters"),
    ],
)
def test_profile_and_custom_events_are_checked_when_decoded(tmp_path, doc, reason, message):
    result = run([{"event_id": "e1", "customer_id": "c1", "ts": day(0), **doc}], rules=pack(tmp_path, AUDIENCES))
    assert [(r.reason, r.message) for r in result.rejects] == [(reason, message)]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[traits.region]\ntype = 'text'\n", "traits.region.values: a text trait lists its values"),
        ("[traits.region]\ntype = 'colour'\n", "traits.region.type: must be one of text, bool, number, date, got 'colour'"),
        ("[traits.vip]\ntype = 'bool'\nvalues = ['yes']\n", "traits.vip.values: only a text trait lists its values"),
        ("[families.x]\ncases = [{ value = 1, when = \"trait.region == 'home'\" }]\ndefault = 0\n",
         "no trait 'region' declared in [traits]"),
        ("[traits.region]\ntype = 'text'\nvalues = ['home']\n"
         "[families.x]\ncases = [{ value = 1, when = 'trait.region > 3' }]\ndefault = 0\n",
         "trait.region is text or true/false: compare it with == or != or use it as true/false"),
        ("[families.x]\ncases = [{ value = 1, when = 'age_years > 3' }]\ndefault = 0\n", "unknown metric 'age_years'"),
        ("[traits.birth_date]\ntype = 'date'\n[families.x]\ncases = [{ value = 1, when = 'trait.birth_date' }]\ndefault = 0\n",
         "a date trait is read through age_years"),
    ],
)
def test_a_bad_trait_declaration_or_read_is_refused_naming_its_key(tmp_path, text, error):
    with pytest.raises(RuleError, match=error.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        pack(tmp_path, text)
