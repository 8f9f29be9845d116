"""`tagstream report` on a real backtest snapshot renders in a real browser: headless Debian
Chromium takes a screenshot (a real picture, not a blank page) and loads the page with no script
errors. Chromium is required, never skipped: `make test` installs it (scripts/ensure-chromium.sh)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from agents.report import BAR_COLOUR, BLUES, TITLE

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


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("report")
    log, changes, snapshot, html = (work / name for name in ("events.jsonl", "changes.jsonl", "snap.jsonl",
                                                              "report.html"))
    steps = [
        ("generate", "--customers", "400", "--days", "365", "--seed", "5", "--out", str(log)),
        ("backtest", str(log), "--changes-out", str(changes), "--snapshot-out", str(snapshot)),
        ("report", "--snapshot", str(snapshot), "--out", str(html)),
    ]
    for step in steps:
        done = cli(*step)
        assert done.returncode == 0, f"tagstream {step[0]} failed: {done.stderr}"
    return html


def test_screenshot_is_a_real_picture(report_html, tmp_path):
    png = tmp_path / "report.png"
    run = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         f"--window-size={WIDTH},{HEIGHT}", report_html.as_uri()],
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


def test_page_loads_without_script_errors(report_html, tmp_path):
    run = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--dump-dom", report_html.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"<title>{TITLE}</title>" in run.stdout
    assert run.stdout.count('class="rfm-cell"') == 25
    assert 'data-family="lifecycle"' in run.stdout and 'data-family="rfm_segment"' in run.stdout
    assert "Uncaught" not in run.stderr, run.stderr[-2000:]


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
