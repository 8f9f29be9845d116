"""The HTML report: every family and value is on the page with the right counts, the RFM heat-map
is a full 5x5 grid, text is escaped, nothing is fetched from outside, and the bytes are stable."""

from __future__ import annotations

import gzip
import re
from collections import Counter

import orjson
import pytest

from agents.cli import main
from agents.report import TITLE, _normalise, render_report

GENERATED = "2025-06-01 12:00 UTC"


def record(customer_id: str, revenue: float, rfm: tuple | None, **tags) -> dict:
    r, f, m = rfm if rfm else (None, None, None)
    return {
        "customer_id": customer_id,
        "as_of": "2025-06-01T00:00:00.000Z",
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


def page(records=RECORDS) -> str:
    return render_report(records, generated_at=GENERATED, source="snapshot.jsonl")


def family_card(html: str, family: str) -> str:
    match = re.search(rf'<div class="card family" data-family="{family}">(.*?)</svg></div>', html, re.S)
    assert match, f"no card for {family}"
    return match.group(1)


def test_title_generated_at_source_and_customer_count():
    html = page()
    assert f"<title>{TITLE}</title>" in html
    assert f"<h1>{TITLE}</h1>" in html
    assert GENERATED in html and "snapshot.jsonl" in html
    assert 'data-customers="6"' in html


def test_every_family_and_value_is_shown_with_its_count_and_share():
    html = page()
    expected: dict[str, Counter] = {}
    for rec in RECORDS:
        for family, value in rec["tags"].items():
            text = {True: "true", False: "false"}.get(value, value)
            expected.setdefault(family, Counter())[text] += 1
    for family, values in expected.items():
        card = family_card(html, family)
        bars = re.findall(r'<g class="bar" data-value="([^"]*)" data-count="(\d+)">', card)
        assert {value: int(count) for value, count in bars} == dict(values)
        assert [int(count) for _, count in bars] == sorted(values.values(), reverse=True), "sorted by count"
        for value, count in values.items():
            assert f">{value}</text>" in card
            assert f'<tspan class="count">{count:,}</tspan><tspan class="pct" dx="6">{100 * count / 6:.1f}%</tspan>' in card


def test_families_come_in_a_stable_order_preferred_first():
    html = page()
    order = re.findall(r'data-family="([^"]+)"', html)
    assert order == ["lifecycle", "value_tier", "rfm_segment", "vip"]


def test_heatmap_has_25_cells_with_counts_and_unscored_note():
    html = page()
    cells = re.findall(r'<g class="rfm-cell" data-r="(\d)" data-f="(\d)" data-customers="(\d+)">', html)
    assert len(cells) == 25
    assert {(int(r), int(f)) for r, f, _ in cells} == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    counts = {(int(r), int(f)): int(n) for r, f, n in cells}
    assert counts[(5, 5)] == 1 and counts[(5, 4)] == 1 and counts[(1, 1)] == 1 and counts[(2, 1)] == 1
    assert sum(counts.values()) == 4
    rows = [int(r) for r, _, _ in cells]
    assert rows[0] == 5 and rows[-1] == 1, "R=5 at the top"
    assert 'data-unscored="2"' in html and "2 customers without RFM scores" in html


def test_heatmap_colour_follows_revenue_and_has_a_legend():
    html = page()
    cell_fill = {
        (int(r), int(f)): fill
        for r, f, fill in re.findall(r'data-r="(\d)" data-f="(\d)" data-customers="\d+"><title>[^<]*</title>'
                                     r'<rect [^>]*fill="(#[0-9a-f]{6})"', html)
    }
    assert len(cell_fill) == 25
    lum = lambda c: sum(w * int(c[i:i + 2], 16) for w, i in ((0.2126, 1), (0.7152, 3), (0.0722, 5)))  # noqa: E731
    assert lum(cell_fill[(5, 5)]) < lum(cell_fill[(5, 4)]) < lum(cell_fill[(1, 1)]), "more revenue, darker"
    assert cell_fill[(3, 3)] == cell_fill[(1, 5)], "empty cells share one neutral colour"
    assert "linearGradient" in html and "Revenue per cell" in html


def test_segment_table_ranks_by_revenue():
    html = page()
    table = re.search(r'<table class="segments">(.*?)</table>', html, re.S).group(1)
    segments = re.findall(r"<tr><td>([^<]+)</td><td class=num>([\d,]+)</td>", table)
    assert segments[0] == ("champions", "2")
    assert [name for name, _ in segments] == ["champions", "lost", "hibernating", "none"]
    assert "2,100.50" not in table and "2,100" in table  # 1200 + 900.5, whole units from 100 up


def test_hostile_text_is_escaped():
    evil_id = '<img src=x onerror="alert(1)">&'
    evil_value = "</svg><script>alert('x')</script>"
    evil_family = 'fam"<b>'
    rec = record(evil_id, 5000.0, (5, 5, 5), lifecycle=evil_value, rfm_segment=evil_value)
    rec["tags"][evil_family] = "ok"
    html = render_report([rec], generated_at="<now>", source="<src>&")
    assert "<script" not in html and "<img" not in html and "<b>" not in html and "<now>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in html
    assert "&lt;/svg&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;src&gt;&amp;" in html and "fam&quot;&lt;b&gt;" in html


def test_no_external_urls_or_scripts():
    html = page()
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html.replace("url(#revenue-scale)", "")


def test_output_is_deterministic_and_independent_of_record_order():
    assert page() == page()
    assert page(list(reversed(RECORDS))) == page()


def test_empty_snapshot_renders():
    html = page([])
    assert "<title>" in html and 'data-customers="0"' in html
    assert len(re.findall(r'class="rfm-cell"', html)) == 25


def test_normalise_accepts_string_typed_fields_as_from_a_flat_store():
    customer = _normalise({"customer_id": "c9", "revenue_total": "12.5", "orders_total": "3",
                           "rfm": {"r": "4", "f": "2", "m": "1"}, "tags": {"vip": False, "lifecycle": "new"}})
    assert customer.revenue == 12.5 and customer.orders == 3 and customer.rfm == (4, 2, 1)
    assert customer.tags == {"vip": "false", "lifecycle": "new"}
    assert _normalise({"customer_id": "c0", "rfm": {"r": None, "f": None, "m": None}}).rfm is None


@pytest.mark.parametrize("compress", [False, True])
def test_report_command_writes_the_page(tmp_path, compress, capsys):
    data = b"".join(orjson.dumps(rec) + b"\n" for rec in RECORDS)
    snapshot = tmp_path / ("snap.jsonl.gz" if compress else "snap.jsonl")
    snapshot.write_bytes(gzip.compress(data) if compress else data)
    out = tmp_path / "report.html"
    assert main(["report", "--snapshot", str(snapshot), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert 'data-customers="6"' in html and html.count('class="rfm-cell"') == 25
    assert "6 customers" in capsys.readouterr().err


def test_report_command_missing_or_broken_snapshot_is_one_clear_line(tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", "--snapshot", str(tmp_path / "missing.jsonl"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no such snapshot file" in err and "Traceback" not in err
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(orjson.dumps(RECORDS[0]) + b"\n{not json\n")
    assert main(["report", "--snapshot", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: not JSON" in err and "Traceback" not in err
    assert not out.exists()


def test_report_given_an_event_log_instead_of_a_snapshot_says_so_and_writes_nothing(tmp_path, capsys):
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"event_id": "e1", "type": "order", "customer_id": "c1", "ts": "2024-01-01T00:00:00Z", "amount": 5}\n')
    out = tmp_path / "report.html"
    assert main(["report", "--snapshot", str(log), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{log}:1: not a snapshot record" in err and "this is an event log" in err
    assert not out.exists()
