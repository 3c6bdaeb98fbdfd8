"""The dynamic batcher of ``mmrnn serve``: batch sizes, grouping by key, error isolation, cancellation."""

from __future__ import annotations

import asyncio
import threading

import pytest

from apps.server.batching import BatchingConfig, DynamicBatcher


class GatedDouble:
    """Batch function doubling numbers; the first call blocks until ``gate`` opens, so later items queue up."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.first_call = threading.Event()
        self.calls: list[list[int]] = []

    def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        if not self.first_call.is_set():
            self.first_call.set()
            self.gate.wait(5)
        if any(item < 0 for item in items):
            raise ValueError(f"negative item in {items}")
        return [2 * item for item in items]


async def _queued_behind_first(batcher: DynamicBatcher, fn: GatedDouble, items: list, keys: list | None = None):
    """Submit items[0], wait until its batch runs, queue the rest, open the gate; return all results."""
    keys = keys or [None] * len(items)
    await batcher.start()
    first = asyncio.ensure_future(batcher.submit(items[0], keys[0]))
    await asyncio.get_running_loop().run_in_executor(None, fn.first_call.wait, 5)
    rest = [asyncio.ensure_future(batcher.submit(item, key)) for item, key in zip(items[1:], keys[1:])]
    for _ in range(5):
        await asyncio.sleep(0)
    fn.gate.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    await batcher.stop()
    return results


def test_queued_requests_share_batches_up_to_the_maximum():
    fn = GatedDouble()
    batcher = DynamicBatcher(fn, BatchingConfig(max_batch_size=4, max_wait_ms=0))
    results = asyncio.run(_queued_behind_first(batcher, fn, list(range(10))))
    assert results == [2 * i for i in range(10)]
    assert fn.calls == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]
    assert (batcher.stats.batches, batcher.stats.items, batcher.stats.largest_batch) == (4, 10, 4)


def test_disabled_batching_runs_one_at_a_time_in_order():
    fn = GatedDouble()
    batcher = DynamicBatcher(fn, BatchingConfig(enabled=False, max_batch_size=4, max_wait_ms=50))
    results = asyncio.run(_queued_behind_first(batcher, fn, list(range(6))))
    assert results == [0, 2, 4, 6, 8, 10]
    assert fn.calls == [[i] for i in range(6)]


def test_items_with_different_keys_never_share_a_call():
    fn = GatedDouble()
    batcher = DynamicBatcher(fn, BatchingConfig(max_batch_size=8, max_wait_ms=0))
    keys = ["a", "b", "a", "b", "a", "c"]
    results = asyncio.run(_queued_behind_first(batcher, fn, list(range(6)), keys))
    assert results == [0, 2, 4, 6, 8, 10]
    assert fn.calls == [[0], [1, 3], [2, 4], [5]]


def test_a_bad_item_fails_alone():
    fn = GatedDouble()
    batcher = DynamicBatcher(fn, BatchingConfig(max_batch_size=8, max_wait_ms=0))
    results = asyncio.run(_queued_behind_first(batcher, fn, [1, 2, -3, 4]))
    assert results[:2] == [2, 4] and results[3] == 8
    assert isinstance(results[2], ValueError)
    assert fn.calls[1] == [2, -3, 4]  # tried together first, then one by one
    assert fn.calls[2:] == [[2], [-3], [4]]


def test_a_cancelled_request_is_dropped_before_its_batch_runs():
    fn = GatedDouble()
    batcher = DynamicBatcher(fn, BatchingConfig(max_batch_size=8, max_wait_ms=0))

    async def scenario():
        await batcher.start()
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.get_running_loop().run_in_executor(None, fn.first_call.wait, 5)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(batcher.submit(2), 0.05)  # times out while queued
        third = asyncio.ensure_future(batcher.submit(3))
        await asyncio.sleep(0)
        fn.gate.set()
        results = await asyncio.gather(first, third)
        await batcher.stop()
        return results

    assert asyncio.run(scenario()) == [2, 6]
    assert fn.calls == [[1], [3]]


def test_wrong_result_count_is_an_error():
    async def scenario():
        batcher = DynamicBatcher(lambda items: [], BatchingConfig(max_batch_size=1))
        try:
            return await batcher.submit(5)
        finally:
            await batcher.stop()

    with pytest.raises(RuntimeError, match="returned 0 results for 1 items"):
        asyncio.run(scenario())


def test_config_is_checked():
    with pytest.raises(ValueError):
        BatchingConfig(max_batch_size=0)
    with pytest.raises(ValueError):
        BatchingConfig(max_wait_ms=-1)
