"""Faust's own ceiling: what a Faust agent reaches on the worker's input topics doing no work.

The app is the worker's own Faust app (`agents.app.faust_app`: the same consumer, producer and
group settings). Its agent reads raw bytes (no codec), in batches of the worker's size and wait,
and does nothing with them (`FAUST_CEILING=bare`) or writes one table entry per key per batch
(`FAUST_CEILING=table`: the shape of a per-customer state write). `FAUST_INTAKE=stock` is Faust as
it is (`take_events` on the agent's stream: a `Message`, an `Event` and a turn of the stream
iterator per record); `batch` is the worker's intake (agents/faust_compat/batch_intake.py: a
fetch at a time, acked a batch at a time). The two side by side show what the intake changes.
Measured like the worker, by its group's committed offsets (bench/e2e.py).

Run as a worker: `python -m bench.faust_ceiling worker -l warn` with the TAGSTREAM_* variables
of `bench.common.Deployment.group_env`.
"""

from __future__ import annotations

import os

import faust

from agents.app import RAW, faust_app
from agents.faust_compat.batch_intake import BatchIntake
from config.settings import load_settings

MODE = os.environ.get("FAUST_CEILING", "bare")
INTAKE = os.environ.get("FAUST_INTAKE", "batch")
SETTINGS = load_settings()  # the worker's broker, topics, app id, batch size and wait

app = faust_app(SETTINGS)  # Faust configured exactly as the worker configures it
source = app.topic(*SETTINGS.input_topics, partitions=SETTINGS.partitions, **RAW)
table = app.Table("latest", default=None, partitions=SETTINGS.partitions, key_type=bytes, value_type=bytes, use_partitioner=True)
intake = BatchIntake(app.consumer, SETTINGS.input_topics) if INTAKE == "batch" else None


def write(latest: dict) -> None:
    if MODE == "table":
        for key, value in latest.items():
            table[key] = value


@app.agent(source)
async def consume(stream: faust.StreamT) -> None:
    if intake is None:
        async for batch in stream.take_events(SETTINGS.batch_size, within=SETTINGS.batch_wait):
            write({event.key: event.value for event in batch})
        return
    async for fetches in intake.batches(SETTINGS.batch_size, SETTINGS.batch_wait):
        records = [record for fetched in fetches for record in fetched.records]
        write({record.key: record.value for record in records})
        intake.ack(records)


if __name__ == "__main__":
    app.main()
