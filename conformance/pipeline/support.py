"""Seed 002's pipeline for the tests: a fresh database with the demo's tables, Tweets.csv, and the
demo's configs run by `kproof pipeline`'s runner (in process) or its command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import yaml

from kproof.pipeline.config import read_config
from kproof.pipeline.runner import RunReport, run

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "fixtures" / "pipeline"


def tables(dsn: str) -> None:
    execute(dsn, (CONFIGS / "tables.sql").read_text())


def execute(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(statement)


def query(dsn: str, statement: str) -> list[tuple]:
    with psycopg.connect(dsn) as connection:
        return connection.execute(statement).fetchall()


def run_config(text: str, cwd: Path, env: dict[str, str]) -> RunReport:
    """Runs a config in `cwd` (where its CSV paths point) with `env` for ${...} and proxies."""
    previous = dict(os.environ)
    here = Path.cwd()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        return asyncio.run(run(read_config(text, env=dict(os.environ))))
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(previous)


def run_command(config: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kproof", "pipeline", "-c", str(config)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env}, cwd=ROOT)


def carrying_the_id(batch_config: str) -> str:
    """The demo's batch config with the source row's id carried through to SINK (as metadata), so that
    every row can be matched: exactly one SINK row per SOURCE row."""
    doc = yaml.safe_load(batch_config.replace("${PIPELINE_THREADS:1}", "${PIPELINE_THREADS}"))
    doc["pipeline"]["processors"][0]["bloblang"] = "meta id = this.id\nroot.text = this.text"
    output = doc["output"]["sql_insert"]
    output["columns"].append("ID")
    output["args_mapping"] = "root = [this.Compound, this.Negative, this.Neutral, this.Positive, @id]"
    return yaml.safe_dump(doc, sort_keys=False)


def metric(text: str, name: str) -> float:
    """The sum of a metric's samples in Prometheus text."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))
