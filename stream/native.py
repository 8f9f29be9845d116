"""The compiled core (`stream._native`, Rust, built by maturin when the package is installed).

Imported from here so that a missing or stale build fails in one line that says how to build it,
never with a silent slow fallback.
"""

from __future__ import annotations

try:
    from stream._native import (ChangeBatch, Engine, change_events, decode_batch, event_times, murmur2,
                                partition_of_key, stored_wake)
except ImportError as error:  # pragma: no cover - exercised by hand: the suite needs the build
    raise ImportError(
        f"tagstream's compiled core is missing or stale ({error}); build it with `pip install -e .` "
        "(or `make up`), which needs cargo (https://rustup.rs)"
    ) from None

__all__ = ["ChangeBatch", "Engine", "change_events", "decode_batch", "event_times", "murmur2", "partition_of_key", "stored_wake"]
