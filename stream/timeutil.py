"""Event-time arithmetic shared by windows, deadlines and output stamps.

All instants are integer epoch milliseconds UTC: integers compare and hash exactly, so a replay
computes byte-identical deadlines and change timestamps.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Final

SECOND_MS: Final = 1000
DAY_MS: Final = 86_400_000


def day_of(ts: int) -> int:
    """Day number since the epoch (UTC); windows have day resolution and roll at UTC midnight."""
    return ts // DAY_MS


def format_ts(ts: int) -> str:
    """RFC 3339 with milliseconds and a `Z`, the one textual form tagstream writes. Every tag
    change and profile carries several, so the date part is computed once per day."""
    day, in_day = divmod(ts, DAY_MS)
    seconds, millis = divmod(in_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_date_of_day(day)}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


@lru_cache(maxsize=4096)
def _date_of_day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=timezone.utc).strftime("%Y-%m-%d")


def parse_instant(text: str) -> int:
    """Parse an RFC 3339 instant given by a person (CLI option, config); raises ValueError."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone (add Z or +00:00)")
    return round(moment.timestamp() * 1000)


def parse_duration(text: str) -> int:
    """`90s`, `10m`, `2h`, `30d` -> milliseconds; a bare number is seconds."""
    units = {"ms": 1, "s": SECOND_MS, "m": 60 * SECOND_MS, "h": 3600 * SECOND_MS, "d": DAY_MS}
    text = text.strip()
    for suffix in ("ms", "s", "m", "h", "d"):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return round(float(text[: -len(suffix)]) * units[suffix])
    if text.replace(".", "", 1).isdigit():
        return round(float(text) * SECOND_MS)
    raise ValueError(f"{text!r} is not a duration like 90s, 10m, 2h or 30d")
