"""Progress for long runs on stderr: a live line on a terminal, a plain line every few seconds
otherwise (CI logs, pipes), so nobody stares at a silent multi-minute backfill."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None, every_s: float | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr  # looked up now, not at import: tests and callers swap sys.stderr
        self.live = self.stream.isatty()
        self.every_s = every_s if every_s is not None else (0.2 if self.live else 5.0)
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, count: int, done: int | None = None, extra: str = "") -> None:
        """`count` items so far; `done` out of `total` units (bytes, lines) for the percentage."""
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        self._write(self._line(count, done, extra, now))

    def finish(self, count: int, extra: str = "") -> None:
        self._write(self._line(count, self.total, extra, time.monotonic()), final=True)

    def _line(self, count: int, done: int | None, extra: str, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = count / elapsed
        parts = [f"{self.label}: {count:,}", f"{rate:,.0f}/s", f"{elapsed:,.0f}s"]
        if self.total and done is not None:
            fraction = min(done / self.total, 1.0)
            parts.insert(1, f"{fraction:5.1%}")
            if 0 < fraction < 1:
                parts.append(f"ETA {elapsed * (1 - fraction) / fraction:,.0f}s")
        if extra:
            parts.append(extra)
        return "  ".join(parts)

    def _write(self, line: str, final: bool = False) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
