"""Each input record once, acked only once processed (agents/faust_compat/offsets.py): given the offsets a
consumer hands over, which are processed, dropped as repeats, or reveal a hole; which acks Faust
may make."""

from __future__ import annotations

from agents.faust_compat.offsets import AckGate, ActivePartitions, Filled, OffsetGuard, Verdict, dropped_by_clear

N, R, H = Verdict.NEXT, Verdict.REPEAT, Verdict.HOLE


def verdicts(guard: OffsetGuard, offsets: list[int]) -> list[Verdict]:
    return [guard.check("orders", 0, o)[0] for o in offsets]


def test_a_partition_starts_at_the_committed_offset_and_goes_on_in_order():
    guard = OffsetGuard(committed=lambda topic, partition: 55)
    assert verdicts(guard, [55, 56, 57]) == [N, N, N]


def test_records_already_processed_are_repeats():
    guard = OffsetGuard(committed=lambda topic, partition: 55)
    assert verdicts(guard, [53, 55, 56, 55, 57]) == [R, N, N, R, N]


def test_a_jump_is_a_hole_that_starts_at_the_expected_offset():
    guard = OffsetGuard(committed=lambda topic, partition: 55)
    assert verdicts(guard, [55, 56, 57]) == [N, N, N]
    assert guard.check("orders", 0, 60) == (H, 58), "58 and 59 are to be read from Kafka"
    assert verdicts(guard, [61, 58]) == [N, R]


def test_without_a_committed_offset_the_first_record_sets_the_start():
    guard = OffsetGuard(committed=lambda topic, partition: None)
    assert verdicts(guard, [7, 8, 7]) == [N, N, R]


def test_a_revoked_partition_starts_again_from_the_committed_offset():
    guard = OffsetGuard(committed=lambda topic, partition: 3)
    verdicts(guard, [3, 4, 5, 6])
    guard.forget({0})
    assert verdicts(guard, [3]) == [N]


def test_records_dropped_before_the_agent_saw_them_are_not_repeats_and_reveal_a_hole():
    """A new group (no committed offset): Faust cleared offsets 0-1 from the stream queue."""
    guard = OffsetGuard(committed=lambda topic, partition: None)
    guard.rewind("orders", 0, 0)
    assert guard.check("orders", 0, 2) == (H, 0), "0 and 1 are to be read from Kafka"
    assert verdicts(guard, [0, 1, 2, 3]) == [R, R, R, N], "the re-fetched copies after the fill"


def test_re_fetched_copies_of_dropped_records_are_processed_when_they_come_first():
    guard = OffsetGuard(committed=lambda topic, partition: 55)
    verdicts(guard, [55, 56, 57])
    guard.rewind("orders", 0, 57)
    assert verdicts(guard, [57, 58]) == [N, N]
    guard.rewind("orders", 0, 60)
    assert verdicts(guard, [59]) == [N], "a rewind never moves the guard forward"


class _Queue:
    def __init__(self, items) -> None:
        self._queue = list(items)


class _Event:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.message = Message(topic, offset, partition)


def test_dropped_by_clear_finds_the_lowest_queued_offset_of_each_input_partition():
    queues = [_Queue([_Event("orders", 1, 5), _Event("ticks", 1, 9), _Event("orders", 1, 4)]),
              _Queue([_Event("orders", 2, 0), object()])]
    assert dropped_by_clear(queues, {"orders"}) == {("orders", 1): 4, ("orders", 2): 0}


def test_an_emptied_set_of_active_partitions_still_means_none_to_the_fetcher():
    """aiokafka's fetched_records reads `if partitions and tp not in partitions` (empty = all)."""
    live = {"orders-0"}
    active = ActivePartitions(live)
    assert active and "orders-0" in active
    live.clear()
    assert active, "not falsy: an empty set would make the fetcher drain every partition"
    assert "orders-0" not in active


class Consumer:
    """Stands in for Faust's consumer: records which messages it was asked to ack, and keeps
    the delivered-but-unacked set that its stop and rebalance wait on."""

    def __init__(self) -> None:
        self.acked: list[tuple[str, int]] = []
        self._unacked_messages: set = set()

    def ack(self, message) -> bool:
        self.acked.append((message.topic, message.offset))
        return True


class Message:
    def __init__(self, topic: str, offset: int, partition: int = 0) -> None:
        self.topic, self.offset, self.partition, self.acked = topic, offset, partition, False


def test_faust_may_ack_only_input_records_the_agent_finished():
    consumer = Consumer()
    gate = AckGate(consumer, {"orders"})
    assert consumer.ack(Message("orders", 5)) is False, "skipped by Faust, never processed: not acked"
    gate.finish("orders", 0, 6)
    assert consumer.ack(Message("orders", 6)) is True
    assert consumer.ack(Message("ticks", 1)) is True, "the clock topic is not guarded"
    assert consumer.acked == [("orders", 6), ("ticks", 1)]
    gate.finish("ticks", 0, 2)
    assert gate.finished == set(), "nothing is remembered that no ack would ever clear"


def test_a_stop_or_rebalance_does_not_wait_for_a_record_faust_skipped():
    consumer = Consumer()
    AckGate(consumer, {"orders"})
    skipped = Message("orders", 5)
    consumer._unacked_messages.add(skipped)
    assert consumer.ack(skipped) is False
    assert consumer._unacked_messages == set(), "it would never be acked: waiting for it hangs the stop"


def test_records_read_to_fill_a_hole_are_acked_through_the_gate():
    consumer = Consumer()
    gate = AckGate(consumer, {"orders"})
    gate.ack_filled(Filled("orders", 0, 5))
    assert consumer.acked == [("orders", 5)]


def test_a_revoked_partition_leaves_nothing_finished_behind():
    consumer = Consumer()
    gate = AckGate(consumer, {"orders"})
    gate.finish("orders", 3, 9)
    gate.forget({3})
    assert consumer.ack(Message("orders", 9, partition=3)) is False
