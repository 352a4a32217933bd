"""API throughput: create+get pairs through the kubernetes client, against raw HTTP and in-process calls.

Prints the pairs per second of each path and their ratios, all measured in one run.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

import requests
from kubernetes import client

from kproof.target import Target
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store

PAIRS = 300
counter = itertools.count()


def _config_map(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v" * 64}}


def _rate(pairs: int, run: Callable[[int], None]) -> float:
    start = time.perf_counter()
    for _ in range(pairs):
        run(next(counter))
    return pairs / (time.perf_counter() - start)


def test_create_get_throughput(benchmark, reference_target: Target) -> None:
    core = client.CoreV1Api(reference_target.api)

    def through_client(i: int) -> None:
        core.create_namespaced_config_map("default", _config_map(f"c{i}"))
        core.read_namespaced_config_map(f"c{i}", "default")

    conf = reference_target.api.configuration
    session = requests.Session()
    session.headers["Authorization"] = conf.api_key["BearerToken"]
    ca = conf.ssl_ca_cert  # per request: REQUESTS_CA_BUNDLE would override a session-wide setting
    base = f"{conf.host}/api/v1/namespaces/default/configmaps"

    def raw_http(i: int) -> None:
        session.post(base, data=json.dumps(_config_map(f"r{i}")), verify=ca).raise_for_status()
        session.get(f"{base}/r{i}", verify=ca).raise_for_status()

    registry = Registry(Store())
    bootstrap(registry)
    configmaps = registry.kinds.by_path("", "v1", "configmaps")

    def in_process(i: int) -> None:
        registry.create(configmaps, "default", _config_map(f"p{i}"))
        registry.get_text(configmaps, "default", f"p{i}")

    benchmark.pedantic(lambda: through_client(next(counter)), rounds=50, iterations=1)
    client_rate = _rate(PAIRS, through_client)
    raw_rate = _rate(PAIRS, raw_http)
    process_rate = _rate(PAIRS, in_process)
    benchmark.extra_info.update(client=client_rate, raw_http=raw_rate, in_process=process_rate)
    print(f"\ncreate+get pairs/s: kubernetes client {client_rate:.0f}, raw HTTP {raw_rate:.0f}, "
          f"in-process registry {process_rate:.0f}")
    print(f"ratio kubernetes client / raw HTTP: {client_rate / raw_rate:.2f}; "
          f"HTTP / in-process: {raw_rate / process_rate:.3f}")
    assert client_rate > 0 and raw_rate > 0
