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


def test_the_seed_s_prometheus_config_scrapes_what_a_run_serves(tmp_path: Path) -> None:
    """fixtures/pipeline/prometheus.yaml (the demo's) scrapes the address `kproof pipeline` serves Benthos's
    metrics on; while the run goes, /metrics there holds output_sent, whose rate the seed graphs."""
    import requests
    import yaml

    scrape = yaml.safe_load((Path(__file__).resolve().parents[2] / "fixtures" / "pipeline" /
                             "prometheus.yaml").read_text())["scrape_configs"][0]
    (target,) = scrape["static_configs"][0]["targets"]
    config = stream(tmp_path, metrics=True)
    assert target.rpartition(":")[2] == config.http_address.rpartition(":")[2] == "4195"

    class Slow(Writer):
        """Writes the first batch at once and takes its time over the others: the run is still going."""

        calls = 0

        async def write(self, batch: list[Message]) -> None:
            self.calls += 1
            if self.calls > 1:
                await asyncio.sleep(1.0)
            await super().write(batch)

    async def scraped_run() -> str:
        run = PipelineRun(replace(config, http_address="127.0.0.1:0"), output=Slow())
        task = asyncio.create_task(run.execute())
        while run.metrics.value("output_sent") < 3:  # a first batch written, the run still going
            await asyncio.sleep(0.01)
        text = await asyncio.to_thread(lambda: requests.get(run.report.metrics_url, timeout=5).text)
        await task
        return text

    assert 'output_sent{label="",path="root.output"}' in asyncio.run(scraped_run())
