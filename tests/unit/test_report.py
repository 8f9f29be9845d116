"""The HTML report, read as a DOM: what it says about the snapshot (as-of, pack, revenue with its
currency, every family and value with its count, the RFM heat-map), how audiences moved (sizes
over time and from -> to matrices from change files), how it compares with an earlier snapshot,
and that it escapes text, fetches nothing, keeps ids out when asked and is byte-stable."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import date

import orjson
import pytest

from agents.cli import main
from agents.report import TITLE, Pack, ReportInputs, render_report
from agents.report.charts import MATRIX_VALUES
from agents.report.snapshot import NESTED, OTHER
from agents.report.history import NEW, Change, History
from agents.report.snapshot import normalise
from stream.timeutil import format_ts, parse_instant
from tests.unit.report_dom import Element, parse

GENERATED = "2025-06-01 12:00 UTC"
PACK = Pack("retail", "0123456789ab", "EUR", ("lifecycle", "value_tier", "rfm_segment", "vip"))


def record(customer_id: str, revenue: float, rfm: tuple | None, as_of: str = "2025-06-01T00:00:00.000Z", **tags) -> dict:
    r, f, m = rfm if rfm else (None, None, None)
    return {
        "customer_id": customer_id,
        "as_of": as_of,
        "orders_total": 0 if rfm is None else f,
        "revenue_total": revenue,
        "events_total": 5,
        "first_order_at": None,
        "last_order_at": None,
        "days_since_last_order": None,
        "windows": {"orders_30d": 0, "revenue_365d": revenue},
        "rfm": {"r": r, "f": f, "m": m},
        "tags": dict(sorted(tags.items())),
        "pending_events": 0,
        "late_events": 0,
    }


RECORDS = [
    record("c1", 1200.0, (5, 5, 5), lifecycle="active", value_tier="high", rfm_segment="champions", vip=True),
    record("c2", 900.5, (5, 4, 4), lifecycle="active", value_tier="medium", rfm_segment="champions", vip=False),
    record("c3", 80.0, (1, 1, 1), lifecycle="churned", value_tier="low", rfm_segment="lost", vip=False),
    record("c4", 60.0, (2, 1, 1), lifecycle="dormant", value_tier="low", rfm_segment="hibernating", vip=False),
    record("c5", 0.0, None, lifecycle="prospect", value_tier="low", rfm_segment="none", vip=False),
    record("c6", 0.0, None, lifecycle="prospect", value_tier="low", rfm_segment="none", vip=False),
]


def change(family: str, old: str | None, new: str, at: str) -> Change:
    return Change(family, old, new, parse_instant(at))


# c1..c6's lifecycle history, ending where RECORDS stand: the change file of the same run.
LIFECYCLE = [
    change("lifecycle", None, "prospect", "2025-01-03T10:00:00Z"),  # c1
    change("lifecycle", None, "prospect", "2025-01-05T10:00:00Z"),  # c2
    change("lifecycle", None, "prospect", "2025-01-20T10:00:00Z"),  # c3
    change("lifecycle", None, "prospect", "2025-02-01T10:00:00Z"),  # c4
    change("lifecycle", "prospect", "active", "2025-02-10T10:00:00Z"),  # c1
    change("lifecycle", "prospect", "active", "2025-02-11T10:00:00Z"),  # c2
    change("lifecycle", "prospect", "active", "2025-02-12T10:00:00Z"),  # c3
    change("lifecycle", "prospect", "active", "2025-02-13T10:00:00Z"),  # c4
    change("lifecycle", None, "prospect", "2025-03-01T10:00:00Z"),  # c5
    change("lifecycle", None, "prospect", "2025-03-02T10:00:00Z"),  # c6
    change("lifecycle", "active", "dormant", "2025-05-05T10:00:00Z"),  # c3
    change("lifecycle", "active", "dormant", "2025-05-06T10:00:00Z"),  # c4
    change("lifecycle", "dormant", "churned", "2025-05-20T10:00:00Z"),  # c3
]


def page(records=RECORDS, **inputs) -> Element:
    return parse(html(records, **inputs))


def html(records=RECORDS, **inputs) -> str:
    inputs.setdefault("pack", PACK)
    return render_report(ReportInputs(records=records, source="snapshot.jsonl", generated_at=GENERATED, **inputs)).html


def family_counts(records) -> dict[str, Counter]:
    expected: dict[str, Counter] = {}
    for rec in records:
        for family, value in rec["tags"].items():
            expected.setdefault(family, Counter())[{True: "true", False: "false"}.get(value, value)] += 1
    return expected


# --- the snapshot -----------------------------------------------------------------------------


def test_the_header_states_the_as_of_instant_the_pack_and_the_source():
    later = record("c7", 5.0, None, as_of="2025-06-02T08:00:00.000Z", lifecycle="prospect")
    dom = page([*RECORDS, later])
    assert dom.one("head").one("title").text == TITLE and dom.one("h1").text == TITLE
    as_of = dom.by_id("as-of")
    assert as_of.data("as-of") == "2025-06-02T08:00:00.000Z", "the newest record's as-of"
    pack = dom.by_id("pack")
    assert (pack.data("name"), pack.data("digest")) == ("retail", "0123456789ab")
    assert "SHA-256 0123456789ab" in as_of.text
    assert "snapshot.jsonl" in dom.text and GENERATED in dom.text


def test_headline_figures_count_customers_and_revenue_in_the_pack_currency():
    dom = page()
    kpis = dom.one("section", "kpis")
    assert kpis.data("customers") == "6" and kpis.data("revenue") == "2240.50"
    labels = [e.text for e in kpis.all("div", "kpi-label")]
    values = [e.text for e in kpis.all("div", "kpi-value")]
    assert dict(zip(labels, values)) == {"Customers": "6", "With orders": "4", "Total revenue (EUR)": "2,240",
                                         "Tag families": "4"}
    assert "(EUR)" not in page(pack=Pack("p", "d", None, PACK.families)).one("section", "kpis").text


def test_every_family_and_value_is_shown_with_its_count_and_share():
    dom = page()
    for family, values in family_counts(RECORDS).items():
        card = dom.one("div", "family", family=family)
        bars = {bar.data("value"): int(bar.data("count")) for bar in card.all("g", "bar")}
        assert bars == dict(values)
        counts = [int(bar.data("count")) for bar in card.all("g", "bar")]
        assert counts == sorted(counts, reverse=True), "most common first"
        for bar in card.all("g", "bar"):
            count = int(bar.data("count"))
            assert bar.one("tspan", "count").text == f"{count:,}"
            assert bar.one("tspan", "pct").text == f"{100 * count / 6:.1f}%"
            assert bar.one("text", "bar-label").text == bar.data("value")


def test_families_come_in_a_stable_order_preferred_first():
    assert [card.data("family") for card in page().all("div", "family")] == ["lifecycle", "value_tier", "rfm_segment", "vip"]


def test_heatmap_has_25_cells_with_counts_and_unscored_note():
    dom = page()
    cells = dom.all("g", "rfm-cell")
    assert len(cells) == 25
    counts = {(int(c.data("r")), int(c.data("f"))): int(c.data("customers")) for c in cells}
    assert set(counts) == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert counts[(5, 5)] == 1 and counts[(5, 4)] == 1 and counts[(1, 1)] == 1 and counts[(2, 1)] == 1
    assert sum(counts.values()) == 4
    assert cells[0].data("r") == "5" and cells[-1].data("r") == "1", "R5 at the top"
    unscored = dom.by_id("unscored")
    assert unscored.data("unscored") == "2" and "2 customers without RFM scores" in unscored.text


def test_heatmap_colour_follows_revenue_and_has_a_legend():
    dom = page()
    fill = {(int(c.data("r")), int(c.data("f"))): c.one("rect").attrs["fill"] for c in dom.all("g", "rfm-cell")}
    lum = lambda c: sum(w * int(c[i:i + 2], 16) for w, i in ((0.2126, 1), (0.7152, 3), (0.0722, 5)))  # noqa: E731
    assert lum(fill[(5, 5)]) < lum(fill[(5, 4)]) < lum(fill[(1, 1)]), "more revenue, darker"
    assert fill[(3, 3)] == fill[(1, 5)], "empty cells share one neutral colour"
    assert dom.all("lineargradient") and "Revenue per cell" in dom.text


def test_segment_table_ranks_by_revenue():
    rows = page().one("table", "segments").all("tr")[1:]
    assert [row.data("segment") for row in rows] == ["champions", "lost", "hibernating", "none"]
    cells = [td.text for td in rows[0].all("td")]
    assert cells[:4] == ["champions", "2", "33.3%", "2,100"]  # 1200 + 900.5, whole units from 100 up


def test_top_customers_show_ids_unless_told_not_to():
    with_ids = page()
    assert [row.all("td")[0].text for row in with_ids.one("table", "customers").all("tr")[1:3]] == ["c1", "c2"]
    text = html(show_ids=False)
    for rec in RECORDS:
        assert f">{rec['customer_id']}<" not in text and f'"{rec["customer_id"]}"' not in text
    ranks = [row.all("td")[0].text for row in parse(text).one("table", "customers").all("tr")[1:]]
    assert ranks == [f"#{i}" for i in range(1, 7)]


def test_normalise_accepts_string_typed_fields_as_from_a_flat_store():
    customer = normalise({"customer_id": "c9", "revenue_total": "12.5", "orders_total": "3",
                          "rfm": {"r": "4", "f": "2", "m": "1"}, "tags": {"vip": False, "lifecycle": "new"}})
    assert customer.revenue == 12.5 and customer.orders == 3 and customer.rfm == (4, 2, 1)
    assert customer.tags == {"vip": "false", "lifecycle": "new"}
    assert normalise({"customer_id": "c0", "rfm": {"r": None, "f": None, "m": None}}).rfm is None


# --- audiences over time and migration --------------------------------------------------------


def sizes_by_day(series) -> dict[date, dict[str, int]]:
    return {day: {value: sizes[i] for value, sizes in zip(series.values, series.sizes) if sizes[i]}
            for i, day in enumerate(series.days)}


def test_audience_sizes_at_the_end_of_each_week_follow_the_changes():
    history = History.of(LIFECYCLE)
    weeks = history.series("lifecycle", "week", date(2025, 1, 3), date(2025, 5, 20), values=9)
    points = sizes_by_day(weeks)
    assert min(points) == date(2025, 1, 5) and max(points) == date(2025, 5, 20), "each week's Sunday; the last ends at the period's end"
    assert len(points) == 21, "a point for every week, also those without changes"
    assert points[date(2025, 1, 26)] == {"prospect": 3} and points[date(2025, 2, 2)] == {"prospect": 4}
    assert points[date(2025, 2, 16)] == {"active": 4}
    assert points[date(2025, 5, 20)] == {"active": 2, "churned": 1, "dormant": 1, "prospect": 2}
    assert weeks.values == ["active", "prospect", "churned", "dormant"] and not weeks.partial
    months = history.series("lifecycle", "month", date(2025, 1, 3), date(2025, 5, 20), values=9)
    assert months.days == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 20)]
    two = history.series("lifecycle", "month", date(2025, 3, 1), date(2025, 5, 20), values=2)
    assert two.values == ["active", "prospect", OTHER], "past the limit the smaller audiences are one series"
    assert two.sizes[2] == [0, 0, 2] and two.sizes[1][0] == 2, "earlier changes count in the first point's sizes"


def test_each_family_has_an_audience_chart_whose_last_sizes_are_the_snapshots():
    dom = page(history=History.of(LIFECYCLE), history_source="changes.jsonl")
    chart = dom.one("div", "audience", family="lifecycle")
    last = {band.data("value"): int(band.data("last")) for band in chart.all("polygon", "band")}
    assert last == dict(family_counts(RECORDS)["lifecycle"])
    assert [band.data("value") for band in chart.all("polygon", "band")] == ["active", "prospect", "churned", "dormant"]
    assert "partial" not in chart.text and not dom.all("section", "notes"), "complete history: nothing to warn about"
    assert "by week" not in dom.text and "every week" in dom.text, "~5 months: weekly points by default"


def test_the_migration_matrix_counts_the_moves_of_the_period():
    dom = page(history=History.of(LIFECYCLE), since=date(2025, 5, 1), until=date(2025, 6, 1))
    section = dom.by_id("migration")
    assert (section.data("since"), section.data("until")) == ("2025-05-01", "2025-06-01")
    assert "Migration 2025-05-01 – 2025-05-31" in section.text
    matrix = section.one("table", "migration", family="lifecycle")
    counts = {(td.data("from"), td.data("to")): int(td.data("count")) for td in matrix.all("td")}
    assert {k: v for k, v in counts.items() if v} == {("active", "dormant"): 2, ("dormant", "churned"): 1}
    moves = [(tr.data("from"), tr.data("to"), int(tr.data("count"))) for tr in section.one("table", "moves").all("tr")[1:]]
    assert moves == [("active", "dormant", 2), ("dormant", "churned", 1)]


def test_the_default_period_is_the_last_30_days_of_changes_and_first_values_are_their_own_row():
    history = History.of(LIFECYCLE)
    section = page(history=history).by_id("migration")
    assert (section.data("since"), section.data("until")) == ("2025-04-21", "2025-05-21")
    everything = page(history=history, since=date(2025, 1, 1), until=date(2025, 6, 1))
    matrix = everything.one("table", "migration", family="lifecycle")
    counts = {(td.data("from"), td.data("to")): int(td.data("count")) for td in matrix.all("td") if td.data("count") != "0"}
    assert counts[(NEW, "prospect")] == 6 and counts[("prospect", "active")] == 4
    assert matrix.all("tr")[1].one("th").text == NEW, "first values first"


def test_changes_that_do_not_end_at_the_snapshot_are_flagged():
    partial = History.of(LIFECYCLE[:-1])  # the last change missing
    dom = page(history=partial)
    notes = dom.by_id("notes")
    assert "not this snapshot's complete history" in notes.text and "lifecycle" in notes.text
    late_start = History.of(LIFECYCLE[4:])  # begins after the first values: sizes below zero
    chart = page(history=late_start).one("div", "audience", family="lifecycle")
    assert "relative to the first change read" in chart.text


def test_a_snapshot_from_another_pack_is_flagged():
    report = render_report(ReportInputs(records=RECORDS, source="s", generated_at=GENERATED,
                                        pack=Pack("auto", "d", "EUR", ("lifecycle", "budget_band"))))
    assert len(report.notes) == 1 and "rule pack auto does not declare (rfm_segment, value_tier, vip)" in report.notes[0]
    assert report.notes[0] in parse(report.html).text.replace("\n", " ")


# --- comparison ---------------------------------------------------------------------------------


def test_comparison_with_an_earlier_snapshot_gives_counts_before_now_and_the_change():
    earlier = [record("c1", 300.0, (4, 2, 2), lifecycle="active", value_tier="medium", rfm_segment="loyal", vip=False),
               record("c2", 0.0, None, lifecycle="prospect", value_tier="low", rfm_segment="none", vip=False)]
    dom = page(earlier=earlier, earlier_source="may.jsonl")
    section = dom.by_id("comparison")
    table = section.one("table", "compare", family="lifecycle")
    rows = {tr.data("value"): (int(tr.data("before")), int(tr.data("after")), int(tr.data("delta"))) for tr in table.all("tr")[1:]}
    assert rows == {"active": (1, 2, 1), "prospect": (1, 2, 1), "churned": (0, 1, 1), "dormant": (0, 1, 1)}
    segments = section.one("table", "compare", family="rfm_segment")
    assert {tr.data("value"): int(tr.data("delta")) for tr in segments.all("tr")[1:]}["loyal"] == -1
    deltas = [e.text for e in dom.one("section", "kpis").all("div", "kpi-delta")]
    assert deltas == ["+4 since the earlier snapshot", "+3 since the earlier snapshot", "+1,940 since the earlier snapshot"]


# --- safety and stability -----------------------------------------------------------------------


def test_hostile_text_is_escaped():
    evil_id = '<img src=x onerror="alert(1)">&'
    evil_value = "</svg><script>alert('x')</script>"
    evil_family = 'fam"<b>'
    rec = record(evil_id, 5000.0, (5, 5, 5), lifecycle=evil_value, rfm_segment=evil_value)
    rec["tags"][evil_family] = "ok"
    history = History.of([Change(evil_family, None, evil_value, 0), Change("lifecycle", evil_value, "<i>", 1)])
    text = render_report(ReportInputs(records=[rec], source="<src>&", generated_at="<now>", history=history,
                                      history_source="<ch>", earlier=[rec], earlier_source="<e>",
                                      pack=Pack("p", "<d>", "EUR", ()))).html
    assert "<script" not in text and "<img" not in text and "<b>" not in text and "<i>" not in text
    assert "<now>" not in text and "<d>" not in text
    dom = parse(text)
    assert dom.one("div", "family", family=evil_family)
    assert dom.one("div", "audience", family=evil_family).one("polygon", "band").data("value") == evil_value
    assert evil_id in dom.one("table", "customers").text


def test_no_external_urls_or_scripts():
    text = html(history=History.of(LIFECYCLE), earlier=RECORDS)
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower() and "<link" not in text.lower()
    assert "@import" not in text and "url(" not in text.replace("url(#revenue-scale)", "")


def test_output_is_deterministic_and_independent_of_record_order():
    history = History.of(LIFECYCLE)
    assert html(history=history) == html(history=history)
    assert html(list(reversed(RECORDS)), history=History.of(list(reversed(LIFECYCLE)))) == html(history=history)


def test_empty_snapshot_renders():
    dom = page([], history=History.of([]))
    assert dom.one("section", "kpis").data("customers") == "0"
    assert len(dom.all("g", "rfm-cell")) == 25
    assert "The change files hold no tag changes" in dom.text


# --- the command ------------------------------------------------------------------------------


def changes_file(path, changes) -> None:
    lines = [orjson.dumps({"specversion": "1.0", "type": "dev.tagstream.tag.changed.v1", "id": str(i),
                           "data": {"family": c.family, "from": c.old, "to": c.new, "customer_id": "x",
                                    "at": format_ts(c.at)}}) for i, c in enumerate(changes)]
    path.write_bytes(b"\n".join(lines) + b"\n")


@pytest.mark.parametrize("compress", [False, True])
def test_report_command_writes_the_page(tmp_path, compress, capsys):
    data = b"".join(orjson.dumps(rec) + b"\n" for rec in RECORDS)
    snapshot = tmp_path / ("snap.jsonl.gz" if compress else "snap.jsonl")
    snapshot.write_bytes(gzip.compress(data) if compress else data)
    changes = tmp_path / "changes.jsonl"
    changes_file(changes, LIFECYCLE)
    out = tmp_path / "report.html"
    assert main(["report", "--snapshot", str(snapshot), "--changes", str(changes), "--compare", str(snapshot),
                 "--by", "month", "--currency", "USD", "--out", str(out)]) == 0
    dom = parse(out.read_text(encoding="utf-8"))
    assert dom.one("section", "kpis").data("customers") == "6" and len(dom.all("g", "rfm-cell")) == 25
    assert "Total revenue (USD)" in dom.text and "every month" in dom.text
    assert dom.by_id("pack").data("name") == "default"
    err = capsys.readouterr().err
    assert "6 customers" in err and "note:" not in err, "the default pack's families, the complete lifecycle history"


def test_report_command_missing_or_broken_inputs_are_one_clear_line(tmp_path, capsys):
    out = tmp_path / "report.html"
    snapshot = tmp_path / "snap.jsonl"
    snapshot.write_bytes(orjson.dumps(RECORDS[0]) + b"\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(orjson.dumps(RECORDS[0]) + b"\n{not json\n")
    changes = tmp_path / "changes.jsonl"
    changes_file(changes, LIFECYCLE)
    cases = [
        (["--snapshot", str(tmp_path / "missing.jsonl")], "no such snapshot file"),
        (["--snapshot", str(bad)], f"{bad}:2: not JSON"),
        (["--snapshot", str(snapshot), "--changes", str(tmp_path / "none.jsonl")], "no such change file"),
        (["--snapshot", str(snapshot), "--changes", str(snapshot)], f"{snapshot}:1: not a tag-change event"),
        (["--snapshot", str(changes)], "this is a tag-change file: give it with --changes"),
        (["--snapshot", str(snapshot), "--compare", str(bad)], f"{bad}:2: not JSON"),
        (["--snapshot", str(snapshot), "--rules", str(tmp_path / "none.toml")], "rule file not found"),
        (["--snapshot", str(snapshot), "--since", "2025-05-01", "--until", "2025-04-01"], "must come before --until"),
    ]
    for args, message in cases:
        assert main(["report", *args, "--out", str(out)]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (args, err)
        assert not out.exists()


def test_report_given_an_event_log_instead_of_a_snapshot_says_so_and_writes_nothing(tmp_path, capsys):
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"event_id": "e1", "type": "order", "customer_id": "c1", "ts": "2024-01-01T00:00:00Z", "amount": 5}\n')
    out = tmp_path / "report.html"
    assert main(["report", "--snapshot", str(log), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{log}:1: not a snapshot record" in err and "this is an event log" in err
    assert not out.exists()


def test_a_free_text_familys_matrix_keeps_the_most_moved_values_and_merges_the_rest():
    first_values = [change("model_interest", None, f"model-{i:02d}", f"2025-03-{1 + i % 28:02d}T10:00:00Z") for i in range(40)]
    switches = [change("model_interest", "model-00", "model-01", "2025-03-15T12:00:00Z")] * 5
    dom = page(history=History.of(first_values + switches), since=date(2025, 3, 1), until=date(2025, 4, 1))
    matrix = dom.one("table", "migration", family="model_interest")
    columns = [th.text for th in matrix.one("thead").all("th")[1:]]
    assert len(columns) == MATRIX_VALUES + 1 and columns[-1] == OTHER
    assert {"model-00", "model-01"} <= set(columns), "the most moved values keep their own column"
    counts = {(td.data("from"), td.data("to")): int(td.data("count")) for td in matrix.all("td")}
    assert counts[("model-00", "model-01")] == 5
    assert sum(counts.values()) == 45, "nothing lost by merging"


# --- inputs from the real world ---------------------------------------------------------------


def test_a_stray_year_in_the_changes_costs_a_note_not_the_page(tmp_path):
    stray = [change("lifecycle", None, "prospect", "0150-01-01T00:00:00Z"), *LIFECYCLE[1:]]
    report = render_report(ReportInputs(records=RECORDS, source="s", generated_at=GENERATED, pack=PACK, history=History.of(stray)))
    assert len(report.html) < 200_000
    chart = parse(report.html).one("div", "audience", family="lifecycle")
    assert all(len(band.attrs["points"].split()) <= 2 * 400 for band in chart.all("polygon", "band"))
    assert any("1 earlier change (from 0150-01-01) count in their sizes but are not drawn" in note for note in report.notes)
    last = {band.data("value"): int(band.data("last")) for band in chart.all("polygon", "band")}
    assert last == dict(family_counts(RECORDS)["lifecycle"]), "the sizes still count the stray change"


def test_a_stray_year_among_many_changes_leaves_the_chosen_span_to_the_rest():
    spring = [change("lifecycle", None, "prospect", format_ts(parse_instant("2025-01-01T10:00:00Z") + i * 40_000_000))
              for i in range(300)]
    report = render_report(ReportInputs(records=RECORDS, source="s", generated_at=GENERATED, pack=PACK,
                                        history=History.of([change("lifecycle", None, "active", "0150-01-01T00:00:00Z"), *spring])))
    chart = parse(report.html).one("div", "audience", family="lifecycle")
    assert (chart.data("bucket"), chart.data("first")) == ("week", "2025-01-05"), "weeks over the spring, not months since 150"
    assert any("1 earlier change (from 0150-01-01) count in their sizes but are not drawn; --by week draws up to 400 weeks back"
               in note for note in report.notes)


def test_a_family_whose_changes_all_come_after_the_as_of_has_an_empty_chart():
    later = [*LIFECYCLE, change("segment_x", None, "a", "2025-09-01T00:00:00Z")]
    dom = page(history=History.of(later))
    assert dom.one("div", "audience", family="segment_x").all("polygon", "band") == []


def test_changes_spread_evenly_over_years_are_all_drawn_without_a_note():
    years = [change("lifecycle", None, "prospect", format_ts(parse_instant("2023-06-01T10:00:00Z") + i * 86_400_000))
             for i in range(730)]
    report = render_report(ReportInputs(records=RECORDS, source="s", generated_at=GENERATED, pack=PACK, history=History.of(years)))
    chart = parse(report.html).one("div", "audience", family="lifecycle")
    assert (chart.data("bucket"), chart.data("first")) == ("week", "2023-06-04") and not any("start at" in n for n in report.notes)


def test_changes_after_the_snapshots_as_of_are_not_drawn():
    later = [*LIFECYCLE, change("lifecycle", "active", "dormant", "2025-09-01T00:00:00Z")]
    report = render_report(ReportInputs(records=RECORDS, source="s", generated_at=GENERATED, pack=PACK, history=History.of(later)))
    assert any("1 change after the snapshot's as-of (2025-06-01) not drawn" in note for note in report.notes)
    chart = parse(report.html).one("div", "audience", family="lifecycle")
    assert chart.one("polygon", "band", value="active").data("last") == "2"


def test_a_single_day_of_changes_is_drawn_as_a_band():
    chart = page(history=History.of(LIFECYCLE[:2])).one("div", "audience", family="lifecycle")
    xs = {float(point.split(",")[0]) for point in chart.one("polygon", "band", value="prospect").attrs["points"].split()}
    assert max(xs) - min(xs) > 100


def test_erasure_notices_are_counted_and_said():
    events = [("f", 1, {"type": "dev.tagstream.customer.erased.v1", "data": {"customer_id": "c9"}}),
              ("f", 2, {"type": 7}), ("f", 3, {"type": None, "data": {}})]
    from agents.report.history import ChangeFileError, read_history
    with pytest.raises(ChangeFileError, match="f:2: not a tag-change event"):
        read_history(events[:2])
    history = read_history(events[:1])
    assert history.erasures == 1 and history.changes == 0
    history.add(LIFECYCLE[0])
    assert any("erase 1 customer:" in note for note in render_report(ReportInputs(
        records=RECORDS, source="s", generated_at=GENERATED, history=history)).notes)


def test_a_free_text_family_keeps_the_page_small():
    records = [record(f"c{i}", 1.0, None, model=f"model {i} " + "x" * 200) for i in range(3000)]
    earlier = [record(f"c{i}", 1.0, None, model=f"old {i}") for i in range(3000)]
    text = html(records, earlier=earlier)
    assert len(text) < 300_000
    dom = parse(text)
    bars = dom.one("div", "family", family="model").all("g", "bar")
    assert len(bars) == 24 and bars[-1].data("value") == OTHER and int(bars[-1].data("count")) == 3000 - 23
    assert "3,000 values" in dom.one("div", "family", family="model").text
    rows = dom.one("table", "compare", family="model").all("tr")[1:]
    assert len(rows) == 24 and rows[-1].data("value") == OTHER


def test_odd_records_are_drawn_not_crashed_on():
    odd = [record("neg", -500.0, (3, 3, 3), lifecycle="active"), record("huge", 1e308, (5, 5, 5), lifecycle="active"),
           record("huge2", 1e308, (5, 5, 5), lifecycle="active"), {"customer_id": "odd", "tags": {"x": {"a": [1]}, "n": 3}, "rfm": 5}]
    deep: object = "bottom"
    for _ in range(300):
        deep = [deep]
    odd += [record("tiny", 5e-324, (1, 1, 1), as_of="n/a", deep=deep), record("late", 1.0, None, as_of="2025-06-01T23:00:00-05:00")]
    dom = page(odd)
    assert dom.one("div", "family", family="x").one("g", "bar").data("value") == '{"a":[1]}', "an object value as its JSON"
    assert dom.one("div", "family", family="deep").one("g", "bar").data("value") == NESTED
    assert len(dom.all("g", "rfm-cell")) == 25
    assert dom.by_id("as-of").data("as-of") == "2025-06-01T23:00:00-05:00", "the latest instant, not the largest text"


def write_lines(path, records) -> None:
    path.write_bytes(b"".join(orjson.dumps(rec) + b"\n" for rec in records))


def test_report_command_odd_inputs_are_one_clear_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "report.html"
    snapshot = tmp_path / "snap.jsonl"
    write_lines(snapshot, RECORDS)
    listed = tmp_path / "listed.jsonl"
    write_lines(listed, [{"customer_id": "c1", "tags": ["vip"]}])
    changes = tmp_path / "changes.jsonl"
    changes_file(changes, LIFECYCLE)
    ancient = tmp_path / "ancient.jsonl"
    write_lines(ancient, [{"type": "dev.tagstream.tag.changed.v1", "data": {"family": "f", "from": None, "to": "a", "at": "0001-01-01T00:00:00+14:00"}}])
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(gzip.compress(b"".join(orjson.dumps(rec) + b"\n" for rec in RECORDS))[:20] + bytes(range(256)))
    array = tmp_path / "array.json"
    array.write_bytes(orjson.dumps([RECORDS[0]] * 50_000))  # 20 MB on one line
    cases = [
        (["--snapshot", str(listed)], f"{listed}:1: not a snapshot record"),
        (["--snapshot", str(snapshot), "--changes", str(ancient)], f"{ancient}:1: data.at 0001-01-01T00:00:00+14:00 is outside the years"),
        (["--snapshot", str(corrupt)], f"{corrupt}: broken gzip file"),
        (["--snapshot", str(snapshot), "--changes", str(changes), "--until", "2025-01-01"], "the migration period is empty"),
        (["--snapshot", str(snapshot), "--by", "week"], "--by shapes the audiences and migration drawn from change files"),
        (["--snapshot", str(snapshot), "--currency", "eur"], "--currency must be an ISO 4217 code"),
        (["--redis", "http://nowhere"], "bad Redis URL http://nowhere"),
        (["--snapshot", str(snapshot), "--changes", str(changes), "--until", "0001-01-10"], "--until 0001-01-10 is outside the years"),
        (["--snapshot", str(array)], f"{array}:1: a line over 16 MiB: expected one JSON object per line"),
        (["--snapshot", str(snapshot), "--snapshot-out", str(tmp_path / "copy.jsonl")], "--snapshot-out saves the live profiles of --redis"),
    ]
    for args, message in cases:
        assert main(["report", *args, "--out", str(out)]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (args, err)
        assert not out.exists()


def test_report_command_is_reproducible_under_source_date_epoch(tmp_path, monkeypatch):
    snapshot, first, second = tmp_path / "snap.jsonl", tmp_path / "a.html", tmp_path / "b.html"
    write_lines(snapshot, RECORDS)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1748779200")
    for out in (first, second):
        assert main(["report", "--snapshot", str(snapshot), "--out", str(out)]) == 0
    assert first.read_bytes() == second.read_bytes() and "generated 2025-06-01 12:00 UTC" in first.read_text()


def test_comparing_with_a_later_snapshot_is_flagged():
    later = [record("c1", 1.0, None, as_of="2025-09-01T00:00:00.000Z", lifecycle="active")]
    report = render_report(ReportInputs(records=RECORDS, source="s", generated_at=GENERATED, earlier=later, earlier_source="sept.jsonl"))
    assert any("later than this one" in note for note in report.notes)


def test_a_file_name_that_is_not_utf8_is_shown_not_fatal(tmp_path, capsys):
    snapshot = tmp_path / "snap\udcff.jsonl"  # the byte 0xff of a file name, as Python decodes it
    write_lines(snapshot, RECORDS)
    out = tmp_path / "report.html"
    assert main(["report", "--snapshot", str(snapshot), "--out", str(out)]) == 0, capsys.readouterr().err
    assert "snap?.jsonl" in out.read_text(encoding="utf-8")


def test_a_saved_snapshot_is_complete_or_absent(tmp_path):
    from agents.commands.report import saving
    path = tmp_path / "saved.jsonl"
    assert list(saving(iter(RECORDS), path)) == RECORDS
    assert [orjson.loads(line) for line in path.read_bytes().splitlines()] == RECORDS
    before = path.read_bytes()

    def redis_goes_away():
        yield from RECORDS[:2]
        raise ConnectionError("Redis went away")

    with pytest.raises(ConnectionError):
        list(saving(redis_goes_away(), path))
    assert list(tmp_path.iterdir()) == [path] and path.read_bytes() == before, "last month's file stands, no partial beside it"
    packed = tmp_path / "saved.jsonl.gz"
    list(saving(iter(RECORDS), packed))
    assert gzip.decompress(packed.read_bytes()) == before
