"""kproof pipeline's run (kproof/pipeline/runner.py) without a database: a CSV input, a Bloblang processor and
a writer in memory in place of sql_insert."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from kproof.pipeline.bloblang import Message, parse
from kproof.pipeline.config import BloblangProcessor, CsvInput, SqlInsertOutput, StreamConfig
from kproof.pipeline.outputs import OutputFailed
from kproof.pipeline.runner import PipelineRun

ROWS = 10


class Writer:
    """Keeps what it is given; refuses a batch that holds `refused`; with `stuck`, never finishes a write."""

    def __init__(self, refused: str | None = None, stuck: bool = False) -> None:
        self.batches: list[list[object]] = []
        self.refused = refused
        self.stuck = stuck
        self.opened = self.closed = False

    async def __aenter__(self) -> Writer:
        self.opened = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True

    async def write(self, batch: list[Message]) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        contents = [m.content for m in batch]
        if [self.refused] in contents:
            raise OutputFailed(f"refused {self.refused}")
        self.batches.append(contents)


def stream(tmp_path: Path, **settings: object) -> StreamConfig:
    source = tmp_path / "in.csv"
    source.write_text("id,text\n" + "".join(f"{n},row {n}\n" for n in range(ROWS)))
    output = SqlInsertOutput("postgresql://unused", "SINK", ("TEXT",), parse("root = this"), batch_count=3)
    return replace(StreamConfig(CsvInput((str(source),)), (BloblangProcessor(parse("root = [this.text]")),), output),
                   **settings)


def test_every_row_is_processed_batched_and_written(tmp_path: Path) -> None:
    writer = Writer()
    lines: list[str] = []
    run = PipelineRun(stream(tmp_path, threads=3), progress=lines.append, output=writer)
    report = asyncio.run(run.execute())
    assert report.ok and (report.read, report.written, report.failed) == (ROWS, ROWS, 0), report.reasons
    assert writer.opened and writer.closed
    assert all(len(batch) <= 3 for batch in writer.batches)
    assert sorted(row for batch in writer.batches for row in batch) == sorted([f"row {n}"] for n in range(ROWS))
    assert run.metrics.value("input_received") == run.metrics.value("processor_sent") == ROWS
    assert run.metrics.value("output_sent") == ROWS and run.metrics.value("output_batch_sent") == len(writer.batches)
    assert "output_sent{" in report.metrics, "the final /metrics text"


def test_a_refused_batch_is_reported_and_not_counted_as_written(tmp_path: Path) -> None:
    run = PipelineRun(stream(tmp_path), output=Writer(refused="row 4"))
    report = asyncio.run(run.execute())
    assert not report.ok
    assert (report.written, report.failed) == (ROWS - 3, 3), "the whole batch of three fails"
    assert report.reasons == ["refused row 4"]
    assert run.metrics.value("output_error") == 3


def test_a_stop_leaves_what_is_in_flight_the_shutdown_timeout(tmp_path: Path) -> None:
    async def stopped_run() -> object:
        stop = asyncio.Event()
        run = asyncio.create_task(PipelineRun(stream(tmp_path, shutdown_timeout=0.2), stop=stop,
                                              output=Writer(stuck=True)).execute())
        await asyncio.sleep(0.2)
        stop.set()
        return await asyncio.wait_for(run, 10)

    report = asyncio.run(stopped_run())
    assert report.written == 0 and report.failed == report.read > 0
    assert report.reasons == [f"{report.read} messages in flight were not written within shutdown_timeout"]
