"""Dynamic batching with KServe's batcher semantics: instances from concurrent requests are collected
until `max_batch_size` of them wait or `max_latency` has passed since the first, then run as one model
call; each caller gets its own slice of the predictions and the batch's id. A request joins a batch
whole, so the last one may carry it past `max_batch_size`, as in KServe's batcher.

One model call runs at a time; while it runs, the next batch collects.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# (instances) -> predictions, one per instance
Predict = Callable[[list], Awaitable[list]]

MAX_BATCH_SIZE = 32  # KServe's defaults
MAX_LATENCY_MS = 5000


@dataclass
class _Waiting:
    instances: list
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher:
    def __init__(self, predict: Predict, max_batch_size: int = MAX_BATCH_SIZE,
                 max_latency_ms: float = MAX_LATENCY_MS) -> None:
        if max_batch_size < 1 or max_latency_ms < 0:
            raise ValueError("maxBatchSize must be at least 1 and maxLatency not negative")
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000
        self._waiting: list[_Waiting] = []
        self._count = 0  # instances waiting
        self._full = asyncio.Event()
        self._collector: asyncio.Task | None = None
        self._model = asyncio.Lock()
        self.batches = 0  # model calls made

    async def submit(self, instances: list) -> tuple[list, str]:
        """The predictions for `instances` and the id of the batch they ran in."""
        if not instances:
            raise ValueError("no instances")
        waiting = _Waiting(list(instances))
        self._waiting.append(waiting)
        self._count += len(waiting.instances)
        if self._count >= self.max_batch_size:
            self._full.set()
        if self._collector is None:
            self._collector = asyncio.create_task(self._collect())
        return await waiting.answer

    async def _collect(self) -> None:
        """Waits until a batch is full or its latency is up, then runs it."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._full.wait(), self.max_latency)
        batch: list[_Waiting] = []
        taken = 0
        while self._waiting and taken < self.max_batch_size:
            batch.append(self._waiting.pop(0))
            taken += len(batch[-1].instances)
        self._count -= taken
        self._full.clear()
        self._collector = None
        if self._waiting:  # the rest start the next batch (full already, or waiting for its latency)
            if self._count >= self.max_batch_size:
                self._full.set()
            self._collector = asyncio.create_task(self._collect())
        async with self._model:
            await self._run(batch)

    async def _run(self, batch: list[_Waiting]) -> None:
        batch_id = str(uuid.uuid4())
        instances = [i for w in batch for i in w.instances]
        self.batches += 1
        try:
            predictions = await self.predict(instances)
        except Exception as err:  # every caller of the batch learns why
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(err)
            return
        start = 0
        for waiting in batch:
            end = start + len(waiting.instances)
            if not waiting.answer.done():
                waiting.answer.set_result((predictions[start:end], batch_id))
            start = end
