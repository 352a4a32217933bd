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
    bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
    return runner, f"http://{bound[0]}:{bound[1]}/metrics"


async def run(config: StreamConfig, progress: Callable[[str], None] | None = None,
              stop: asyncio.Event | None = None) -> RunReport:
    """Runs the stream to its end (or until `stop`, then finishes what is in flight within the
    shutdown timeout); `progress` gets a line every few seconds."""
    report = RunReport()
    metrics = StreamMetrics()
    stop = stop or asyncio.Event()
    started = time.monotonic()
    server = None
    if config.metrics:
        server, report.metrics_url = await _serve_metrics(metrics, config.http_address)
        if progress:
            progress(f"metrics on {report.metrics_url}")
    todo: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=config.threads * 4)
    done: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=1000)
    async with SqlInsert(config.output) as output, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.threads * 2), trust_env=True) as session:  # HTTP_PROXY too

        async def read() -> None:
            source = (csv_messages(config.input, Path.cwd()) if isinstance(config.input, CsvInput)
                      else sql_messages(config.input))
            async for message in source:
                if stop.is_set():
                    break
                report.read += 1
                metrics.count("input_received", "root.input")
                await todo.put(message)
            for _ in range(config.threads):
                await todo.put(None)

        def observe(index: int, seconds: float, failed: bool) -> None:
            path = f"root.pipeline.processors.{index}"
            metrics.count("processor_received", path)
            metrics.count("processor_error" if failed else "processor_sent", path)
            metrics.time("processor_latency_ns", path, seconds)

        async def work() -> None:
            while (message := await todo.get()) is not None:
                try:
                    await done.put(await run_processors(config.processors, session, message, observe))
                except ProcessingFailed as err:
                    report.fail(str(err))

        writes: set[asyncio.Task] = set()

        async def write(batch: list[Message]) -> None:
            began = time.monotonic()
            try:
                await output.write(batch)
            except OutputFailed as err:
                metrics.count("output_error", "root.output", len(batch))
                report.fail(str(err), len(batch))
                return
            report.written += len(batch)
            metrics.count("output_sent", "root.output", len(batch))
            metrics.count("output_batch_sent", "root.output")
            metrics.time("output_latency_ns", "root.output", time.monotonic() - began)

        async def batch_up() -> None:
            batch: list[Message] = []
            deadline = 0.0
            finished = False
            while not finished:
                timeout = max(0.0, deadline - time.monotonic()) if batch and config.output.batch_period else None
                try:
                    message = await asyncio.wait_for(done.get(), timeout)
                except TimeoutError:
                    message = False  # the period is up
                if message is None:
                    finished = True
                elif message is not False:
                    if not batch:
                        deadline = time.monotonic() + config.output.batch_period
                    batch.append(message)
                if batch and (finished or message is False or len(batch) >= config.output.batch_count):
                    task = asyncio.create_task(write(batch))
                    writes.add(task)
                    task.add_done_callback(writes.discard)
                    batch = []
            await asyncio.gather(*list(writes))

        async def report_progress() -> None:
            while progress is not None:
                await asyncio.sleep(PROGRESS_SECONDS)
                elapsed = time.monotonic() - started
                progress(f"{report.read} read, {report.written} written, {report.failed} failed, "
                         f"{report.written / elapsed:.0f} rows/s")

        async def drain() -> None:
            writer = asyncio.create_task(batch_up())
            await asyncio.gather(read(), *(work() for _ in range(config.threads)))
            await done.put(None)
            await writer

        body = asyncio.create_task(drain())
        ticker = asyncio.create_task(report_progress())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({body, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not body.done():  # stopped: no more is read, what is in flight has the shutdown timeout
                try:
                    await asyncio.wait_for(asyncio.shield(body), config.shutdown_timeout)
                except TimeoutError:
                    body.cancel()
                    left = report.read - report.written - report.failed
                    report.fail(f"{left} messages in flight were not written within shutdown_timeout", left)
            await body
        finally:
            for task in (ticker, stopping, body):
                task.cancel()
            await asyncio.gather(ticker, stopping, body, return_exceptions=True)
    report.seconds = time.monotonic() - started
    report.metrics = generate_latest(metrics.registry).decode()
    if server is not None:
        await server.cleanup()
    return report
