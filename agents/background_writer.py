"""A file written from a thread of its own, so that writing one batch of changes overlaps with
computing the next (the native engine releases the GIL while it works, and so does a file write).

Bounded: at most `depth` batches wait, so a slow disk slows the producer instead of filling memory.
An error in the writer thread (disk full) is raised in the producer at its next `write` or at `close`.
"""

from __future__ import annotations

import queue
import threading
from typing import BinaryIO

_DONE = None


class BackgroundWriter:
    def __init__(self, out: BinaryIO, depth: int = 8) -> None:
        self._out = out
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tagstream-writer", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        self._raise_if_failed()
        if data:
            self._queue.put(data)

    def close(self) -> None:
        """Wait until everything queued is written; raise what the writer thread met, if anything."""
        self._queue.put(_DONE)
        self._thread.join()
        self._raise_if_failed()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while (data := self._queue.get()) is not _DONE:
            if self._error is None:
                try:
                    self._out.write(data)
                except BaseException as error:  # noqa: BLE001 - handed to the producer thread
                    self._error = error

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
