"""`tagstream report` on a real backtest's snapshot, changes and an earlier snapshot renders in a
real browser: headless Debian Chromium takes a screenshot (a real picture, not a blank page) and the
DOM it parsed holds every family's charts with the snapshot's numbers, the change file's moves and
both snapshots' counts. Chromium is required, never skipped: `make test` installs it
(scripts/ensure-chromium.sh)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from agents.report import TITLE
from agents.report.charts import BAR_COLOUR, BLUES, CATEGORIES
from agents.report.history import NEW
from agents.report.snapshot import tag_text
from stream.rules.ruleset import load_rules
from tests.unit.report_dom import Element, parse

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 2000
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: `make test` installs it (scripts/ensure-chromium.sh), "
                    "or run `apt-get install -y chromium`")
    return path


@dataclass(frozen=True)
class Rendered:
    html: Path
    snapshot: Path
    earlier: Path
    changes: Path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Rendered:
    """A year of generated events; a backtest of its first half (the earlier snapshot) and of all of
    it (snapshot and changes); the report of all three."""
    work = tmp_path_factory.mktemp("report")
    log, half, changes, half_changes, snapshot, earlier, html = (
        work / name for name in ("events.jsonl", "half.jsonl", "changes.jsonl", "half-changes.jsonl", "snap.jsonl",
                                 "earlier.jsonl", "report.html"))
    done = cli("generate", "--customers", "400", "--days", "365", "--seed", "5", "--out", str(log))
    assert done.returncode == 0, done.stderr
    lines = log.read_bytes().splitlines(keepends=True)
    half.write_bytes(b"".join(line for line in lines if orjson.loads(line)["ts"] < "2025-07-01"))
    steps = [
        ("backtest", str(half), "--changes-out", str(half_changes), "--snapshot-out", str(earlier)),
        ("backtest", str(log), "--changes-out", str(changes), "--snapshot-out", str(snapshot)),
        ("report", "--snapshot", str(snapshot), "--changes", str(changes), "--compare", str(earlier), "--out", str(html)),
    ]
    for step in steps:
        done = cli(*step)
        assert done.returncode == 0, f"tagstream {step[0]} failed: {done.stderr}"
    assert "note:" not in done.stderr, done.stderr
    return Rendered(html, snapshot, earlier, changes)


def test_screenshot_is_a_real_picture(rendered, tmp_path):
    png = tmp_path / "report.png"
    run = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         f"--window-size={WIDTH},{HEIGHT}", rendered.html.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert png.exists(), f"no screenshot (exit {run.returncode}): {run.stderr[-2000:]}"
    assert png.stat().st_size > 10_000, f"screenshot only {png.stat().st_size} bytes"
    width, height, colours = png_colours(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(colours) >= 64, f"screenshot has only {len(colours)} distinct pixel values: a blank page?"
    for name, colour in (("bar", BAR_COLOUR), ("darkest heat-map cell", BLUES[-1])):
        rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert any(max(abs(a - b) for a, b in zip(rgb, seen)) <= 3 for seen in colours), f"no {name} colour drawn"


@pytest.fixture(scope="module")
def dom(rendered, tmp_path_factory) -> Element:
    """The page as Chromium parsed it (`--dump-dom`), with no script errors on the way."""
    profile = tmp_path_factory.mktemp("chromium")
    run = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom",
         rendered.html.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Uncaught" not in run.stderr, run.stderr[-2000:]
    return parse(run.stdout)


def counts(snapshot: Path) -> tuple[list[dict], dict[str, Counter]]:
    records = [orjson.loads(line) for line in snapshot.read_bytes().splitlines()]
    families: dict[str, Counter] = {}
    for record in records:
        for family, value in record["tags"].items():
            families.setdefault(family, Counter())[tag_text(value)] += 1
    return records, families


def test_the_header_and_figures_are_the_snapshots(dom, rendered):
    records, _ = counts(rendered.snapshot)
    assert dom.one("head").one("title").text == TITLE
    assert dom.by_id("as-of").data("as-of") == max(record["as_of"] for record in records)
    rules = load_rules(None)
    assert (dom.by_id("pack").data("name"), dom.by_id("pack").data("digest")) == (rules.name, rules.digest)
    kpis = dom.one("section", "kpis")
    assert int(kpis.data("customers")) == len(records)
    assert float(kpis.data("revenue")) == pytest.approx(sum(record["revenue_total"] for record in records), abs=0.01)
    assert f"Total revenue ({rules.currency})" in kpis.text
    assert len(dom.all("g", "rfm-cell")) == 25


def test_every_family_has_its_distribution_and_audience_chart_ending_at_the_snapshot(dom, rendered):
    _, families = counts(rendered.snapshot)
    assert len(families) >= 15
    for family, values in families.items():
        bars = dom.one("div", "family", family=family).all("g", "bar")
        assert {bar.data("value"): int(bar.data("count")) for bar in bars} == dict(values), family
        bands = dom.one("div", "audience", family=family).all("polygon", "band")
        last = {band.data("value"): int(band.data("last")) for band in bands if band.data("last") != "0"}
        if len(values) <= len(CATEGORIES):
            assert last == dict(values), family
        else:
            assert sum(last.values()) == sum(values.values()), family


def test_migration_matrices_count_the_change_files_moves_in_the_period(dom, rendered):
    section = dom.by_id("migration")
    since, until = section.data("since"), section.data("until")
    assert until == "2026-01-01" and since == "2025-12-02", "the last 30 days of a 2025 log"
    moves: dict[str, Counter] = {}
    for line in rendered.changes.read_bytes().splitlines():
        data = orjson.loads(line)["data"]
        if since <= data["at"][:10] < until:
            old = NEW if data["from"] is None else tag_text(data["from"])
            moves.setdefault(data["family"], Counter())[(old, tag_text(data["to"]))] += 1
    assert moves, "the period has changes"
    for family, expected in moves.items():
        cells = section.one("table", "migration", family=family).all("td")
        shown = {(td.data("from"), td.data("to")): int(td.data("count")) for td in cells if td.data("count") != "0"}
        assert shown == dict(expected), family


def test_the_comparison_gives_both_snapshots_counts(dom, rendered):
    _, before = counts(rendered.earlier)
    _, after = counts(rendered.snapshot)
    section = dom.by_id("comparison")
    for family in after:
        rows = section.one("table", "compare", family=family).all("tr")[1:]
        shown = {tr.data("value"): (int(tr.data("before")), int(tr.data("after"))) for tr in rows}
        values = set(before.get(family, {})) | set(after[family])
        assert shown == {v: (before.get(family, Counter())[v], after[family][v]) for v in values}, family


# --- a tiny PNG reader: 8-bit RGB/RGBA, non-interlaced (what Chromium writes) -------------------


def png_colours(data: bytes) -> tuple[int, int, set[bytes]]:
    """(width, height, the distinct RGB values of its pixels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert header is not None, "PNG without IHDR"
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, f"unexpected PNG format {header}"
    bpp = 3 if colour_type == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == height * (stride + 1), "truncated image data"
    colours: set[bytes] = set()
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), prev, bpp)
        colours.update(bytes(row[x:x + 3]) for x in range(0, stride, bpp))
        prev = row
    return width, height, colours


def _unfilter(kind: int, row: bytearray, prev: bytearray, bpp: int) -> bytearray:
    if kind == 0:
        return row
    if kind == 2:
        return bytearray((a + b) & 255 for a, b in zip(row, prev))
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = prev[i]
        if kind == 1:
            row[i] = (row[i] + left) & 255
        elif kind == 3:
            row[i] = (row[i] + ((left + up) >> 1)) & 255
        elif kind == 4:
            corner = prev[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            row[i] = (row[i] + predictor) & 255
        else:
            raise AssertionError(f"bad PNG filter type {kind}")
    return row
