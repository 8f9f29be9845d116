"""Each input record once, acked only once processed (agents/faust_compat/offsets.py): given the offsets a
consumer hands over, which are processed, dropped as repeats, or reveal a hole; which acks Faust
may make."""

from __future__ import annotations

from agents.faust_compat.offsets import ActivePartitions, OffsetGuard, Verdict

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


def test_an_emptied_set_of_active_partitions_still_means_none_to_the_fetcher():
    """aiokafka's fetched_records reads `if partitions and tp not in partitions` (empty = all)."""
    live = {"orders-0"}
    active = ActivePartitions(live)
    assert active and "orders-0" in active
    live.clear()
    assert active, "not falsy: an empty set would make the fetcher drain every partition"
    assert "orders-0" not in active
