"""The worker's cache of decoded states (agents/table_store.py): it serves only what the table
holds, and never survives a revoke, a failed write or its bound."""

from __future__ import annotations

from stream.codec import decode_state, encode_state
from stream.partitioner import partition_for
from stream.state import CustomerState

from agents.table_store import TableStore


class Table(dict):
    """Counts reads of customer bytes; can be told to refuse writes."""

    reads = 0
    refuse = False

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)

    def __setitem__(self, key, value):
        if self.refuse:
            raise TimeoutError("changelog write not acknowledged")
        super().__setitem__(key, value)


def customers_in(partition: int, count: int) -> list[str]:
    return [c for c in (f"c{i}" for i in range(10_000)) if partition_for(c, 8) == partition][:count]


def committed(table: Table, customer_id: str) -> CustomerState:
    return decode_state(customer_id, table[customer_id.encode()])


def stage_change(store: TableStore, customer_id: str, orders_total: int) -> None:
    """What the engine does: take the state, change it in place, stage it."""
    state = store.get(customer_id)
    state.orders_total = orders_total
    store.put(customer_id, state)


def store_with(customers: list[str], cache_size: int = 100) -> tuple[TableStore, Table]:
    table = Table()
    store = TableStore(table, 8, cache_size=cache_size)
    for n, customer_id in enumerate(customers):
        store.put(customer_id, CustomerState(orders_total=n, clock=1_000))
    store.commit()
    return store, table


def test_a_written_state_is_served_from_the_cache_without_reading_the_table():
    (c,) = customers_in(1, 1)
    store, table = store_with([c])
    reads = table.reads
    assert store.current(c) == committed(table, c) and table.reads == reads
    stage_change(store, c, 1)
    store.commit()
    assert store.get(c).orders_total == 1 and committed(table, c).orders_total == 1 and table.reads == reads


def test_a_state_taken_by_the_engine_is_out_of_the_cache_until_written():
    (c,) = customers_in(2, 1)
    store, table = store_with([c])
    stage_change(store, c, 99)  # not yet written
    assert store.current(c).orders_total == 0, "readers see the committed state, not the staged one"
    assert store.cached == 0


def test_a_failed_write_leaves_nothing_uncommitted_in_the_cache_and_the_retry_caches_it():
    (c,) = customers_in(3, 1)
    store, table = store_with([c])
    stage_change(store, c, 7)
    staged = store.take_staged()
    table.refuse = True
    try:
        store.write(staged)
    except TimeoutError:
        pass
    assert store.cached == 0
    assert store.current(c).orders_total == 0 and store.get(c).orders_total == 0, "the table's bytes, decoded"
    table.refuse = False
    store.write(staged)  # the retry
    assert store.cached == 1 and store.current(c).orders_total == 7 == committed(table, c).orders_total


def test_revoked_partitions_lose_their_cached_customers():
    gone, kept = customers_in(4, 2), customers_in(5, 2)
    store, table = store_with(gone + kept)
    store.forget({4})
    for customer_id in gone:  # meanwhile another worker's changelog writes reach the table
        table[customer_id.encode()] = encode_state(CustomerState(orders_total=500, clock=2_000))
    reads = table.reads
    assert [store.get(c).orders_total for c in gone] == [500, 500] and table.reads == reads + 2
    assert [store.get(c).orders_total for c in kept] == [2, 3] and table.reads == reads + 2, "other partitions stay cached"


def test_a_batch_begun_before_a_revoke_is_written_but_not_cached():
    (c,) = customers_in(6, 1)
    store, table = store_with([c])
    stage_change(store, c, 5)
    store.forget({6})  # the rebalance came while the batch was publishing
    store.commit()
    assert committed(table, c).orders_total == 5 and store.cached == 0


def test_the_cache_keeps_the_most_recently_written_customers_up_to_its_size():
    customers = customers_in(7, 5)
    store, table = store_with(customers, cache_size=3)
    assert store.cached == 3
    reads = table.reads
    for customer_id in customers[2:]:
        store.get(customer_id)
    assert table.reads == reads
    store.get(customers[0])
    assert table.reads == reads + 1


def test_no_cache_when_its_size_is_zero():
    (c,) = customers_in(0, 1)
    store, table = store_with([c], cache_size=0)
    reads = table.reads
    assert store.get(c) == committed(table, c) and table.reads == reads + 1 and store.cached == 0
