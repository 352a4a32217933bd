"""Running a stream: the input feeds `pipeline.threads` workers (the messages in flight through the
processors, which is the concurrency a Knative Service behind them sees); processed messages are
batched (`count`, `period`) and written, up to `max_in_flight` batches at once. The run ends by itself
when the input is drained and every batch is written; a message that fails is reported and not written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import aiohttp
from aiohttp import web
from prometheus_client import generate_latest

from kproof.pipeline.bloblang import Message
from kproof.pipeline.config import CsvInput, StreamConfig
from kproof.pipeline.inputs import csv_messages, sql_messages
from kproof.pipeline.metrics import StreamMetrics
from kproof.pipeline.outputs import OutputFailed, SqlInsert
from kproof.pipeline.processors import ProcessingFailed, run_processors

PROGRESS_SECONDS = 2.0
KEPT_FAILURES = 20  # reasons kept for the report; every failure is counted


@dataclass
class RunReport:
    read: int = 0
    written: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    metrics: str = ""  # the final /metrics text
    metrics_url: str = ""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.written == self.read

    def fail(self, reason: str, count: int = 1) -> None:
        self.failed += count
        if len(self.reasons) < KEPT_FAILURES:
            self.reasons.append(reason)

    def summary(self) -> str:
        rate = self.written / self.seconds if self.seconds else 0.0
        return (f"{self.read} read, {self.written} written, {self.failed} failed in {self.seconds:.1f}s "
                f"({rate:.0f} rows/s)")


async def _serve_metrics(metrics: StreamMetrics, address: str) -> tuple[web.AppRunner, str]:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = address.rpartition(":")
    try:
        site = web.TCPSite(runner, host or "127.0.0.1", int(port or 0))
        await site.start()
    except OSError:  # the port is taken (another stream, a Benthos): any free one
        site = web.TCPSite(runner, host or "127.0.0.1", 0)
        await site.start()
    bound = runner.addresses[0]  # the one started site's socket (a site that failed to start has none)
    return runner, f"http://{bound[0]}:{bound[1]}/metrics"


class BatchWriter(Protocol):
    """Where processed messages go: opened for the run, then written a batch at a time (SqlInsert)."""

    async def __aenter__(self) -> BatchWriter: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def write(self, batch: list[Message]) -> None: ...


async def run(config: StreamConfig, progress: Callable[[str], None] | None = None,
              stop: asyncio.Event | None = None) -> RunReport:
    """Runs the stream to its end (or until `stop`, then finishes what is in flight within the
    shutdown timeout); `progress` gets a line every few seconds."""
    return await PipelineRun(config, progress, stop).execute()


class PipelineRun:
    """One run of a stream (execute it once): the input feeds a queue, `threads` workers move its messages
    through the processors to a second queue, a batcher writes them to `output`; `report` and `metrics` count
    everything on the way. `output` defaults to the config's sql_insert."""

    def __init__(self, config: StreamConfig, progress: Callable[[str], None] | None = None,
                 stop: asyncio.Event | None = None, output: BatchWriter | None = None) -> None:
        self.config = config
        self.progress = progress
        self.stop = stop or asyncio.Event()
        self.output: BatchWriter = output if output is not None else SqlInsert(config.output)
        self.report = RunReport()
        self.metrics = StreamMetrics()
        self.started = time.monotonic()
        self._todo: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=config.threads * 4)
        self._done: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=1000)
        self._writes: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None

    async def execute(self) -> RunReport:
        """Runs the stream once, to its end or to `stop` and the shutdown timeout."""
        self.started = time.monotonic()
        server = await self._start_metrics()
        async with self.output, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.threads * 2),
                trust_env=True) as self._session:  # HTTP_PROXY too
            await self._run_until_drained_or_stopped()
        self.report.seconds = time.monotonic() - self.started
        self.report.metrics = generate_latest(self.metrics.registry).decode()
        if server is not None:
            await server.cleanup()
        return self.report

    # Metrics ------------------------------------------------------------------------------------------

    async def _start_metrics(self) -> web.AppRunner | None:
        if not self.config.metrics:
            return None
        server, self.report.metrics_url = await _serve_metrics(self.metrics, self.config.http_address)
        if self.progress:
            self.progress(f"metrics on {self.report.metrics_url}")
        return server

    async def _report_progress(self) -> None:
        while self.progress is not None:
            await asyncio.sleep(PROGRESS_SECONDS)
            elapsed = time.monotonic() - self.started
            self.progress(f"{self.report.read} read, {self.report.written} written, {self.report.failed} failed, "
                          f"{self.report.written / elapsed:.0f} rows/s")

    # Input --------------------------------------------------------------------------------------------

    async def _read(self) -> None:
        """Feeds every message of the input to the workers, then one end mark per worker."""
        config = self.config
        source = (csv_messages(config.input, Path.cwd()) if isinstance(config.input, CsvInput)
                  else sql_messages(config.input))
        async for message in source:
            if self.stop.is_set():
                break
            self.report.read += 1
            self.metrics.count("input_received", "root.input")
            await self._todo.put(message)
        for _ in range(config.threads):
            await self._todo.put(None)

    # Processors ---------------------------------------------------------------------------------------

    async def _work(self) -> None:
        """One of the `threads` workers: messages through the processors until its end mark."""
        assert self._session is not None
        while (message := await self._todo.get()) is not None:
            try:
                await self._done.put(await run_processors(self.config.processors, self._session, message,
                                                          self._observe))
            except ProcessingFailed as err:
                self.report.fail(str(err))

    def _observe(self, index: int, seconds: float, failed: bool) -> None:
        path = f"root.pipeline.processors.{index}"
        self.metrics.count("processor_received", path)
        self.metrics.count("processor_error" if failed else "processor_sent", path)
        self.metrics.time("processor_latency_ns", path, seconds)

    # Output -------------------------------------------------------------------------------------------

    async def _batch_up(self) -> None:
        """Batches processed messages (`count`, `period`) and writes each batch in a task of its own; returns
        once the end mark came and every batch is written."""
        spec = self.config.output
        batch: list[Message] = []
        deadline = 0.0
        finished = False
        message: Message | Literal[False] | None  # None: the end mark; False: the period is up
        while not finished:
            timeout = max(0.0, deadline - time.monotonic()) if batch and spec.batch_period else None
            try:
                message = await asyncio.wait_for(self._done.get(), timeout)
            except TimeoutError:
                message = False  # the period is up
            if message is None:
                finished = True
            elif message is not False:
                if not batch:
                    deadline = time.monotonic() + spec.batch_period
                batch.append(message)
            if batch and (finished or message is False or len(batch) >= spec.batch_count):
                task = asyncio.create_task(self._write(batch))
                self._writes.add(task)
                task.add_done_callback(self._writes.discard)
                batch = []
        await asyncio.gather(*list(self._writes))

    async def _write(self, batch: list[Message]) -> None:
        began = time.monotonic()
        try:
            await self.output.write(batch)
        except OutputFailed as err:
            self.metrics.count("output_error", "root.output", len(batch))
            self.report.fail(str(err), len(batch))
            return
        self.report.written += len(batch)
        self.metrics.count("output_sent", "root.output", len(batch))
        self.metrics.count("output_batch_sent", "root.output")
        self.metrics.time("output_latency_ns", "root.output", time.monotonic() - began)

    # Shutdown -----------------------------------------------------------------------------------------

    async def _drain(self) -> None:
        """The whole input through the workers, then the last batches written."""
        writer = asyncio.create_task(self._batch_up())
        await asyncio.gather(self._read(), *(self._work() for _ in range(self.config.threads)))
        await self._done.put(None)
        await writer

    async def _run_until_drained_or_stopped(self) -> None:
        body = asyncio.create_task(self._drain())
        ticker = asyncio.create_task(self._report_progress())
        stopping = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({body, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not body.done():  # stopped: no more is read, what is in flight has the shutdown timeout
                try:
                    await asyncio.wait_for(asyncio.shield(body), self.config.shutdown_timeout)
                except TimeoutError:
                    body.cancel()  # awaited below, in `finally`, which keeps its CancelledError from the caller
                    left = self.report.read - self.report.written - self.report.failed
                    self.report.fail(f"{left} messages in flight were not written within shutdown_timeout", left)
                    return
            await body
        finally:
            for task in (ticker, stopping, body):
                task.cancel()
            await asyncio.gather(ticker, stopping, body, return_exceptions=True)
