"""`tagstream replay`: produce a historical event log into the input topics.

Each line is validated with the worker's decoder, routed by `type` to its topic and keyed by
customer id. The event time travels in the payload only; the Kafka record timestamp is the send
time, because brokers judge record timestamps against their own clock: Kafka 4 refuses one more
than an hour ahead (`message.timestamp.after.max.ms`), and time-based retention deletes a segment
of history stamped years back as soon as it closes, before a worker may have read it. Lines are sent in event-time order (stable by
(ts, line number), see stream.timeorder), whatever the file order: the worker's watermark follows
the newest event it has read, so a log sent in customer order would make most events late.

Delivery is confirmed in chunks before an event counts as sent. Resume points are positions in
the time-ordered sequence, which is the same for the same logs: after a failure the error names
how many events are confirmed and `--skip N` resumes after them; with `--checkpoint FILE` that
count is also kept in a file, so even a killed replay resumes by itself. What is re-sent is at
most one chunk: per customer a few recent event ids, which the worker recognises and drops.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
import uuid
from pathlib import Path

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from agents.commands.arguments import positive_float
from agents.kafka_clients import client_options
from agents.log_order import ORDER_NOTE, LogOrder, add_order_options
from config.settings import Settings, load_settings
from schemas.events import Rejection, decode_event
from stream.logfile import LogLine, LogReader
from stream.timeorder import OutOfOrder

HELP = "produce a JSONL event log into the input topics (backfills, demos, tests)"
CONFIRM_EVERY = 5000  # events between delivery confirmations (and resume points)
CHECKPOINT = re.compile(r"(\d+) events confirmed of logs ([0-9a-f]{16})")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("replay", help=HELP, description=HELP + ".\n\n" + ORDER_NOTE + """
Resume points count events in that order: `--skip N` after a failure, or `--checkpoint FILE`.""")
    parser.add_argument("logs", nargs="+", metavar="LOG", help="canonical JSONL event log(s), optionally .gz")
    parser.add_argument("--broker", dest="kafka_broker", help="Kafka bootstrap server, host:port")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=positive_float, help="events per second (default: as fast as possible)")
    pace.add_argument("--speedup", type=positive_float, help="replay at X times the pace of the events' (sorted) timestamps")
    parser.add_argument("--skip", type=count, metavar="N",
                        help="do not send the first N events in time order: the ones a failed run confirmed (resume)")
    parser.add_argument("--limit", type=count, help="send at most this many events")
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="keep the count of confirmed events here and, without --skip, resume after them")
    parser.add_argument("--dry-run", action="store_true", help="validate only, send nothing")
    add_order_options(parser)
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


def logs_fingerprint(paths: list[str]) -> str:
    """Which logs a checkpoint counts in (names and sizes): resuming other logs, or logs that grew,
    by a count of theirs would skip events that were never sent."""
    identity = orjson.dumps([[str(Path(p).resolve()), Path(p).stat().st_size] for p in paths])
    return hashlib.blake2b(identity, digest_size=8).hexdigest()


def read_checkpoint(path: str | None, logs: str) -> int | None:
    """How many events in time order a previous run over the same `logs` (fingerprint) confirmed
    (None when there is no checkpoint)."""
    if not path or not Path(path).is_file():
        return None
    text = Path(path).read_text().strip()
    match = CHECKPOINT.fullmatch(text)
    if not match:
        raise ValueError(f"checkpoint {path} holds {text[:60]!r}, not a count like '5000 events confirmed of logs …'")
    if match[2] != logs:
        raise ValueError(f"checkpoint {path} counts events of other logs (or these changed since): remove it, "
                         "or resume with --skip N")
    return int(match[1])


def write_checkpoint(path: str | None, confirmed: int, logs: str) -> None:
    if path:
        temporary = Path(f"{path}.tmp")
        temporary.write_text(f"{confirmed} events confirmed of logs {logs}\n")
        temporary.replace(path)  # atomic: a kill never leaves half a number


def run(args: argparse.Namespace) -> int:
    try:
        order = LogOrder.from_args(args)
    except ValueError as error:
        print(f"tagstream replay: {error}", file=sys.stderr)
        return 2
    settings = load_settings({"kafka_broker": args.kafka_broker})
    reader = LogReader(args.logs)
    logs = logs_fingerprint(args.logs)
    skip = _resume_point(args, logs)
    if order.presorted and not args.dry_run:
        try:
            order.check_presorted(LogReader(args.logs))
        except OutOfOrder as error:
            print(f"tagstream replay: {error}; nothing was sent", file=sys.stderr)
            return 2
    try:
        producer = None if args.dry_run else _producer(settings)
    except KafkaError as error:
        print(f"replay: cannot reach Kafka at {settings.kafka_broker} ({error}); nothing was sent. "
              "Is the broker running (`make up` starts a local one)?", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex.encode()
    topic_for = settings.topic_for_type
    pacer = Pacer(args.rate, args.speedup)
    sent = bad = events = 0
    confirmed = skip  # events of the time-ordered sequence known to be delivered
    inflight: list = []

    def reject(line: LogLine, rejection: Rejection) -> None:
        nonlocal bad
        bad += 1
        print(f"{line.where}: skipped: {rejection.reason}: {rejection.message}", file=sys.stderr)

    def checkpoint() -> None:
        nonlocal confirmed
        _confirm(producer, inflight)
        confirmed = skip + sent
        if not args.dry_run:
            write_checkpoint(args.checkpoint, confirmed, logs)

    try:
        with order.open(reader, reject, "replay") as ordered:
            lines = ordered.with_progress(lambda: (sent, f"bad {bad}"), every=64)
            for events, line in enumerate(lines, 1):
                if events <= skip:
                    continue
                if args.limit is not None and sent >= args.limit:
                    break
                event = decode_event(line.raw)
                if isinstance(event, Rejection):  # the order pass has set the bad lines aside: never here
                    raise RuntimeError(f"{line.where}: decoded in the order pass, not now: {event.message}")
                pacer.wait(sent, event.ts)
                if producer is not None:
                    inflight.append(producer.send(topic_for[event.type], key=event.customer_id.encode(), value=line.raw,
                                                  headers=[("tagstream.replay", run_id)]))
                sent += 1
                if sent % CONFIRM_EVERY == 0:
                    checkpoint()
            checkpoint()
            ordered.progress.finish(sent, extra=f"bad {bad}")
    except KafkaError as error:
        print(f"replay: Kafka failed ({error}); the first {confirmed} events in time order are confirmed. "
              f"Resume with --skip {confirmed}", file=sys.stderr)
        return 1
    except OutOfOrder as error:  # only with --dry-run: a real run checked the order before sending
        print(f"tagstream replay: {error}", file=sys.stderr)
        return 2
    finally:
        if producer is not None:
            producer.close(timeout=5)
    if skip > events:
        print(f"tagstream replay: asked to skip {skip:,} events, but the logs hold {events:,}: "
              "is the checkpoint (or --skip) from other logs?", file=sys.stderr)
        return 2
    print(_summary(args.dry_run, sent, skip, bad), file=sys.stderr)
    return 0


def count(text: str) -> int:
    """A non-negative count for --skip and --limit (argparse turns the ValueError into a usage line)."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _resume_point(args: argparse.Namespace, logs: str) -> int:
    """Events to skip: `--skip` when given, else what the checkpoint says was confirmed."""
    if args.skip is not None:
        return args.skip
    resume = read_checkpoint(args.checkpoint, logs)
    if resume is None:
        return 0
    print(f"replay: resuming after {resume} events already confirmed (checkpoint {args.checkpoint})", file=sys.stderr)
    return resume


def _summary(dry_run: bool, sent: int, skip: int, bad: int) -> str:
    verb = "validated" if dry_run else "sent"
    after = f" after the first {skip:,}" if skip else ""
    summary = f"replay: {verb} {sent:,} events{after}, {bad:,} bad lines skipped"
    return summary if dry_run else f"{summary}; {skip + sent:,} events in time order confirmed"


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
        **client_options(settings),
        acks="all",
        enable_idempotence=True,  # retries after a broker hiccup do not duplicate records
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type=None,
        max_block_ms=30000,
        bootstrap_timeout_ms=10000,  # an unreachable broker is reported after 10 s, not 30
        delivery_timeout_ms=60000,
    )
