"""Faust's own ceiling: what a Faust agent reaches on the worker's input topics doing no work.

The app is the worker's own Faust app (`agents.app.faust_app`: the same consumer, producer and
group settings). Its agent reads raw bytes (no codec), in batches of the worker's size and wait
(`take_events` with `TAGSTREAM_BATCH_SIZE` and `TAGSTREAM_BATCH_WAIT`), and does nothing with them
(`FAUST_CEILING=bare`) or writes one table entry per key per batch (`FAUST_CEILING=table`: the
shape of a per-customer state write). `FAUST_INTAKE=tagstream`
installs the worker's intake (agents/faust_compat/intake.py), `stock` leaves Faust as it is: the
two side by side show what the intake changes. Measured like the worker, by its group's committed
offsets (bench/e2e.py).

Run as a worker: `python -m bench.faust_ceiling worker -l warn` with the TAGSTREAM_* variables
of `bench.common.Deployment.group_env`.
"""

from __future__ import annotations

import os

import faust

from agents.app import RAW, faust_app
from agents.faust_compat.intake import install as install_intake
from config.settings import load_settings

MODE = os.environ.get("FAUST_CEILING", "bare")
INTAKE = os.environ.get("FAUST_INTAKE", "tagstream")
SETTINGS = load_settings()  # the worker's broker, topics, app id, batch size and wait

app = faust_app(SETTINGS)  # Faust configured exactly as the worker configures it
source = app.topic(*SETTINGS.input_topics, partitions=SETTINGS.partitions, **RAW)
table = app.Table("latest", default=None, partitions=SETTINGS.partitions, key_type=bytes, value_type=bytes, use_partitioner=True)


@app.agent(source)
async def consume(stream: faust.StreamT) -> None:
    if INTAKE == "tagstream":
        install_intake(app.consumer)
    async for batch in stream.take_events(SETTINGS.batch_size, within=SETTINGS.batch_wait):
        if MODE == "table":
            latest = {event.key: event.value for event in batch}
            for key, value in latest.items():
                table[key] = value


if __name__ == "__main__":
    app.main()
