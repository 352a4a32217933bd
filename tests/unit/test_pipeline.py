"""kproof pipeline's pure parts: the Bloblang subset, ${ENV} interpolation, reading seed 002's configs,
Benthos's metric names, and the generated Tweets.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kproof.pipeline.bloblang import BloblangError, Message, parse
from kproof.pipeline.config import ConfigError, CsvInput, HttpProcessor, SqlSelectInput, interpolate, read_config
from kproof.pipeline.metrics import StreamMetrics
from kproof.pipeline.tweets import COLUMNS, MULTILINE, write

CONFIGS = Path(__file__).resolve().parents[2] / "fixtures" / "pipeline"


@pytest.mark.parametrize(("mapping", "content", "meta", "result"), [
    ("root.text = this.text", {"text": "hi", "id": 1}, {}, {"text": "hi"}),
    ("root = this.a.b", {"a": {"b": [1, 2]}}, {}, [1, 2]),
    ("root = [this.x, this.missing, 1.5, \"s\", true, null]", {"x": 3}, {}, [3, None, 1.5, "s", True, None]),
    ("root = [\n  this.Compound, # a comment\n  @id\n]", {"Compound": 0.5}, {"id": 7}, [0.5, 7]),
    ("meta id = this.id\nroot.a.b = this.text", {"id": 2, "text": "t"}, {}, {"a": {"b": "t"}}),
])
def test_bloblang_subset(mapping: str, content: object, meta: dict, result: object) -> None:
    assert parse(mapping).apply(Message(content, meta)).content == result


def test_meta_is_carried_and_set() -> None:
    out = parse("meta id = this.id\nroot.text = this.text").apply(Message({"id": 9, "text": "x"}, {"kept": 1}))
    assert out.meta == {"kept": 1, "id": 9}


@pytest.mark.parametrize(("mapping", "problem"), [
    ("root = this.text.uppercase()", "line 1, column 27: methods and functions are not supported"),
    ("root = if this.a { 1 }", "line 1, column 8: `if` is not supported"),
    ("let x = 1", "line 1, column 1: `let`: only assignments to root"),
    ("root = this.a this.b", "line 1, column 15: one statement a line"),
    ("root = [1,\n2", "line 1: expected `,` or `]` in an array"),
    ("", "the mapping is empty"),
])
def test_bloblang_refusals_name_line_and_column(mapping: str, problem: str) -> None:
    with pytest.raises(BloblangError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse(mapping)


def test_env_interpolation() -> None:
    assert interpolate("a: ${A}\nb: ${B:two}\n", {"A": "one"}) == "a: one\nb: two\n"
    with pytest.raises(ConfigError, match="line 2: environment variable B is not set"):
        interpolate("a: 1\nb: ${B}\n", {})


def test_the_seed_configs_read_as_written() -> None:
    populate = read_config((CONFIGS / "benthos_populate_db.yaml").read_text(), env={"POSTGRES_DSN": "postgres://x"})
    assert populate.input == CsvInput(("Tweets.csv",), True, ",", 1, False)
    assert (populate.output.table, populate.output.columns, populate.output.batch_count,
            populate.output.batch_period, populate.output.max_in_flight) == ("SOURCE", ("TEXT",), 100, 1.0, 64)
    batch = read_config((CONFIGS / "benthos_batch.yaml").read_text(), env={})
    assert batch.input == SqlSelectInput("postgres://postgres:password@localhost:5432/postgres?sslmode=disable",
                                         "SOURCE", ("*",))
    assert batch.threads == 1 and batch.metrics and batch.shutdown_timeout == 3.0
    http = batch.processors[1]
    assert isinstance(http, HttpProcessor) and http.url == "http://benthos-vader.default.127.0.0.1.sslip.io/post"
    assert (http.timeout, http.retries, http.backoff_on) == (5.0, 3, (429,))
    assert (batch.output.batch_count, batch.output.batch_period) == (40, 0.5)
    assert read_config((CONFIGS / "benthos_batch.yaml").read_text(), env={"PIPELINE_THREADS": "6"}).threads == 6


def test_benthos_metric_names() -> None:
    metrics = StreamMetrics()
    metrics.count("output_sent", "root.output", 40)
    metrics.time("output_latency_ns", "root.output", 0.002)
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    assert 'output_sent{label="",path="root.output"} 40.0' in text and "output_sent_total" not in text
    assert 'output_latency_ns_count{label="",path="root.output"} 1.0' in text


def test_tweets_are_shaped_like_the_seed_s(tmp_path: Path) -> None:
    first, second = write(tmp_path / "a.csv"), write(tmp_path / "b.csv")
    assert first.read_bytes() == second.read_bytes(), "the same file every time"
    with first.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 14_640
    assert sum("\n" in r["text"] for r in rows) == MULTILINE
    assert {r["airline_sentiment"] for r in rows} == {"negative", "neutral", "positive"}
