"""Seed 002's batch job through a Knative Service on the reference against the same job calling the
app's replica directly: rows a second, and their ratio, in one run."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from conformance.ai.support import KSVC, fixture
from conformance.pipeline.support import CONFIGS, execute, run_config, tables
from kproof.pipeline.tweets import write
from kproof.target import Target
from tests.bench.test_dataplane_overhead import _ready_pod_address

ROWS = 3000
THREADS = 6


def test_pipeline_through_the_service_against_direct(benchmark, reference_target: Target, postgres_dsn: str,
                                                     tmp_path: Path) -> None:
    target = reference_target
    name = f"kproof_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    dsn = urlunsplit(urlsplit(postgres_dsn)._replace(path=f"/{name}"))
    tables(dsn)
    write(tmp_path / "Tweets.csv", ROWS)
    assert run_config((CONFIGS / "benthos_populate_db.yaml").read_text(), tmp_path, {"POSTGRES_DSN": dsn}).ok
    docs = fixture("seed-002/benthos-vader.yaml", "default")
    docs[1]["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] = "1"
    docs[1]["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"] = "1"
    target.apply(docs)
    target.wait_for(*KSVC, "benthos-vader", "default", timeout=120)
    direct_url = _ready_pod_address(target, "default", "benthos-vader") + "/post"
    batch = (CONFIGS / "benthos_batch.yaml").read_text()

    def both() -> tuple[float, float]:
        rates = []
        for url, proxy in ((direct_url, None),
                           (f"http://{target.service_host('benthos-vader', 'default')}/post", target.ingress)):
            execute(dsn, "TRUNCATE SINK")
            env = {"POSTGRES_DSN": dsn, "SENTIMENT_URL": url, "PIPELINE_THREADS": str(THREADS)}
            if proxy:
                env.update(HTTP_PROXY=proxy, http_proxy=proxy)
            report = run_config(batch, tmp_path, env)
            assert report.ok, report.reasons
            rates.append(report.written / report.seconds)
        return rates[0], rates[1]

    direct, through = benchmark.pedantic(both, rounds=1, iterations=1)
    print(f"\nseed 002 batch, {ROWS} rows, {THREADS} threads, one replica: {direct:.0f} rows/s calling the app "
          f"directly, {through:.0f} rows/s through the Knative Service ({through / direct:.2f} of direct)")
