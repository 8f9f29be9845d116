"""`tagstream replay`: produce a historical event log into the input topics.

Each line is validated with the worker's decoder, routed by `type` to its topic, keyed by
customer id and stamped with the event's own time. Delivery is confirmed in chunks before a line
counts as sent, so after a failure `--from-line` (printed in the error) resumes without loss; with
`--checkpoint FILE` the last confirmed line is also kept in a file, so even a killed replay
resumes by itself. What is re-sent is at most one chunk: per customer a few recent event ids,
which the worker recognises and drops.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer
from kafka.errors import KafkaError

from agents.progress import Progress
from config.settings import Settings, load_settings
from schemas.events import Rejection, decode_event
from stream.logfile import LogReader

HELP = "produce a JSONL event log into the input topics (backfills, demos, tests)"
CONFIRM_EVERY = 5000  # lines between delivery confirmations (and resume points)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("replay", help=HELP, description=HELP + ".")
    parser.add_argument("logs", nargs="+", metavar="LOG", help="canonical JSONL event log(s), optionally .gz")
    parser.add_argument("--broker", dest="kafka_broker", help="Kafka bootstrap server, host:port")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="events per second (default: as fast as possible)")
    pace.add_argument("--speedup", type=float, help="replay at X times the log's own pace")
    parser.add_argument("--from-line", type=int, default=1, help="first line to send (resume after a failure)")
    parser.add_argument("--limit", type=int, help="send at most this many events")
    parser.add_argument("--checkpoint", metavar="FILE", help="keep the last confirmed line here and resume from it")
    parser.add_argument("--dry-run", action="store_true", help="validate only, send nothing")
    parser.set_defaults(run=run)


class Pacer:
    """Sleeps so that events leave at a fixed rate or at a multiple of their own spacing."""

    def __init__(self, rate: float | None, speedup: float | None) -> None:
        self.rate, self.speedup = rate, speedup
        self.started = time.monotonic()
        self.first_ts: int | None = None

    def wait(self, sent: int, ts: int) -> None:
        if self.rate:
            target = sent / self.rate
        elif self.speedup:
            self.first_ts = ts if self.first_ts is None else self.first_ts
            target = (ts - self.first_ts) / 1000 / self.speedup
        else:
            return
        delay = target - (time.monotonic() - self.started)
        if delay > 0:
            time.sleep(delay)


def read_checkpoint(path: str | None) -> int | None:
    """The first line not yet confirmed, from a checkpoint file (None when there is none)."""
    if not path or not Path(path).is_file():
        return None
    text = Path(path).read_text().strip()
    if not text.isdigit():
        raise ValueError(f"checkpoint {path} holds {text[:40]!r}, not a line number")
    return int(text) + 1


def write_checkpoint(path: str | None, confirmed_line: int) -> None:
    if path:
        temporary = Path(f"{path}.tmp")
        temporary.write_text(f"{confirmed_line}\n")
        temporary.replace(path)  # atomic: a kill never leaves half a number


def run(args: argparse.Namespace) -> int:
    settings = load_settings({"kafka_broker": args.kafka_broker})
    resume = read_checkpoint(args.checkpoint)
    if resume is not None and args.from_line == 1:
        args.from_line = resume
        print(f"replay: resuming from line {resume} (checkpoint {args.checkpoint})", file=sys.stderr)
    reader = LogReader(args.logs, from_line=args.from_line)
    try:
        producer = None if args.dry_run else _producer(settings)
    except KafkaError as error:
        print(f"replay: cannot reach Kafka at {settings.kafka_broker} ({error}); nothing was sent. "
              "Is the broker running (`make up` starts a local one)?", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex.encode()
    topic_for = settings.topic_for_type
    pacer = Pacer(args.rate, args.speedup)
    progress = Progress("replay", total=reader.total_bytes)
    sent = bad = 0
    confirmed_line = args.from_line - 1
    last_line = confirmed_line
    inflight: list = []
    try:
        for line in reader:
            if args.limit is not None and sent >= args.limit:
                break
            event = decode_event(line.raw)
            last_line = line.number
            if isinstance(event, Rejection):
                bad += 1
                print(f"{line.path}:{line.number}: skipped: {event.reason}: {event.message}", file=sys.stderr)
                continue
            pacer.wait(sent, event.ts)
            if producer is not None:
                inflight.append(producer.send(topic_for[event.type], key=event.customer_id.encode(), value=line.raw,
                                              timestamp_ms=event.ts, headers=[("tagstream.replay", run_id)]))
            sent += 1
            if sent % CONFIRM_EVERY == 0:
                _confirm(producer, inflight)
                confirmed_line = line.number
                if not args.dry_run:
                    write_checkpoint(args.checkpoint, confirmed_line)
            progress.update(sent, reader.bytes_read, f"bad {bad}")
        _confirm(producer, inflight)
        confirmed_line = last_line
        if not args.dry_run:
            write_checkpoint(args.checkpoint, confirmed_line)
    except KafkaError as error:
        print(f"replay: Kafka failed ({error}); every line up to {confirmed_line} is confirmed. "
              f"Resume with --from-line {confirmed_line + 1}", file=sys.stderr)
        return 1
    finally:
        if producer is not None:
            producer.close(timeout=5)
    progress.finish(sent, extra=f"bad {bad}")
    verb = "validated" if args.dry_run else "sent"
    print(f"replay: {verb} {sent:,} events, {bad:,} bad lines skipped, last line {confirmed_line}", file=sys.stderr)
    return 0


def _confirm(producer: KafkaProducer | None, inflight: list) -> None:
    """Block until every record sent so far is acknowledged; raise the first delivery error."""
    if producer is None:
        return
    producer.flush()
    for future in inflight:
        if future.failed():
            raise future.exception
    inflight.clear()


def _producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.kafka_broker,
        acks="all",
        enable_idempotence=True,  # retries after a broker hiccup do not duplicate records
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type=None,
        max_block_ms=30000,
        bootstrap_timeout_ms=10000,  # an unreachable broker is reported after 10 s, not 30
        delivery_timeout_ms=60000,
    )
