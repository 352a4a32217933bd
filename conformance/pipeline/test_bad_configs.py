"""Configs `kproof pipeline` cannot run fail fast, before anything is read or written, with a message that
names the component or field and its line; an unreachable database fails the run at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conformance.pipeline.support import CONFIGS, run_command

SEED_BATCH = (CONFIGS / "benthos_batch.yaml").read_text()


@pytest.mark.spec("SHOULD", "stable", source="kproof")
@pytest.mark.parametrize(("change", "named"), [
    (("  sql_select:", "  kafka:"), "input.kafka (line 6): kproof pipeline does not run the input `kafka`"),
    (("bloblang: root.text = this.text", "bloblang: root.text = this.text.uppercase()"),
     "pipeline.processors[0].bloblang (line 17): bloblang line 17, column 32: methods and functions are not"),
    (("    verb: POST", "    verb: POST\n        tls: {enabled: true}"),
     "pipeline.processors[1].http.tls (line 21): kproof pipeline does not support the field `tls`"),
    (("shutdown_timeout: 3s", "shutdown_timeout: 3s\ncache_resources: []"),
     "cache_resources (line 46): kproof pipeline does not support the section"),
])
def test_unsupported_configs_are_refused_with_their_line(tmp_path: Path, change: tuple[str, str], named: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(SEED_BATCH.replace(*change))
    started = time.monotonic()
    result = run_command(config, {})
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in " ".join(result.stdout.split()), result.stdout
    print(f"\nrefused in {time.monotonic() - started:.1f}s: {result.stdout.strip()}")


@pytest.mark.spec("SHOULD", "stable", source="kproof")
def test_an_unset_variable_without_a_default_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(SEED_BATCH.replace("${SENTIMENT_URL:http://benthos-vader.default.127.0.0.1.sslip.io/post}",
                                         "${SENTIMENT_URL}"))
    result = run_command(config, {})
    assert result.returncode == 2 and "environment variable SENTIMENT_URL is not set" in result.stdout


@pytest.mark.spec("SHOULD", "stable", source="kproof")
def test_an_unreachable_database_fails_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_command(CONFIGS / "benthos_batch.yaml",
                         {"POSTGRES_DSN": "postgres://postgres@127.0.0.1:9/postgres?sslmode=disable&connect_timeout=5"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "127.0.0.1" in result.stdout and "9" in result.stdout
    assert time.monotonic() - started < 60
