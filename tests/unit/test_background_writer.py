"""Given batches written through a BackgroundWriter, the file holds them in order; a failing
disk surfaces in the producer, not as a silently short file."""

from __future__ import annotations

import io

import pytest

from agents.background_writer import BackgroundWriter


def test_batches_arrive_in_order_and_complete_at_close():
    out = io.BytesIO()
    with BackgroundWriter(out, depth=2) as writer:
        for n in range(500):
            writer.write(b"%d\n" % n)
    assert out.getvalue() == b"".join(b"%d\n" % n for n in range(500))


class FullDisk(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(28, "No space left on device")


def test_a_write_error_is_raised_in_the_producer():
    writer = BackgroundWriter(FullDisk())
    writer.write(b"x")
    with pytest.raises(OSError, match="No space left"):
        for _ in range(100):
            writer.write(b"more")
        writer.close()
