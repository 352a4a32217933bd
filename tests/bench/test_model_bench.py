"""The model servers' hot paths, each as a ratio measured in one run:
- dynamic batching: the intent server's throughput with KServe-style batching against without, at the
  same concurrency (GPU-FACTS measured 4.1x from batching alone on this kind of CPU; on a GPU, >= 5x);
- warm starts: the first answer from zero for the intent service (its model on a volume), without and
  with ACK's reserved instance; p50 over a few fresh Services each."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from conformance.ai.support import claims_allowed, intent_service, prepare_models
from conformance.helpers import eventually
from kproof.target import Target, pod_is_ready

CONCURRENCY = 32
REQUESTS = 640
TEXTS = ["play the new album by daft punk", "what's the forecast for rome this weekend",
         "book a table for six at a steakhouse", "add this song to my evening chill list"]
COLD_STARTS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _throughput(url: str) -> float:
    """Requests a second at CONCURRENCY clients, each asking the v1 endpoint about one text."""
    sent = iter(range(REQUESTS))

    async def client(session: aiohttp.ClientSession) -> None:
        for i in sent:
            async with session.post(url, json={"instances": [TEXTS[i % len(TEXTS)]]}) as answer:
                assert answer.status == 200
                await answer.read()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(CONCURRENCY)))
        return REQUESTS / (time.perf_counter() - started)


def _serve(model_dir: Path, batching: bool) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "MODEL_DIR": str(model_dir), "PORT": str(port), "KPROOF_BIND": "127.0.0.1"}
    if batching:
        env.update(BATCHER_MAX_BATCH_SIZE=str(CONCURRENCY), BATCHER_MAX_LATENCY="10")
    process = subprocess.Popen([sys.executable, "-m", "reference.apps.intent"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/models/intent:predict"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the intent server did not start")


def test_batching_throughput(benchmark, model_dir: Path) -> None:
    def measure() -> tuple[float, float]:
        rates = []
        for batching in (False, True):
            process, url = _serve(model_dir, batching)
            try:
                asyncio.run(_throughput(url))  # warm up
                rates.append(asyncio.run(_throughput(url)))
            finally:
                process.terminate()
                process.wait(30)
        return rates[0], rates[1]

    plain, batched = benchmark.pedantic(measure, rounds=1, iterations=1)
    print(f"\nintent server, {CONCURRENCY} concurrent clients: {plain:.0f} requests/s one at a time, "
          f"{batched:.0f} requests/s batched (maxBatchSize {CONCURRENCY}, maxLatency 10 ms): "
          f"{batched / plain:.1f}x")


def _first_answer(target: Target, namespace: str, name: str, annotations: dict[str, str]) -> float:
    """Seconds to the first answer of a fresh Service that starts at zero (only a reserved replica, if any)."""
    target.apply(intent_service(name, namespace, "ghcr.io/kproof/intent", cc=1, gpu=False, annotations={
        "autoscaling.knative.dev/initial-scale": "0", **annotations}))
    target.wait_for("serving.knative.dev/v1", "Service", name, namespace, timeout=120)
    if annotations:
        eventually(lambda: any(pod_is_ready(p) for p in target.list(
            "v1", "Pod", namespace, label_selector=f"serving.knative.dev/service={name}")), 120, "reserved ready")
    started = time.monotonic()
    assert target.http(name, "/predict?query=music", namespace=namespace, timeout=120).text == "PlayMusic"
    return time.monotonic() - started


def test_cold_start_with_and_without_a_reserved_instance(benchmark, reference_target: Target) -> None:
    target, namespace = reference_target, "default"
    # Services that start at zero: each first request is a cold start (or meets the reserved replica).
    target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"allow-zero-initial-scale": "true"}},
                 "knative-serving")

    def measure() -> tuple[list[float], list[float]]:
        prepare_models(target, namespace, "ghcr.io/kproof/models")
        with claims_allowed(target):
            cold = [_first_answer(target, namespace, f"cold-{i}", {}) for i in range(COLD_STARTS)]
            warm = [_first_answer(target, namespace, f"warm-{i}", {"knative.aliyun.com/reserve-instance": "enable"})
                    for i in range(COLD_STARTS)]
        return cold, warm

    cold, warm = benchmark.pedantic(measure, rounds=1, iterations=1)
    p50_cold, p50_warm = statistics.median(cold), statistics.median(warm)
    print(f"\nintent service, first answer from zero (model from a volume), p50 of {COLD_STARTS}: "
          f"{p50_cold:.2f}s without a reserved instance, {p50_warm:.3f}s with one ({p50_cold / p50_warm:.0f}x)")
