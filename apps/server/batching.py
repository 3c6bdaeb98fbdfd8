"""Dynamic batching for asyncio servers: concurrent requests share one model call.

:class:`DynamicBatcher` queues submitted items; a single consumer task takes the first waiting
item, then keeps collecting for at most ``max_wait_ms`` (or until ``max_batch_size`` items are
in), groups the items by their key (items with different keys, e.g. different beam sizes, cannot
share a forward pass) and runs ``batch_fn`` on each group in a worker thread, so the event loop
stays free to accept requests while the model runs. While a batch runs, new requests queue and
form the next batch. With ``enabled=False`` every item runs alone, in arrival order (the
one-at-a-time baseline of the load benchmark).

If ``batch_fn`` raises on a group of several items, each item is retried alone so that one bad
item fails only its own request.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class BatchingConfig:
    """How requests are batched.

    Attributes:
        enabled: batch concurrent requests; False runs them one at a time.
        max_batch_size: most items per model call.
        max_wait_ms: how long the first item of a batch waits for company, in milliseconds.
    """

    enabled: bool = True
    max_batch_size: int = 32
    max_wait_ms: float = 5.0

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be at least 0, got {self.max_wait_ms}")


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    key: Hashable
    future: "asyncio.Future[Result]"


@dataclass
class BatchStats:
    """Counters for monitoring and tests: batches run and items served."""

    batches: int = 0
    items: int = 0
    largest_batch: int = 0


class DynamicBatcher(Generic[Item, Result]):
    """Collects concurrent :meth:`submit` calls into batches for ``batch_fn``.

    Args:
        batch_fn: maps a list of items (all with the same key) to one result per item, in order;
            it runs in a worker thread.
        config: see :class:`BatchingConfig`.
        executor: the worker thread(s); by default one private thread (model calls in sequence).
        name: for error messages.
    """

    def __init__(
        self,
        batch_fn: Callable[[list[Item]], Sequence[Result]],
        config: BatchingConfig = BatchingConfig(),
        *,
        executor: ThreadPoolExecutor | None = None,
        name: str = "batcher",
    ) -> None:
        self.batch_fn = batch_fn
        self.config = config
        self.name = name
        self.stats = BatchStats()
        self._executor = executor
        self._own_executor = executor is None
        self._queue: asyncio.Queue[_Pending[Item, Result]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Start the consumer task on the running event loop (idempotent)."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._queue = asyncio.Queue()
        self._loop = loop
        self._task = loop.create_task(self._consume(), name=self.name)

    async def stop(self) -> None:
        """Stop the consumer; waiting requests fail with :class:`RuntimeError`."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.set_exception(RuntimeError(f"{self.name}: server shutting down"))
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def submit(self, item: Item, key: Hashable = None) -> Result:
        """Queue ``item`` and wait for its result (exceptions of ``batch_fn`` propagate).

        Cancelling the caller (e.g. a request timeout) drops the item if its batch has not started.
        """
        if self._task is None or self._task.done() or self._loop is not asyncio.get_running_loop():
            await self.start()
        assert self._queue is not None
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(item, key, future))
        return await future

    async def _collect(self) -> list[_Pending[Item, Result]]:
        """The next batch: the first waiting item plus whatever arrives within the wait window."""
        assert self._queue is not None
        batch = [await self._queue.get()]
        limit = self.config.max_batch_size if self.config.enabled else 1
        deadline = time.monotonic() + self.config.max_wait_ms / 1000.0
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, 0.001))  # poll: no lost item as with a cancelled get()
        return [pending for pending in batch if not pending.future.done()]  # drop timed-out requests

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            groups: dict[Hashable, list[_Pending[Item, Result]]] = {}
            for pending in batch:
                groups.setdefault(pending.key, []).append(pending)
            for group in groups.values():
                await self._run_group(loop, group)

    async def _run_group(self, loop: asyncio.AbstractEventLoop, group: list[_Pending[Item, Result]]) -> None:
        group = [pending for pending in group if not pending.future.done()]
        if not group:
            return
        try:
            results = await loop.run_in_executor(self._executor, self._call, [p.item for p in group])
        except Exception as exc:  # noqa: BLE001  (delivered to the requests)
            if len(group) > 1:
                for pending in group:  # find the bad item: each alone
                    await self._run_group(loop, [pending])
                return
            if not group[0].future.done():
                group[0].future.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.items += len(group)
        self.stats.largest_batch = max(self.stats.largest_batch, len(group))
        for pending, result in zip(group, results):
            if not pending.future.done():
                pending.future.set_result(result)

    def _call(self, items: list[Item]) -> Sequence[Result]:
        results = self.batch_fn(items)
        if len(results) != len(items):
            raise RuntimeError(f"{self.name}: batch function returned {len(results)} results for {len(items)} items")
        return results
