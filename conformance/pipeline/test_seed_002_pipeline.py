"""Seed 002's pull-based pipeline: the demo's populate config fills SOURCE from Tweets.csv; the demo's
batch config reads SOURCE, calls the sentiment Service with `threads` requests in flight and writes
SINK. No row is lost or written twice, the scores are VADER's, and more threads scale the Service out
further and drain faster.

The batch runs over KPROOF_PIPELINE_ROWS rows (5,000 unless set; 14,640 is the demo's whole file)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from conformance.ai.support import KSVC, fixture
from conformance.helpers import log
from conformance.pipeline.support import (
    CONFIGS,
    carrying_the_id,
    execute,
    metric,
    query,
    run_command,
    run_config,
)
from kproof.pipeline.tweets import ROWS, write
from kproof.target import Target
from load.runner import ReplicaWatcher

BATCH_ROWS = int(os.environ.get("KPROOF_PIPELINE_ROWS", "5000"))


def _populate(database: str, tmp_path: Path, rows: int) -> None:
    write(tmp_path / "Tweets.csv", rows)
    report = run_config((CONFIGS / "benthos_populate_db.yaml").read_text(), tmp_path, {"POSTGRES_DSN": database})
    assert report.ok, report.reasons


@pytest.mark.spec("SHOULD", "stable", source="seed 002 (Knative autoscaling with Benthos, pull-based): the populate "
                  "job fills SOURCE from Tweets.csv")
@pytest.mark.quick
def test_populate_fills_source_with_every_row(database: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _populate(database, tmp_path, ROWS)
    ((count, multiline),) = query(database, "SELECT count(*), count(*) FILTER (WHERE text LIKE '%' || chr(10) || "
                                            "'%') FROM SOURCE")
    log(capsys, f"populate: {count} rows in SOURCE, {multiline} of them with line breaks")
    assert count == ROWS and multiline == 138


@pytest.mark.spec("SHOULD", "stable", source="seed 002 (Knative autoscaling with Benthos, pull-based): the batch job "
                  "calls the Service with N requests in flight; more in flight, more replicas")
def test_batch_with_one_then_six_threads(target: Target, namespace: str, database: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    _populate(database, tmp_path, BATCH_ROWS)
    with_ids = carrying_the_id((CONFIGS / "benthos_batch.yaml").read_text())
    execute(database, "ALTER TABLE SINK ADD COLUMN ID INTEGER")
    target.apply(fixture("seed-002/benthos-vader.yaml", namespace))
    target.wait_for(*KSVC, "benthos-vader", namespace, timeout=120)
    env = {"POSTGRES_DSN": database, "HTTP_PROXY": target.ingress, "http_proxy": target.ingress,
           "SENTIMENT_URL": f"http://{target.service_host('benthos-vader', namespace)}/post"}
    expected = {row_id: SentimentIntensityAnalyzer().polarity_scores(text)
                for row_id, text in query(database, "SELECT id, text FROM SOURCE")}
    runs = {}
    for threads in (1, 6):
        execute(database, "TRUNCATE SINK")
        with ReplicaWatcher(target, namespace, "benthos-vader") as watcher:
            started = time.monotonic()
            report = run_config(with_ids, tmp_path, {**env, "PIPELINE_THREADS": str(threads)})
            seconds = time.monotonic() - started
        assert report.ok, report.reasons
        written = query(database, "SELECT id, compound, negative, neutral, positive FROM SINK")
        assert len(written) == len(expected) == report.written, "one SINK row per SOURCE row"
        assert {row[0] for row in written} == set(expected), "no row lost, none written twice"
        for row_id, compound, negative, neutral, positive in written:
            scores = expected[row_id]
            assert (compound, negative, neutral, positive) == (scores["compound"], scores["neg"], scores["neu"],
                                                               scores["pos"])
        assert metric(report.metrics, "output_sent") == report.written
        assert metric(report.metrics, "input_received") == len(expected)
        runs[threads] = (max((s.ready for s in watcher.samples), default=0), seconds)
    log(capsys, f"seed 002 batch, {len(expected)} rows: threads 1 drained in {runs[1][1]:.1f}s with up to {runs[1][0]} "
          f"ready replicas; threads 6 in {runs[6][1]:.1f}s with up to {runs[6][0]}")
    assert runs[6][0] > runs[1][0], "more requests in flight, more replicas (metric rps)"
    assert runs[6][1] < runs[1][1], "and the rows drain faster"


@pytest.mark.spec("SHOULD", "stable", source="kproof")
def test_a_row_the_service_refuses_is_reported_and_not_written(target: Target, namespace: str, database: str,
                                                              tmp_path: Path) -> None:
    _populate(database, tmp_path, 20)
    target.apply(fixture("seed-002/benthos-vader.yaml", namespace))
    target.wait_for(*KSVC, "benthos-vader", namespace, timeout=120)
    doc = yaml.safe_load((CONFIGS / "benthos_batch.yaml").read_text())
    doc["pipeline"]["processors"][0]["bloblang"] = "root.words = this.text"  # not what the service reads
    config = tmp_path / "refused.yaml"
    config.write_text(yaml.safe_dump(doc))
    result = run_command(config, {"POSTGRES_DSN": database, "HTTP_PROXY": target.ingress,
                                  "SENTIMENT_URL": f"http://{target.service_host('benthos-vader', namespace)}/post"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "20 read, 0 written, 20 failed" in result.stdout and "HTTP 400" in result.stdout
    assert query(database, "SELECT count(*) FROM SINK") == [(0,)]
